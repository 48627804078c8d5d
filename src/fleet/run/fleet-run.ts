/**
 * Fleet mode: one SSH connection and one agent exec per host (two on a host's first run, when the
 * agent is sent), fanned out with bounded concurrency. Each host ends with one HostResult.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { StapctlError, type SerializedError } from '../../errors.js';
import { EXIT_CODE, outcomeOf } from '../../exit-code.js';
import type { ServiceRequest } from '../../service/engine.js';
import type { ActionReport } from '../../service/report.js';
import { AGENT_PROTOCOL, runAgent, sudo, type AgentBundle, type AgentRequest, type AgentResponse, type ProvisionTask } from '../agent/contract.js';
import type { ApplyReport } from '../../provision/apply.js';
import type { TrustReport } from '../../provision/client-trust.js';
import type { EndpointReport } from '../../provision/endpoint-facts.js';
import { fanOut, type FinalState, type Progress } from './fan-out.js';
import type { HostEntry } from '../targets/inventory.js';
import { KnownHostsFiles } from '../ssh/known-hosts.js';
import { IdentityFiles } from '../ssh/auth.js';
import { expandTilde, parseProxyJump, resolveSshConfig, SshConfigFiles, type HostKeyPolicy, type SshHostConfig } from '../ssh/config.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type HostRoute } from '../ssh/host-route.js';
import { JumpHosts, type ExecResult, type SshSession } from '../ssh/transport.js';
import type { TransportName } from '../ssh/transport-names.js';
import { openFleetTransport, type FleetTransport } from './fleet-transport.js';
import { FACTS_COMMAND } from '../facts/facts-command.js';
import { factsCanAnswer, statusFromFacts } from '../facts/status-from-facts.js';
import { sanitizeDeep } from '../../sanitize.js';
import { VERSION } from '../../version.js';

/** How much longer than --timeout a host may take while its remote agent is being stopped. */
const BACKSTOP_GRACE_MS = 5_000;

export interface FleetSettings {
  identity?: string;
  knownHosts?: string;
  /** Undefined: StrictHostKeyChecking of the ssh config, else strict. */
  hostKeyCheck?: HostKeyPolicy;
  /** Undefined: ConnectTimeout of the ssh config, else 10 s. */
  connectTimeoutMs?: number;
  timeoutMs: number;
  forks: number;
  /** Undefined: ssh2. */
  transport?: TransportName;
}

export interface HostResult {
  host: string;
  address: string;
  state: FinalState;
  durationMs: number;
  /** What the host calls itself (from the agent). */
  hostname?: string;
  report?: ActionReport;
  /** The answer to a provisioning task (apply, endpoints, trust). */
  answer?: ProvisionAnswer;
  /** Why the host could not be asked, or why its agent failed. */
  error?: SerializedError;
  warnings: string[];
}

export interface SshEnvironment {
  /** The controller's environment: PATH and XDG_RUNTIME_DIR for --transport openssh. */
  env: NodeJS.ProcessEnv;
  home: string;
  localUser: string;
  agentSocket?: string;
  sshConfigFiles: string[];
  /** Read once per run: every host resolves against the same config, identity and known_hosts files. */
  configFiles: SshConfigFiles;
  identityFiles: IdentityFiles;
  knownHosts: KnownHostsFiles;
  /** ProxyJump hosts: one connection each for all the hosts behind them. */
  jumps: JumpHosts;
}

