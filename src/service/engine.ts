/**
 * The service engine: what the stock initscript's start/stop/status/restart/condrestart/
 * force-reload do, as one function from a request to an ActionReport. It never prints; the CLI,
 * the agent and the fleet render the report.
 */
import { closeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMissingFile, StapctlError } from '../errors.js';
import { EXIT_CODE, outcomeOf, worstOutcome, type Outcome } from '../exit-code.js';
import { loadGlobalConfig, loadServerConfigs, type ConfigContext } from './config-file.js';
import { ensureDirectory, type Trust } from './file-trust.js';
import { localFiles, NotInSnapshot, unlessNotInSnapshot, type HostFiles } from './host-files.js';
import { withLock } from './lock.js';
import { defaultPaths, inRoot, withGlobalConfig, type ServicePaths } from './paths.js';
import { configuredServers, defaultServer, planServers, type Plan, type PlanContext, type PlannedServer } from './planner.js';
import { isServerProcess, listeningPorts, readProcess } from './proc.js';
import type { Action, ActionReport, StartStep, Step, StopStep } from './report.js';
import type { OptionToken } from './server-options.js';
import { ensureCertificate, serverArgv, spawnServer, stopServer } from './server-process.js';
import { formatServerOptions, sameConfiguration, type ManagedServer, type ServerSpec } from './server-spec.js';
import { openLogFile, ServiceLog } from './service-log.js';
import { readStatusFiles, removeStatusFile, writeStatusFile } from './status-file.js';
import { hostArch, installedReleases, kernelReleaseOf, runningRelease } from './system.js';
import { checkServerUser, DEFAULT_SERVER_USER, homeOf, lookupGroup, lookupUid, SERVER_GROUP } from './users.js';

export interface ServiceRequest {
  action: Action;
  /** The server options in command-line order (-a -r -u -I -R -B -D -i -n -p and the distributed ones). */
  tokens: OptionToken[];
  /** -c: an extra global config file, read after the default one. */
  configFile?: string;
  keepTemp?: boolean;
  usePassword?: boolean;
  /** Prefix of every path stapctl reads and writes, as `systemctl --root`. */
  root?: string;
  /** Overrides the default server user (STAP_USER), as a fleet inventory's stapctl_server_user does. */
  serverUser?: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /**
   * False when the caller shows no port (the stock script's lines): a running server's port is
   * then not looked up, and the TCP tables not read, which the kernel walks whole on every read
   * (~5 ms of CPU on a host with a large connection hash table).
   */
  ports?: boolean;
}

/**
 * Runs one action and reports what happened. Throws only for bugs, and NotInSnapshot when HOST is
 * a snapshot that cannot answer; user errors are in the report.
 */
export async function runService(request: ServiceRequest, host: HostFiles = localFiles): Promise<ActionReport> {
  const report = new ReportBuilder(request.action);
  if (request.action === 'reload') {
    // The stock script does not support reloading a running server's configuration either.
    report.end('unsupported');
    return report.build();
  }
  if (!host.live && request.action !== 'status') throw new NotInSnapshot(`${request.action} writes`);
  await new ServiceSetup(request, host, report).run();
  return report.build();
}

/** The steps, warnings and outcome of a run, as it goes. */
class ReportBuilder {
  readonly steps: Step[] = [];
  readonly warnings: string[] = [];
  private outcome: Outcome = 'ok';

  constructor(private readonly action: Action) {}

  fail(error: StapctlError): void {
    this.steps.push({ kind: 'error', error: error.toJSON() });
    this.end(outcomeOf(error));
  }

  /** The run's exit code is that of its most severe outcome (exit-code.ts). */
  end(outcome: Outcome): void {
    this.outcome = worstOutcome([this.outcome, outcome]);
  }

  build(): ActionReport {
    return { action: this.action, steps: this.steps, exitCode: EXIT_CODE[this.outcome], warnings: this.warnings };
  }

  /** Where the report stands now, to go back to (rollback) when a run's answer is to be made again. */
  checkpoint(): { steps: number; warnings: number; outcome: Outcome } {
    return { steps: this.steps.length, warnings: this.warnings.length, outcome: this.outcome };
  }

  rollback(to: ReturnType<ReportBuilder['checkpoint']>): void {
    this.steps.length = to.steps;
    this.warnings.length = to.warnings;
    this.outcome = to.outcome;
  }
}

