/**
 * Fleet mode: one SSH connection and one agent exec per host (two on a host's first run, when the
 * agent is uploaded), fanned out with bounded concurrency. Each host ends with one HostResult.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { AgentRequest, AgentResponse } from '../../agent.js';
import { AGENT_PROTOCOL } from '../../agent.js';
import { StapctlError, type SerializedError } from '../../errors.js';
import { EXIT_CODE, outcomeOf } from '../../exit-code.js';
import type { ServiceRequest } from '../../service/engine.js';
import type { ActionReport } from '../../service/report.js';
import { AGENT_MISSING, agentCommand, agentKillCommand, NODE_MISSING, type AgentBundle } from '../agent/deploy.js';
import { fanOut, type FinalState, type Progress } from './fan-out.js';
import type { HostEntry } from '../targets/inventory.js';
import { sanitizeDeep, stripTerminalEscapes } from '../../sanitize.js';
import { KnownHostsFiles } from '../ssh/known-hosts.js';
import { IdentityFiles, planAuth } from '../ssh/auth.js';
import { parseProxyJump, resolveSshConfig, SshConfigFiles, type HostKeyPolicy, type SshHostConfig } from '../ssh/config.js';
import { connect, JumpHosts, type ConnectOptions, type SshSession } from '../ssh/transport.js';
import { FACTS_COMMAND } from '../facts/facts-command.js';
import { factsCanAnswer, statusFromFacts } from '../facts/status-from-facts.js';
import { VERSION } from '../../version.js';

/** How much longer than --timeout a host may take while its remote agent is being stopped. */
const BACKSTOP_GRACE_MS = 5_000;

export interface FleetSettings {
  identity?: string;
  knownHosts?: string;
  hostKeyCheck: HostKeyPolicy;
  connectTimeoutMs: number;
  timeoutMs: number;
  forks: number;
}

export interface HostResult {
  host: string;
  address: string;
  state: FinalState;
  durationMs: number;
  /** What the host calls itself (from the agent). */
  hostname?: string;
  report?: ActionReport;
  /** Why the host could not be asked, or why its agent failed. */
  error?: SerializedError;
  warnings: string[];
}