export function sshEnvironment(env: NodeJS.ProcessEnv = process.env): SshEnvironment {
  const home = env.HOME || homedir();
  return {
    env,
    home,
    localUser: userInfo().username,
    ...(env.SSH_AUTH_SOCK && { agentSocket: env.SSH_AUTH_SOCK }),
    sshConfigFiles: [join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'],
    configFiles: new SshConfigFiles(),
    identityFiles: new IdentityFiles(),
    knownHosts: new KnownHostsFiles(),
    jumps: new JumpHosts(),
  };
}

/** The connection settings of a host: inventory first, then ~/.ssh/config, then ssh's defaults. */
export function hostSshConfig(entry: Pick<HostEntry, 'name' | 'address' | 'port' | 'user'>, ssh: SshEnvironment): SshHostConfig {
  return resolveSshConfig(entry.name, {
    files: ssh.sshConfigFiles,
    home: ssh.home,
    localUser: ssh.localUser,
    overrides: {
      ...(entry.address !== entry.name && { hostName: entry.address }),
      ...(entry.user !== undefined && { user: entry.user }),
      ...(entry.port !== undefined && { port: entry.port }),
    },
  }, ssh.configFiles);
}

/** Where and as whom a host is reached: `stapctl hosts` shows what a run would use. */
export interface HostEndpoint {
  address: string;
  port: number;
  user: string;
  proxyJump?: string;
}

export function hostEndpoint(config: SshHostConfig, ssh: SshEnvironment): HostEndpoint {
  return {
    address: config.hostName,
    port: config.port ?? 22,
    user: config.user ?? ssh.localUser,
    ...(config.proxyJump && config.proxyJump !== 'none' && { proxyJump: config.proxyJump }),
  };
}

interface RouteOptions {
  /** The host's ssh config when the caller has it already (for its warnings); else read here. */
  config?: SshHostConfig;
  /** How many ProxyJump hops lead to this host: a chain longer than 8 is taken for a loop. */
  depth?: number;
}

/**
 * How a host is reached, from the inventory, the options and ~/.ssh/config; hops of a ProxyJump
 * chain are resolved the same way, each by its own name.
 */
function hostRoute(entry: Pick<HostEntry, 'name' | 'address' | 'port' | 'user' | 'identityFile'>, settings: FleetSettings, ssh: SshEnvironment, options: RouteOptions = {}): HostRoute {
  const { config = hostSshConfig(entry, ssh), depth = 0 } = options;
  const { address, port, user, proxyJump } = hostEndpoint(config, ssh);
  const knownHostsFiles = settings.knownHosts
    ? [settings.knownHosts]
    : [...(config.userKnownHostsFiles ?? [join(ssh.home, '.ssh', 'known_hosts')]), '/etc/ssh/ssh_known_hosts'];
  const route: HostRoute = {
    host: entry.name,
    address,
    port,
    user,
    identities: [
      ...(entry.identityFile ? [{ file: expandTilde(entry.identityFile, ssh.home), origin: 'inventory' as const }] : []),
      ...(settings.identity ? [{ file: expandTilde(settings.identity, ssh.home), origin: 'option' as const }] : []),
      ...config.identityFiles.map((file) => ({ file, origin: 'ssh-config' as const })),
    ],
    identitiesOnly: config.identitiesOnly,
    // The options (flags, STAPCTL_* variables, stapctl's config file) win over ~/.ssh/config.
    hostKeyPolicy: settings.hostKeyCheck ?? config.strictHostKeyChecking ?? 'strict',
    knownHostsFiles,
    ...(config.hostKeyAlias && { hostKeyAlias: config.hostKeyAlias }),
    connectTimeoutMs: settings.connectTimeoutMs ?? config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(config.proxyCommand && { proxyCommand: config.proxyCommand }),
  };
  if (proxyJump === undefined) return route;
  if (depth >= 8) throw new StapctlError('SSH_CONFIG_INVALID', `ProxyJump of ${entry.name} loops`, { host: entry.name, hint: 'check the ProxyJump chain in ~/.ssh/config' });
  // Hops are connected first to last; each later hop goes through the one before it.
  let previous: HostRoute | undefined;
  for (const hop of parseProxyJump(proxyJump)) {
    const hopRoute = hostRoute({ name: hop.host, address: hop.host, port: hop.port, user: hop.user }, settings, ssh, { depth: depth + 1 });
    previous = previous ? { ...hopRoute, proxyJump: previous } : hopRoute;
  }
  return previous ? { ...route, proxyJump: previous } : route;
}

type HostOutcome = Omit<HostResult, 'state' | 'durationMs'>;

type ProvisionAnswer = ApplyReport | EndpointReport | TrustReport;

/** Runs the request on one host. Never throws: a host's failure, even a bug, is in its result. */
async function runOnHost(entry: HostEntry, request: ServiceRequest | ProvisionTask, bundle: AgentBundle, settings: FleetSettings, ssh: SshEnvironment, transport: FleetTransport, signal?: AbortSignal): Promise<HostOutcome> {
  const base = { host: entry.name, address: entry.address };
  if (signal?.aborted) return { ...base, error: interrupted(entry.name).toJSON(), warnings: [] };
  const deadline = Date.now() + settings.timeoutMs;
  let session: SshSession | undefined;
  let abandoned = false;
  // What the ssh config could not evaluate (`Match exec`): the user hears of it with the results.
  const configWarnings: string[] = [];
  const agentWarnings: string[] = [];
  const guard = hostGuard(entry.name, settings.timeoutMs, () => session !== undefined, signal);
  const work = (async () => {
    const config = hostSshConfig(entry, ssh);
    configWarnings.push(...config.warnings);
    const route = hostRoute(entry, settings, ssh, { config });
    const connected = await transport.connect({ ...route, connectTimeoutMs: Math.min(route.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, Math.max(1, deadline - Date.now())) });
    if (abandoned) {
      connected.close();
      throw interrupted(entry.name);
    }
    session = connected;
    const toAgent = agentRequest(entry, request);
    const fromFacts = 'kind' in toAgent.request ? undefined : await answerFromFacts(connected, toAgent.request, entry, Math.max(1, deadline - Date.now()), signal);
    if (fromFacts !== undefined) return { response: fromFacts, warnings: [...configWarnings, ...connected.warnings] };
    const response = await runAgent(connected, entry.name, toAgent, {
      bundle,
      deadline,
      ...(entry.become && { become: sudo }),
      ...(signal && { signal }),
      warn: (message) => agentWarnings.push(message),
    });
    return { response, warnings: [...configWarnings, ...connected.warnings, ...agentWarnings] };
  })();
  // Once the guard has won, a later failure of the abandoned work must not go unhandled.
  work.catch(() => undefined);
  try {
    const { response, warnings } = await Promise.race([work, guard.expired]);
    const hostname = response.hostname;
    if ('error' in response) return { ...base, hostname, error: response.error, warnings };
    if ('report' in response) return { ...base, hostname, report: response.report, warnings };
    const answer = 'apply' in response ? response.apply : 'endpoints' in response ? response.endpoints : response.trust;
    return { ...base, hostname, answer, warnings };
  } catch (error) {
    return { ...base, error: hostError(entry.name, error, settings.timeoutMs), warnings: [...configWarnings, ...(session?.warnings ?? [])] };
  } finally {
    abandoned = true;
    guard.dispose();
    session?.close();
  }
}

/**
 * A read-only request answered from the host's facts, without starting Node there; undefined when
 * the agent must answer (the facts did not cover it, or the command failed or printed too much).
 */
async function answerFromFacts(session: SshSession, request: ServiceRequest, entry: HostEntry, timeoutMs: number, signal: AbortSignal | undefined): Promise<AgentResponse | undefined> {
  if (!factsCanAnswer(request, entry.become)) return undefined;
  let facts: ExecResult;
  try {
    facts = await session.exec(FACTS_COMMAND, { timeoutMs, ...(signal && { signal }) });
  } catch (error) {
    if (error instanceof StapctlError && error.code === 'OUTPUT_TOO_LARGE') return undefined;
    throw error;
  }
  if (facts.code !== 0) return undefined;
  const answer = await statusFromFacts(request, facts.stdout, entry.name);
  if (answer === undefined) return undefined;
  // What the host's files say reaches the views exactly as an agent's answer does: cleaned.
  return sanitizeDeep({ protocol: AGENT_PROTOCOL, version: VERSION, ...answer }) as AgentResponse;
}

function agentRequest(entry: HostEntry, request: ServiceRequest | ProvisionTask): AgentRequest {
  const serverUser = !('kind' in request) || request.kind === 'apply' ? entry.serverUser : undefined;
  return {
    protocol: AGENT_PROTOCOL,
    request: { ...request, ...(entry.root && { root: entry.root }), ...(serverUser && { serverUser }) },
  };
}

/**
 * Bounds what has no deadline of its own (connecting). A running command stops its
 * remote agent itself on timeout or interrupt, so for it the guard fires only later, as a
 * backstop; while connecting, an interrupt ends the host at once.
 */
function hostGuard(host: string, timeoutMs: number, connected: () => boolean, signal: AbortSignal | undefined) {
  const timers: NodeJS.Timeout[] = [];
  let onAbort = () => {};
  const expired = new Promise<never>((_, reject) => {
    const timeout = new StapctlError('HOST_TIMEOUT', `no answer within ${timeoutMs / 1000} s`, { host, hint: 'raise --timeout, or check the host' });
    timers.push(setTimeout(() => reject(timeout), timeoutMs + BACKSTOP_GRACE_MS));
    onAbort = () => {
      if (connected()) timers.push(setTimeout(() => reject(interrupted(host)), BACKSTOP_GRACE_MS));
      else reject(interrupted(host));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  expired.catch(() => undefined);
  return {
    expired,
    dispose: () => {
      timers.forEach(clearTimeout);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

function interrupted(host: string): StapctlError {
  return new StapctlError('INTERRUPTED', 'interrupted before this host finished', { host, hint: 'run the action again on this host' });
}

/** A StapctlError is the host's failure as it is; anything else is a bug, kept to this host. */
/**
 * A host's failure as data. A timeout names the --timeout the user gave: the transport that
 * stopped the command knows only the part of it that was left once the host was connected.
 */
export function hostError(host: string, error: unknown, timeoutMs: number): SerializedError {
  if (error instanceof StapctlError && error.code === 'HOST_TIMEOUT') {
    return { ...error.toJSON(), message: `${host}: did not finish within --timeout ${timeoutMs / 1000} s and was stopped`, host };
  }
  if (error instanceof StapctlError) return { ...error.toJSON(), host };
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: 'INTERNAL',
    message: `internal error (a bug, please report it): ${message}`,
    host,
    ...(error instanceof Error && error.stack !== undefined && { detail: error.stack }),
  };
}

export function classify(action: string, result: HostOutcome): FinalState {
  if (result.error && outcomeOf(result.error) === 'interrupted') return 'interrupted';
  if (result.error) return outcomeOf(result.error) === 'unreachable' ? 'unreachable' : 'failed';
  const exitCode = result.report?.exitCode ?? result.answer?.exitCode ?? EXIT_CODE.failed;
  if (exitCode === EXIT_CODE.ok) return 'ok';
  if (action === 'status' && exitCode === EXIT_CODE['not-running']) return 'not-running';
  return 'failed';
}

export async function runFleet(
  hosts: readonly HostEntry[],
  request: ServiceRequest,
  bundle: AgentBundle,
  settings: FleetSettings,
  onProgress?: (progress: Progress) => void,
  ssh: SshEnvironment = sshEnvironment(),
  signal?: AbortSignal,
): Promise<HostResult[]> {
  const transport = await openFleetTransport(settings.transport ?? 'ssh2', ssh);
  const finished = await fanOut(hosts, (entry) => runOnHost(entry, request, bundle, settings, ssh, transport, signal), {
    forks: settings.forks,
    classify: (result) => classify(request.action, result),
    ...(onProgress && { onChange: onProgress }),
  }).finally(() => transport.close());
  return finished.map(({ state, durationMs, result }) => ({ ...result, state, durationMs }));
}

/** How to reach hosts for a provisioning task. */
export interface AskSettings {
  bundle: AgentBundle;
  settings: FleetSettings;
  ssh: SshEnvironment;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface AgentAnswerResult<T> extends Omit<HostResult, 'report' | 'answer'> {
  answer?: T;
}

/**
 * One provisioning task per host (its own servers for apply), fanned out as runFleet does. A
 * host is ok when its agent answered with exit code 0.
 */
export async function askHosts<T extends ProvisionAnswer>(hosts: readonly HostEntry[], taskFor: (host: HostEntry) => ProvisionTask, run: AskSettings): Promise<AgentAnswerResult<T>[]> {
  const transport = await openFleetTransport(run.settings.transport ?? 'ssh2', run.ssh);
  const finished = await fanOut(hosts, (entry) => runOnHost(entry, taskFor(entry), run.bundle, run.settings, run.ssh, transport, run.signal), {
    forks: run.settings.forks,
    classify: (result) => classify('provision', result),
    ...(run.onProgress && { onChange: run.onProgress }),
  }).finally(() => transport.close());
  return finished.map(({ state, durationMs, result: { report: _report, answer, ...result } }) => ({ ...result, state, durationMs, ...(answer && { answer: answer as T }) }));
}