/** A lookup reads /etc/passwd, or runs getent: once per user per run, not per server. */
class UserIds {
  private readonly uids = new Map<string, number | undefined>();

  constructor(private readonly host: HostFiles) {}

  of(user: string): number | undefined {
    if (!this.uids.has(user)) this.uids.set(user, lookupUid(user, undefined, this.host));
    return this.uids.get(user);
  }
}

/**
 * What a run does before it acts: the global configs, the directories it may change, the log, the
 * lock, and whether it may write at all.
 */
class ServiceSetup {
  private log = new ServiceLog('');
  /** Who besides root may own the service's directories (serviceAccounts), for a changing action. */
  private trust: Trust = {};
  private readonly users: UserIds;
  private readonly config: ConfigContext;

  constructor(
    private readonly request: ServiceRequest,
    private readonly host: HostFiles,
    private readonly report: ReportBuilder,
  ) {
    this.users = new UserIds(host);
    this.config = { homeOf: (user) => homeOf(user, host) };
  }

  async run(): Promise<void> {
    const { action } = this.request;
    try {
      const paths = this.loadPaths();
      if (action === 'status') {
        await this.runStatus(paths);
      } else {
        if (!writableDirectory(paths.statPath, this.host)) {
          throw new StapctlError('PERMISSION_DENIED', `this user cannot write the status directory, which ${action} needs`, {
            file: paths.statPath,
            hint: `run it as root: sudo stapctl ${action} ...`,
          });
        }
        this.trust = this.serviceAccounts(paths);
        // Both directories are checked before either is made: a refusal changes nothing.
        ensureDirectory(paths.statPath, this.trust, { create: false });
        ensureDirectory(dirname(paths.logFile), this.trust, { create: false });
        ensureDirectory(paths.statPath, this.trust);
        this.log = openLog(paths.logFile, this.trust, this.report.warnings, { keep: true });
        await withLock(paths.statPath, () => this.perform(paths, false));
      }
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.report.fail(error);
    } finally {
      this.log.close();
    }
    // A log line that could not be written never fails an action, but it is not lost in silence.
    if (this.log.writeError) this.report.warnings.push(this.log.writeError.located);
  }

  /**
   * The paths of this host after the global configs. A global config decides where servers and
   * their status files are: acting on a half-read one could start duplicates or lose track of
   * running servers, so any error in it ends the run.
   */
  private loadPaths(): ServicePaths {
    let paths = defaultPaths(this.request.root ?? '/');
    const files = [paths.configFile, ...(this.request.configFile ? [this.request.configFile] : [])];
    for (const file of files) {
      // A missing default config is fine; a mistyped -c file is not.
      const { config, errors } = loadGlobalConfig(file, this.config, { required: file !== paths.configFile }, this.host);
      if (errors.length > 0) {
        for (const error of errors.slice(0, -1)) this.report.fail(error);
        throw errors.at(-1);
      }
      paths = withGlobalConfig(paths, config);
    }
    return paths;
  }

  /**
   * status only reads, so anyone may run it, as the stock one. Root's status also removes the
   * files of dead servers, under the lock, unless the status directory fails the StrictModes
   * check; then it leaves them, as an unprivileged status does, for a run that may remove them.
   * Only that removal needs the lock: a status that finds every recorded server alive answers
   * from what it read, as the stock script (which has no lock) does, without waiting for a start
   * or stop under way; one that finds a dead server drops that answer and makes it again under the
   * lock, where it removes the file. A snapshot of a host's facts cannot change: no lock.
   */
  private async runStatus(paths: ServicePaths): Promise<void> {
    if (!writableDirectory(paths.statPath, this.host)) {
      await this.perform(paths, true);
    } else if (!this.host.live) {
      await this.perform(paths, false);
    } else if (!existsSync(paths.statPath) || !this.statusDirectoryIsSafe(paths)) {
      await this.perform(paths, true);
    } else {
      const before = this.report.checkpoint();
      if (await this.perform(paths, true)) {
        this.report.rollback(before);
        await withLock(paths.statPath, () => this.perform(paths, false));
      }
    }
  }

