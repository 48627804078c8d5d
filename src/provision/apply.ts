/**
 * `apply` on one host: the conf.d files of the declared servers are written, the managed files no
 * longer declared removed, then the servers are started, restarted or stopped through the engine,
 * by nickname, so that apply does exactly what `stapctl start -n NICK` and `stop -n NICK` do.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isMissingFile, StapctlError, type SerializedError } from '../errors.js';
import { loadGlobalConfig } from '../service/config-file.js';
import { runService } from '../service/engine.js';
import { ensureDirectory, readCheckedFile, removeIfPresent, UntrustedFile, writeFileAtomically, type Trust } from '../service/file-trust.js';
import { withLock } from '../service/lock.js';
import { defaultPaths, withGlobalConfig, type ServicePaths } from '../service/paths.js';
import { isServerProcess, readProcess } from '../service/proc.js';
import type { ActionReport, StartStep, StopStep } from '../service/report.js';
import type { ServerSpec } from '../service/server-spec.js';
import { readStatusFiles } from '../service/status-file.js';
import { byteOrder } from '../service/system.js';
import { DEFAULT_SERVER_USER, homeOf, lookupGroup, lookupUser, SERVER_GROUP } from '../service/users.js';
import { planApply, planChangesSomething, type PlannedServer } from './apply-plan.js';
import { unportable } from './managed-config.js';

export interface ApplyRequest {
  /** The declared servers of this host, checked on the controller. */
  servers: ServerSpec[];
  /** Plan only: nothing is written, started or stopped. */
  check: boolean;
  root?: string;
  /** The inventory's stapctl_server_user: the default user of the servers. */
  serverUser?: string;
}

export interface AppliedServer extends PlannedServer {
  /** planned: --check; done: carried out; failed: see error. */
  outcome: 'planned' | 'done' | 'failed';
  pid?: number;
  port?: number;
  error?: SerializedError;
}

export interface ApplyReport {
  check: boolean;
  servers: AppliedServer[];
  /** Whether anything changed (apply) or would change (--check). */
  changed: boolean;
  /** 0, or 1 when a server could not be applied or the host could not be read. */
  exitCode: number;
  errors: SerializedError[];
  warnings: string[];
}

/** A conf.d file larger than this is no server config; it is read as unmanaged. */
const MAX_CONFIG_BYTES = 1 << 20;

export async function runApply(request: ApplyRequest): Promise<ApplyReport> {
  const base = { check: request.check, servers: [], changed: false, warnings: [] };
  try {
    const problem = request.servers.map(unportable).find((found) => found !== undefined);
    if (problem !== undefined) throw new StapctlError('USAGE', `refusing to apply: ${problem}`, { hint: 'declare values as bare words in stap_servers' });
    const nicknames = request.servers.map((spec) => spec.nickname);
    const twice = nicknames.find((nickname, index) => nicknames.indexOf(nickname) !== index);
    if (twice !== undefined) throw new StapctlError('USAGE', `refusing to apply: server "${twice}" is declared twice`, { hint: 'nicknames are unique per host' });
    const paths = servicePaths(request.root ?? '/');
    const trust = serverTrust();
    // Both directories are checked before either is made: a refusal changes nothing.
    ensureDirectory(paths.statPath, trust, { create: false });
    const owner = ensureDirectory(paths.configPath, trust, { create: !request.check });
    if (owner === 'server') throw serverOwned(paths.configPath);
    const plan = planApply(request.servers, readConfDirectory(paths.configPath), runningNicknames(paths.statPath));
    if (request.check) {
      const servers = plan.map((server): AppliedServer => ({ ...server, outcome: server.change === 'conflict' ? 'failed' : 'planned', ...conflictError(server, paths) }));
      return report(request.check, servers, planChangesSomething(plan), []);
    }
    ensureDirectory(paths.statPath, trust);
    await withLock(paths.statPath, async () => writeFiles(paths.configPath, plan));
    const warnings: string[] = [];
    const servers: AppliedServer[] = [];
    for (const server of plan) servers.push(await converge(server, request, paths, warnings));
    return report(request.check, servers, planChangesSomething(plan), warnings);
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return { ...base, exitCode: 1, errors: [error.toJSON()] };
  }
}

function report(check: boolean, servers: AppliedServer[], changed: boolean, warnings: string[]): ApplyReport {
  const failed = servers.some((server) => server.outcome === 'failed');
  return { check, servers, changed, exitCode: failed ? 1 : 0, errors: [], warnings };
}

function servicePaths(root: string): ServicePaths {
  const paths = defaultPaths(root);
  const { config, errors } = loadGlobalConfig(paths.configFile, { homeOf });
  if (errors[0] !== undefined) throw errors[0];
  return withGlobalConfig(paths, config);
}