export interface SshEnvironment {
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

async function connectOptions(
  entry: Pick<HostEntry, 'name' | 'address' | 'port' | 'user' | 'identityFile'>,
  settings: FleetSettings,
  ssh: SshEnvironment,
  depth = 0,
): Promise<ConnectOptions> {
  const config = hostSshConfig(entry, ssh);
  const user = config.user ?? ssh.localUser;
  const port = config.port ?? 22;
  const expandHome = (file: string) => (file.startsWith('~/') ? join(ssh.home, file.slice(2)) : file);
  const auth = await planAuth({
    ...(ssh.agentSocket && { agentSocket: ssh.agentSocket }),
    identities: [
      ...(entry.identityFile ? [{ file: expandHome(entry.identityFile), origin: 'inventory' as const }] : []),
      ...(settings.identity ? [{ file: expandHome(settings.identity), origin: 'option' as const }] : []),
      ...config.identityFiles.map((file) => ({ file, origin: 'ssh-config' as const })),
    ],
    identitiesOnly: config.identitiesOnly,
    defaultKeyDir: join(ssh.home, '.ssh'),
    host: entry.name,
  }, ssh.identityFiles);
  const knownHostsFiles = settings.knownHosts
    ? [settings.knownHosts]
    : [...(config.userKnownHostsFiles ?? [join(ssh.home, '.ssh', 'known_hosts')]), '/etc/ssh/ssh_known_hosts'];
  const options: ConnectOptions = {
    host: entry.name,
    address: config.hostName,
    port,
    user,
    auth,
    hostKeyPolicy: settings.hostKeyCheck,
    knownHostsFiles,
    ...(config.hostKeyAlias && { hostKeyAlias: config.hostKeyAlias }),
    connectTimeoutMs: settings.connectTimeoutMs,
  };
  if (!config.proxyJump || config.proxyJump === 'none') return options;
  if (depth >= 8) throw new StapctlError('SSH_CONFIG_INVALID', `ProxyJump of ${entry.name} loops`, { host: entry.name, hint: 'check the ProxyJump chain in ~/.ssh/config' });
  // Hops are connected first to last; each later hop goes through the one before it.
  let previous: ConnectOptions | undefined;
  for (const hop of parseProxyJump(config.proxyJump)) {
    const hopOptions: ConnectOptions = await connectOptions({ name: hop.host, address: hop.host, port: hop.port, user: hop.user }, settings, ssh, depth + 1);
    previous = previous ? { ...hopOptions, proxyJump: previous } : hopOptions;
  }
  return previous ? { ...options, proxyJump: previous } : options;
}

/** Runs the request on one host. Never throws for a host's failure: it is in the result. */
async function runOnHost(
  entry: HostEntry,
  request: ServiceRequest,
  bundle: AgentBundle,
  settings: FleetSettings,
  ssh: SshEnvironment,
): Promise<Omit<HostResult, 'state' | 'durationMs'>> {
  const base = { host: entry.name, address: entry.address };
  let session: SshSession | undefined;
  let backstop: NodeJS.Timeout | undefined;
  const deadline = Date.now() + settings.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  // The exec's own deadline stops the remote agent before it gives up; this one only bounds what
  // has no deadline of its own (an upload), and fires later so that the exec's can act first.
  const expired = new Promise<never>((_, reject) => {
    backstop = setTimeout(
      () => reject(new StapctlError('HOST_TIMEOUT', `no answer within ${settings.timeoutMs / 1000} s`, { host: entry.name, hint: 'raise --timeout, or check the host' })),
      settings.timeoutMs + BACKSTOP_GRACE_MS,
    );
  });
  try {
    const work = (async () => {
      const options = await connectOptions(entry, settings, ssh);
      const connected = await connect({ ...options, connectTimeoutMs: Math.min(settings.connectTimeoutMs, remaining()) }, ssh.knownHosts, ssh.jumps);
      session = connected;
      const agentRequest: AgentRequest = {
        protocol: AGENT_PROTOCOL,
        request: { ...request, ...(entry.root && { root: entry.root }), ...(entry.serverUser && { serverUser: entry.serverUser }) },
      };
      const fromFacts = await answerFromFacts(connected, agentRequest.request, entry, remaining());
      if (fromFacts !== undefined) return { response: fromFacts, warnings: connected.warnings };
      const stdin = JSON.stringify(agentRequest);
      const command = agentCommand(bundle, entry.become);
      const killCommand = (processGroup: number) => agentKillCommand(processGroup, entry.become);
      const exec = () => connected.exec(command, { stdin, timeoutMs: remaining(), killCommand });
      let result = await exec();
      if (result.code === AGENT_MISSING) {
        await connected.upload(bundle.localPath, bundle.remotePath, 0o644);
        result = await exec();
      }
      if (result.truncated) {
        throw new StapctlError('AGENT_FAILED', 'the agent printed more than the controller keeps of a host (1 MiB)', { host: entry.name, hint: 'run stapctl on that host to see its output' });
      }
      return { response: agentResponse(entry.name, result.code, result.stdout, result.stderr), warnings: connected.warnings };
    })();
    // Once the backstop has won, a later failure of the abandoned work must not go unhandled.
    work.catch(() => undefined);
    const { response, warnings } = await Promise.race([work, expired]);
    if ('error' in response) return { ...base, hostname: response.hostname, error: response.error, warnings };
    return { ...base, hostname: response.hostname, report: response.report, warnings };
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return { ...base, error: { ...error.toJSON(), host: entry.name }, warnings: session?.warnings ?? [] };
  } finally {
    clearTimeout(backstop);
    session?.close();
  }
}

/**
 * A read-only request answered from the host's facts, without starting Node there; undefined when
 * the agent must answer (the facts did not cover it, or the command failed or printed too much).
 */
async function answerFromFacts(session: SshSession, request: ServiceRequest, entry: HostEntry, timeoutMs: number): Promise<AgentResponse | undefined> {
  if (!factsCanAnswer(request, entry.become)) return undefined;
  const facts = await session.exec(FACTS_COMMAND, { timeoutMs });
  if (facts.code !== 0 || facts.truncated) return undefined;
  const answer = await statusFromFacts(request, facts.stdout, entry.name);
  if (answer === undefined) return undefined;
  // What the host's files say reaches the views exactly as an agent's answer does: cleaned.
  return sanitizeDeep({ protocol: AGENT_PROTOCOL, version: VERSION, ...answer }) as AgentResponse;
}

function agentResponse(host: string, code: number | null, stdout: Buffer, stderr: Buffer): AgentResponse {
  const errText = stripTerminalEscapes(stderr.toString('utf8')).trim();
  if (code === NODE_MISSING) {
    throw new StapctlError('NO_NODE_ON_HOST', 'node is not installed on the host', { host, detail: errText, hint: 'install Node.js 18 or later (Debian: apt-get install nodejs)' });
  }
  const text = stdout.toString('utf8').trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(text.lastIndexOf('\n') + 1));
  } catch {
    const sudo = /sudo: (a password is required|a terminal is required)/.test(errText);
    throw new StapctlError('AGENT_FAILED', sudo ? 'sudo needs a password on this host' : `the agent failed (exit ${code ?? 'by signal'})`, {
      host,
      detail: errText || stripTerminalEscapes(text),
      hint: sudo ? 'allow the login user passwordless sudo for node, or log in as root' : 'run with --verbose for its output',
    });
  }
  const response = sanitizeDeep(parsed) as AgentResponse;
  if (typeof response !== 'object' || response === null || response.protocol !== AGENT_PROTOCOL || !('report' in response || 'error' in response)) {
    throw new StapctlError('AGENT_PROTOCOL', 'the agent answered something else than a stapctl response', { host, detail: errText, hint: 'the host may run another stapctl version' });
  }
  return response;
}

export function classify(action: string, result: Omit<HostResult, 'state' | 'durationMs'>): FinalState {
  if (result.error) return outcomeOf(result.error) === 'unreachable' ? 'unreachable' : 'failed';
  const exitCode = result.report?.exitCode ?? EXIT_CODE.failed;
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
): Promise<HostResult[]> {
  const finished = await fanOut(hosts, (entry) => runOnHost(entry, request, bundle, settings, ssh), {
    forks: settings.forks,
    classify: (result) => classify(request.action, result),
    ...(onProgress && { onChange: onProgress }),
  }).finally(() => ssh.jumps.close());
  return finished.map(({ state, durationMs, result }) => ({ ...result, state, durationMs }));
}