  private statusDirectoryIsSafe(paths: ServicePaths): boolean {
    try {
      ensureDirectory(paths.statPath, this.serviceAccounts(paths), { create: false });
      return true;
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.report.warnings.push(`${error.located}; status removes nothing there`);
      return false;
    }
  }

  /**
   * Who besides root may own the service's directories: the default server account and group.
   * The group is looked up when a check first asks for it, once: only a group-writable directory
   * or a log to share needs it, and a status of root's own directories then reads no /etc/group.
   */
  private serviceAccounts(paths: ServicePaths): Trust {
    const host = this.host;
    let lookedUp = false;
    let gid: number | undefined;
    return {
      serverUid: this.users.of(this.request.serverUser ?? paths.stapUser ?? DEFAULT_SERVER_USER),
      get serverGid() {
        if (!lookedUp) gid = lookupGroup(SERVER_GROUP, undefined, host)?.gid;
        lookedUp = true;
        return gid;
      },
    };
  }

  /**
   * Plans from what the host knows now (the lock held when it may write), then acts on the plan.
   * Returns whether a dead server's status file was left in place because the run was read-only.
   */
  private async perform(paths: ServicePaths, readOnly: boolean): Promise<boolean> {
    const ctx = this.planContext(paths);
    const plan = planServers(this.request.tokens, ctx);
    for (const error of plan.errors) this.report.fail(error);
    if (plan.errors.length > 0) return false;
    const where = { readOnly, host: this.host, trust: this.trust, users: this.users, trustedLogs: this.trustedLogs(paths, ctx) };
    const run = new ServiceRun(this.request, paths, this.log, this.report, ctx, where);
    await run.perform(plan);
    return run.leftDeadRecords;
  }

  private planContext(paths: ServicePaths): PlanContext {
    const { entries, errors, ignored } = readStatusFiles(paths.statPath, this.host);
    for (const error of errors) this.report.fail(error);
    for (const error of ignored) this.report.warnings.push(error.located);
    const configs = loadServerConfigs(paths.configPath, this.config, this.host);
    for (const error of configs.errors) this.report.fail(error);
    const host = this.host;
    let arch: string | undefined;
    let release: string | undefined;
    return {
      action: this.request.action,
      // Read when a plan first needs a default: a status of the recorded servers never does (and
      // then loads no node:os for uname).
      get hostArch() {
        return (arch ??= hostArch(host));
      },
      get runningRelease() {
        return (release ??= runningRelease(host));
      },
      // /lib/modules is read only when -i asks for it: a host without it can still start a server.
      installedReleases: this.request.tokens.some((token) => token.flag === 'i') ? installedReleases(paths.libModules, this.host) : [],
      defaultUser: this.request.serverUser ?? paths.stapUser ?? DEFAULT_SERVER_USER,
      defaultLog: paths.logFileInRoot,
      running: entries.map(({ pid, spec }) => ({ pid, spec })),
      configs: configs.configs,
      kernelReleaseOf: (tree) => kernelReleaseOf(inRoot(paths.root, tree), this.host),
    };
  }

  /**
   * The log paths root may create and share: LOG_FILE, conf.d's LOG= and --log. Never one read
   * from a status file, which the server account could have written.
   */
  private trustedLogs(paths: ServicePaths, ctx: PlanContext): ReadonlySet<string> {
    const logs = new Set([paths.logFileInRoot]);
    for (const config of ctx.configs) if (config.spec.log) logs.add(config.spec.log);
    for (const token of this.request.tokens) if (token.flag === 'log') logs.add(token.value);
    return logs;
  }
}

/**
 * The log is where servers explain themselves, but not a reason to refuse to act: a log that
 * cannot be opened safely or shared with the server group is a warning (a symlink planted in the
 * log directory, a --log path that is not ours to change). An unsafe LOG_FILE directory is the
 * exception: `keep` (the service log) lets UNSAFE_PATH refuse the action.
 */
function openLog(file: string, trust: Trust, warnings: string[], options: { keep: boolean }): ServiceLog {
  try {
    const { fd, preparation } = openLogFile(file, trust);
    if (preparation === 'left-alone') {
      warnings.push(`${file} is not a service log stapctl may share with group ${SERVER_GROUP}: the servers may not be able to write to it`);
    }
    if (options.keep) return new ServiceLog(file, { fd });
    closeSync(fd);
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    if (options.keep && error.code === 'UNSAFE_PATH') throw error;
    warnings.push(error.located);
  }
  return new ServiceLog(file);
}