function serverTrust(): Trust {
  const serverUid = lookupUser(DEFAULT_SERVER_USER)?.uid;
  const serverGid = lookupGroup(SERVER_GROUP)?.gid;
  return { ...(serverUid !== undefined && { serverUid }), ...(serverGid !== undefined && { serverGid }) };
}

/** The server account must not choose what root starts servers with. */
function serverOwned(dir: string): StapctlError {
  return new StapctlError('UNSAFE_PATH', `refusing to write server configs in ${dir}: the server account can write it`, {
    file: dir,
    hint: `chown root:root ${dir} && chmod 755 ${dir}`,
  });
}

/** Every `*.conf` of conf.d with its text; a file root should not trust counts as unmanaged. */
function readConfDirectory(dir: string): Map<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (isMissingFile(error)) return new Map();
    throw error;
  }
  const present = new Map<string, string>();
  for (const name of names.filter((entry) => entry.endsWith('.conf') && !entry.startsWith('.')).sort(byteOrder)) {
    try {
      present.set(name, readCheckedFile(join(dir, name), { owners: [0] }, MAX_CONFIG_BYTES));
    } catch (error) {
      if (!(error instanceof UntrustedFile) && !isMissingFile(error)) throw error;
      present.set(name, '');
    }
  }
  return present;
}

/** The nicknames of the managed servers whose processes run. */
function runningNicknames(statPath: string): Set<string> {
  const running = new Set<string>();
  for (const { pid, spec } of readStatusFiles(statPath).entries) {
    const uid = lookupUser(spec.user)?.uid;
    if (uid !== undefined && isServerProcess(readProcess(pid), uid)) running.add(spec.nickname);
  }
  return running;
}

function writeFiles(dir: string, plan: readonly PlannedServer[]): void {
  for (const server of plan) {
    if ((server.change === 'added' || server.change === 'changed') && server.after !== undefined) {
      writeFileAtomically(dir, server.file, server.after, 0o644);
    }
    if (server.change === 'removed') removeIfPresent(join(dir, server.file));
  }
}

function conflictError(server: PlannedServer, paths: ServicePaths): { error?: SerializedError } {
  if (server.change !== 'conflict') return {};
  const file = join(paths.configPath, server.file);
  const error = new StapctlError('CONFIG_CONFLICT', `${file} exists and is not managed by stapctl: server "${server.nickname}" was not applied`, {
    file,
    hint: `rename the server in stap_servers, or remove ${file} (or let stapctl manage it: put its settings in stap_servers and delete the file)`,
  });
  return { error: error.toJSON() };
}

/** Starts, restarts or stops one server as planned, through the engine. */
async function converge(server: PlannedServer, request: ApplyRequest, paths: ServicePaths, warnings: string[]): Promise<AppliedServer> {
  if (server.change === 'conflict') return { ...server, outcome: 'failed', ...conflictError(server, paths) };
  const engine = (action: 'start' | 'stop') =>
    runService({
      action,
      tokens: [{ flag: 'n', value: server.nickname }],
      ...(request.root !== undefined && { root: request.root }),
      ...(request.serverUser !== undefined && { serverUser: request.serverUser }),
    });
  if (server.action === 'none') return { ...server, outcome: 'done' };
  if (server.action === 'stop' || server.action === 'restart') {
    const stopped = outcomeOf(await engine('stop'), 'stop', warnings);
    if (server.action === 'stop' || stopped.outcome === 'failed') return { ...server, ...stopped };
  }
  return { ...server, ...outcomeOf(await engine('start'), 'start', warnings) };
}

/** The engine's step for this server decides; errors about other files only warn. */
function outcomeOf(report: ActionReport, kind: 'start' | 'stop', warnings: string[]): Pick<AppliedServer, 'outcome' | 'pid' | 'port' | 'error'> {
  const step = report.steps.find((candidate): candidate is StartStep | StopStep => candidate.kind === kind);
  for (const other of report.steps) if (other.kind === 'error') warnings.push(other.error.message);
  warnings.push(...report.warnings);
  if (step === undefined) return { outcome: 'failed', error: { code: 'SERVER_START_FAILED', message: `the engine did not ${kind} the server` } };
  const failed = step.outcome === 'failed' || step.outcome === 'unknown-nickname';
  return {
    outcome: failed ? 'failed' : 'done',
    ...(step.pid !== undefined && { pid: step.pid }),
    ...('port' in step && step.port !== undefined && { port: step.port }),
    ...(step.error !== undefined && { error: step.error }),
  };
}