/** One action on the planned servers, with what it finds and changes along the way. */
class ServiceRun {
  private readonly steps: Step[];
  /** The managed servers as the run goes: it forgets those it stops or finds dead, adds those it starts. */
  private managed: ManagedServer[];
  /** A read-only run found a dead server and left its status file. */
  leftDeadRecords = false;

  constructor(
    private readonly request: ServiceRequest,
    private readonly paths: ServicePaths,
    private readonly log: ServiceLog,
    private readonly report: ReportBuilder,
    /** What the plan was made from; it does not change as the run goes. */
    private readonly ctx: PlanContext,
    private readonly where: {
      /** An unprivileged status: nothing is written, not even the removal of a dead server's file. */
      readOnly: boolean;
      host: HostFiles;
      trust: Trust;
      users: UserIds;
      /** The log paths root may create and share (ServiceSetup.trustedLogs). */
      trustedLogs: ReadonlySet<string>;
    },
  ) {
    this.steps = report.steps;
    this.managed = [...ctx.running];
  }

  async perform(plan: Plan): Promise<void> {
    const named = plan.explicit ? plan.servers : undefined;
    switch (this.request.action) {
      case 'start':
        await this.start(named ?? this.configuredOrDefault());
        break;
      case 'stop':
        await this.stop(named);
        break;
      case 'status':
        this.status(named);
        break;
      case 'restart':
        await this.restart(named);
        break;
      case 'condrestart':
      case 'try-restart':
        await this.condrestart(named);
        break;
      case 'force-reload':
        await this.stop(undefined);
        await this.start(named ?? this.configuredOrDefault());
        break;
      case 'reload':
        break;
    }
  }

  private configuredOrDefault(): PlannedServer[] {
    const configured = configuredServers(this.ctx);
    return configured.length > 0 ? configured : [defaultServer(this.ctx, this.request.tokens)];
  }

  // ---- start ------------------------------------------------------------------------------

  private async start(servers: PlannedServer[]): Promise<void> {
    for (const server of servers) {
      const step = await this.startOne(server);
      this.steps.push(step);
      if (step.outcome === 'failed') this.report.end('failed');
    }
  }

  private async startOne(server: PlannedServer): Promise<StartStep> {
    const spec = server.spec;
    const options = formatServerOptions(spec);
    this.log.log(`Starting stap-server ${options}`);
    try {
      const running = this.findRunning(spec);
      if (running) {
        this.log.pass(`stap-server start ${options}`);
        return { kind: 'start', spec, outcome: 'already-running', pid: running.pid, ...this.portOf(running.pid) };
      }
      const started = await this.launch(spec);
      this.managed.push(started.server);
      this.log.pass(`stap-server start ${formatServerOptions(started.server.spec)}`);
      return { kind: 'start', spec, outcome: 'started', pid: started.server.pid, port: started.port };
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.log.error(`stap-server start ${options}`);
      const logTail = error.code === 'SERVER_START_FAILED' && error.detail ? error.detail.split('\n') : undefined;
      return { kind: 'start', spec, outcome: 'failed', error: error.toJSON(), ...(logTail && { logTail }) };
    }
  }

  /** Spawns the server, recorded in its status file before it runs; a server that fails its checks leaves no record. */
  private async launch(spec: ServerSpec): Promise<{ server: ManagedServer; port: number }> {
    const user = checkServerUser(spec.user);
    await ensureCertificate(user);
    const hostLog = inRoot(this.paths.root, spec.log);
    if (hostLog !== this.paths.logFile && this.where.trustedLogs.has(spec.log)) openLog(hostLog, this.where.trust, this.report.warnings, { keep: false });
    const argv = serverArgv(spec, { keepTemp: !!this.request.keepTemp, usePassword: !!this.request.usePassword }, hostLog);
    const recordOf = (pid: number): ServerSpec => ({ ...spec, nickname: spec.nickname || String(pid) });
    let recordedPid: number | undefined;
    try {
      const { pid, port } = await spawnServer(argv, user, {
        logFile: hostLog,
        timeoutMs: this.request.startTimeoutMs,
        onSpawned: (pid) => {
          writeStatusFile(this.paths.statPath, pid, recordOf(pid));
          recordedPid = pid;
        },
      });
      return { server: { pid, spec: recordOf(pid) }, port };
    } catch (error) {
      // spawnServer has stopped a server that failed its checks; its record goes with it.
      if (recordedPid !== undefined) removeStatusFile(this.paths.statPath, recordedPid);
      throw error;
    }
  }

  /** A running server with this configuration; forgets status files of servers that died. */
  private findRunning(spec: ServerSpec): ManagedServer | undefined {
    for (const entry of [...this.managed]) {
      if (!sameConfiguration(entry.spec, spec)) continue;
      if (this.isAlive(entry)) return entry;
      this.forget(entry.pid);
    }
    return undefined;
  }

  private isAlive({ pid, spec }: ManagedServer): boolean {
    const uid = this.uidOf(spec.user);
    return uid !== undefined && isServerProcess(readProcess(pid, PROC, this.where.host), uid);
  }

  private uidOf(user: string): number | undefined {
    return this.where.users.of(user);
  }

  /** The stock script removes the status file of a server it finds dead; so do we. */
  private forget(pid: number): void {
    if (this.where.readOnly) {
      this.leftDeadRecords = true;
    } else {
      if (!this.where.host.live) throw new NotInSnapshot(`the status file of dead server ${pid} is to be removed`);
      removeStatusFile(this.paths.statPath, pid);
    }
    this.managed = this.managed.filter((entry) => entry.pid !== pid);
  }

  // ---- the named servers, or every managed one ----------------------------------------------

  /**
   * The managed servers stop and status act on: those named, or with none named every managed
   * one. A name that matches no managed server is reported as the action reports it.
   */
  private targetsOf(named: PlannedServer[] | undefined, action: 'stop' | 'status'): ManagedServer[] {
    if (!named) {
      if (this.managed.length === 0) this.noneManaged(action);
      return [...this.managed];
    }
    const targets: ManagedServer[] = [];
    for (const server of named) {
      const nickname = nicknameNothingHas(server);
      const found = nickname === undefined ? this.managedEntry(server) : undefined;
      if (found) targets.push(found);
      else if (nickname !== undefined) this.unknownNickname({ ...server.spec, nickname }, action);
      else this.notManaged(server.spec, action);
    }
    return targets;
  }

  /** The managed server a planned server refers to: by PID when it came from -p or -n, else by configuration. */
  private managedEntry(server: PlannedServer): ManagedServer | undefined {
    if (server.pid !== undefined) return this.managed.find((entry) => entry.pid === server.pid);
    return this.managed.find((entry) => sameConfiguration(entry.spec, server.spec));
  }

  private noneManaged(action: 'stop' | 'status'): void {
    this.steps.push({ kind: 'none-running', action });
    if (action === 'status') {
      this.report.end('not-running');
      return;
    }
    this.log.log('Stopping stap-server: ');
    this.log.pass('stap-server: No managed servers to stop');
  }

  private notManaged(spec: ServerSpec, action: 'stop' | 'status'): void {
    this.steps.push({ kind: action, spec, outcome: 'not-running' });
    if (action === 'status') {
      this.report.end('not-running');
      return;
    }
    const options = formatServerOptions(spec);
    this.log.log(`Stopping stap-server ${options}`);
    this.log.pass(`stap-server stop ${options}`);
  }

  private unknownNickname(spec: ServerSpec, action: 'stop' | 'status'): void {
    if (action === 'status') {
      this.steps.push({ kind: 'status', spec, outcome: 'unknown-nickname' });
      this.report.end('not-running');
      return;
    }
    const error = new StapctlError('UNKNOWN_NICKNAME', `No configuration found for the nickname '${spec.nickname}'`, {
      hint: `no running server and no config in ${this.paths.configPath} has NICKNAME=${spec.nickname}`,
    });
    this.log.log(error.message);
    this.log.error(`stap-server stop ${formatServerOptions(spec)}`);
    this.steps.push({ kind: 'stop', spec, outcome: 'unknown-nickname', error: error.toJSON() });
    this.report.end(outcomeOf(error));
  }

  // ---- stop, status -------------------------------------------------------------------------

  private async stop(named: PlannedServer[] | undefined): Promise<void> {
    const targets = this.targetsOf(named, 'stop');
    const stopped = new Set<number>();
    for (const target of targets) {
      if (stopped.has(target.pid)) continue;
      stopped.add(target.pid);
      this.steps.push(await this.stopOne(target));
    }
  }

  private async stopOne({ pid, spec }: ManagedServer): Promise<StopStep> {
    const options = formatServerOptions(spec);
    this.log.log(`Stopping stap-server ${options}`);
    const uid = this.uidOf(spec.user);
    try {
      const outcome = uid === undefined ? 'not-running' : await stopServer(pid, uid, { termTimeoutMs: this.request.stopTimeoutMs });
      if (outcome === 'killed') {
        this.report.warnings.push(`stap-server ${pid} did not stop on SIGTERM and was killed with SIGKILL`);
        this.log.log(`Warning: PID ${pid} ignored SIGTERM; sent SIGKILL`);
      }
      this.forget(pid);
      this.log.pass(`stap-server stop ${options}`);
      return { kind: 'stop', spec, pid, outcome };
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.log.error(`stap-server stop ${options}`);
      this.report.end('failed');
      return { kind: 'stop', spec, pid, outcome: 'failed', error: error.toJSON() };
    }
  }

  private status(named: PlannedServer[] | undefined): void {
    for (const target of this.targetsOf(named, 'status')) {
      const { pid, spec } = target;
      if (this.isAlive(target)) {
        this.steps.push({ kind: 'status', spec, outcome: 'running', pid, ...this.portOf(pid) });
        continue;
      }
      this.forget(pid);
      this.steps.push({ kind: 'status', spec, outcome: 'dead', pid });
      // As the stock script: a dead server (1) outranks one that is merely not running (3).
      this.report.end('failed');
    }
  }

  // ---- restart, condrestart ---------------------------------------------------------------

  private async restart(named: PlannedServer[] | undefined): Promise<void> {
    const servers = named ?? this.managed.map(restartable);
    await this.stop(named);
    await this.start(servers.length > 0 ? servers : this.configuredOrDefault());
  }

  private async condrestart(named: PlannedServer[] | undefined): Promise<void> {
    const servers = named ?? this.managed.map(restartable);
    if (servers.length === 0) {
      this.log.log('No managed stap-server is running');
      this.log.pass('No managed stap-server is running');
      this.steps.push({ kind: 'none-running', action: 'condrestart' });
      return;
    }
    const toStart: PlannedServer[] = [];
    for (const server of servers) {
      const found = server.unknownNickname === undefined ? this.managedEntry(server) : undefined;
      if (!found || !this.isAlive(found)) {
        if (found) this.forget(found.pid);
        const options = formatServerOptions(server.spec);
        this.log.log(`stap-server ${options} is not running`);
        this.log.pass(`stap-server ${options} is not running`);
        this.steps.push({ kind: 'skip', spec: server.spec });
        continue;
      }
      toStart.push(server);
      this.steps.push(await this.stopOne(found));
    }
    await this.start(toStart);
  }

  private portOf(pid: number): { port?: number } {
    if (this.request.ports === false) return {};
    const [port] = listeningPorts(pid, PROC, this.where.host);
    return port === undefined ? {} : { port };
  }
}

/**
 * The nickname of a -n that names no running or configured server. restart stops it as stop does,
 * an unknown nickname that fails, before it starts it as a new server (as the stock script).
 */
function nicknameNothingHas(server: PlannedServer): string | undefined {
  return server.unknownNickname ?? (server.origin === 'new-nickname' ? server.spec.nickname : undefined);
}

/**
 * A running server, planned to be started again. Its nickname sticks (the stock script loses it),
 * unless it was only its old PID.
 */
function restartable(entry: ManagedServer): PlannedServer {
  const nickname = entry.spec.nickname === String(entry.pid) ? '' : entry.spec.nickname;
  return { spec: { ...entry.spec, nickname }, origin: 'running', pid: entry.pid };
}

const PROC = '/proc';

/** Whether this process may create files in `dir`, or create `dir` itself where it is missing. */
function writableDirectory(dir: string, host: HostFiles): boolean {
  for (let at = dir; ; at = dirname(at)) {
    try {
      return host.writable(at);
    } catch (error) {
      unlessNotInSnapshot(error);
      if (!isMissingFile(error) || at === dirname(at)) return false;
    }
  }
}
