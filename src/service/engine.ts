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
import { localFiles, NotInSnapshot, unlessNotInSnapshot, type HostFiles } from './host-files.js';
import { withLock } from './lock.js';
import { defaultPaths, inRoot, withGlobalConfig, type ServicePaths } from './paths.js';
import { configuredServers, defaultServer, planServers, type OptionToken, type PlanContext, type PlannedServer } from './planner.js';
import { isServerProcess, listeningPorts, readProcess } from './proc.js';
import type { Action, ActionReport, StartStep, Step, StopStep } from './report.js';
import { ensureCertificate, serverArgv, spawnServer, stopServer } from './server-process.js';
import { formatServerOptions, sameConfiguration, type ServerSpec } from './server-spec.js';
import { ensureDirectory, type Trust } from './file-trust.js';
import { openLogFile, ServiceLog } from './service-log.js';
import { readStatusFiles, removeStatusFile, writeStatusFile } from './status-file.js';
import { hostArch, installedReleases, kernelReleaseOf, runningRelease } from './system.js';
import { checkServerUser, DEFAULT_SERVER_USER, homeOf, lookupGroup, lookupUser, SERVER_GROUP } from './users.js';

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
}

/**
 * Runs one action and reports what happened. Throws only for bugs, and NotInSnapshot when HOST is
 * a snapshot that cannot answer; user errors are in the report.
 */
export async function runService(request: ServiceRequest, host: HostFiles = localFiles): Promise<ActionReport> {
  if (request.action === 'reload') {
    // The stock script does not support reloading a running server's configuration either.
    return { action: 'reload', steps: [], exitCode: EXIT_CODE.unsupported, warnings: [] };
  }
  if (!host.live && request.action !== 'status') throw new NotInSnapshot(`${request.action} writes`);
  const run = new ServiceRun(request, host);
  return run.execute();
}

/** The state of one engine run: its paths, log, context and the steps recorded so far. */
class ServiceRun {
  private readonly steps: Step[] = [];
  private readonly warnings: string[] = [];
  private outcome: Outcome = 'ok';
  private paths!: ServicePaths;
  private log!: ServiceLog;
  private ctx!: PlanContext;
  /** An unprivileged status: nothing is written, not even the removal of a dead server's file. */
  private readOnly = false;
  private readonly uids = new Map<string, number | undefined>();
  private readonly config: ConfigContext;
  /** Who besides root may own the service's directories (serviceAccounts), for a changing action. */
  private trust: Trust = {};
  /**
   * The log paths root may create and share: LOG_FILE, conf.d's LOG= and --log. Never one read
   * from a status file, which the server account could have written.
   */
  private readonly trustedLogs = new Set<string>();

  constructor(
    private readonly request: ServiceRequest,
    private readonly host: HostFiles,
  ) {
    this.config = { homeOf: (user) => homeOf(user, host) };
  }

  async execute(): Promise<ActionReport> {
    const { action } = this.request;
    this.log = new ServiceLog('');
    try {
      this.loadGlobalConfig();
      if (action === 'status') {
        await this.runStatus();
      } else {
        if (!writableDirectory(this.paths.statPath, this.host)) {
          throw new StapctlError('PERMISSION_DENIED', `this user cannot write the status directory, which ${action} needs`, {
            file: this.paths.statPath,
            hint: `run it as root: sudo stapctl ${action} ...`,
          });
        }
        this.trust = this.serviceAccounts();
        // Both directories are checked before either is made: a refusal changes nothing.
        ensureDirectory(this.paths.statPath, this.trust, { create: false });
        ensureDirectory(dirname(this.paths.logFile), this.trust, { create: false });
        ensureDirectory(this.paths.statPath, this.trust);
        this.log = this.openLog(this.paths.logFile, { keep: true });
        await withLock(this.paths.statPath, () => this.perform());
      }
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.fail(error);
    } finally {
      this.log.close();
    }
    // A log line that could not be written never fails an action, but it is not lost in silence.
    if (this.log.writeError) this.warnings.push(this.log.writeError.located);
    return { action, steps: this.steps, exitCode: EXIT_CODE[this.outcome], warnings: this.warnings };
  }

  /**
   * status only reads, so anyone may run it, as the stock one. Root's status also removes the
   * files of dead servers, under the lock, unless the status directory fails the StrictModes
   * check; then it leaves them, as an unprivileged status does, for a run that may remove them.
   * A snapshot of a host's facts cannot change under a status that only reads it: no lock.
   */
  private async runStatus(): Promise<void> {
    this.readOnly = !writableDirectory(this.paths.statPath, this.host);
    if (this.readOnly || !this.host.live) return this.perform();
    this.readOnly = !existsSync(this.paths.statPath) || !this.statusDirectoryIsSafe();
    if (this.readOnly) return this.perform();
    return withLock(this.paths.statPath, () => this.perform());
  }

  private statusDirectoryIsSafe(): boolean {
    try {
      ensureDirectory(this.paths.statPath, this.serviceAccounts(), { create: false });
      return true;
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.warnings.push(`${error.located}; status removes nothing there`);
      return false;
    }
  }

  /** Who besides root may own the service's directories: the default server account and group. */
  private serviceAccounts(): Trust {
    return {
      serverUid: this.uidOf(this.request.serverUser ?? this.paths.stapUser ?? DEFAULT_SERVER_USER),
      serverGid: lookupGroup(SERVER_GROUP, undefined, this.host)?.gid,
    };
  }

  private loadGlobalConfig(): void {
    const root = this.request.root ?? '/';
    let paths = defaultPaths(root);
    const files = [paths.configFile, ...(this.request.configFile ? [this.request.configFile] : [])];
    for (const file of files) {
      // A missing default config is fine; a mistyped -c file is not.
      const { config, errors } = loadGlobalConfig(file, this.config, { required: file !== paths.configFile }, this.host);
      // A global config decides where servers and their status files are: acting on a
      // half-read one could start duplicates or lose track of running servers.
      if (errors.length > 0) {
        for (const error of errors.slice(0, -1)) this.fail(error);
        throw errors.at(-1);
      }
      paths = withGlobalConfig(paths, config);
    }
    this.paths = paths;
  }

  /**
   * The log is where servers explain themselves, but not a reason to refuse to act: a log that
   * cannot be opened safely or shared with the server group is a warning (a symlink planted in
   * the log directory, a --log path that is not ours to change). An unsafe LOG_FILE directory is
   * the exception: `keep` (the service log) lets UNSAFE_PATH refuse the action.
   */
  private openLog(file: string, options: { keep: boolean }): ServiceLog {
    try {
      const { fd, preparation } = openLogFile(file, this.trust);
      if (preparation === 'left-alone') {
        this.warnings.push(`${file} is not a service log stapctl may share with group ${SERVER_GROUP}: the servers may not be able to write to it`);
      }
      if (options.keep) return new ServiceLog(file, { fd });
      closeSync(fd);
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      if (options.keep && error.code === 'UNSAFE_PATH') throw error;
      this.warnings.push(error.located);
    }
    return new ServiceLog(file);
  }

  private async perform(): Promise<void> {
    const { action } = this.request;
    this.ctx = this.planContext();
    const plan = planServers(this.request.tokens, this.ctx);
    if (plan.errors.length > 0) {
      for (const error of plan.errors) this.fail(error);
      return;
    }
    const named = plan.explicit ? plan.servers : undefined;
    switch (action) {
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

  private planContext(): PlanContext {
    const { entries, errors, ignored } = readStatusFiles(this.paths.statPath, this.host);
    for (const error of errors) this.fail(error);
    for (const error of ignored) this.warnings.push(error.located);
    const configs = loadServerConfigs(this.paths.configPath, this.config, this.host);
    for (const error of configs.errors) this.fail(error);
    this.trustedLogs.add(this.paths.logFileInRoot);
    for (const config of configs.configs) if (config.spec.log) this.trustedLogs.add(config.spec.log);
    for (const token of this.request.tokens) if (token.flag === 'log') this.trustedLogs.add(token.value);
    const root = this.paths.root;
    return {
      action: this.request.action,
      hostArch: hostArch(this.host),
      runningRelease: runningRelease(this.host),
      // /lib/modules is read only when -i asks for it: a host without it can still start a server.
      installedReleases: this.request.tokens.some((token) => token.flag === 'i') ? installedReleases(this.paths.libModules, this.host) : [],
      defaultUser: this.request.serverUser ?? this.paths.stapUser ?? DEFAULT_SERVER_USER,
      defaultLog: this.paths.logFileInRoot,
      running: entries.map(({ pid, spec }) => ({ pid, spec })),
      configs: configs.configs,
      kernelReleaseOf: (tree) => kernelReleaseOf(inRoot(root, tree), this.host),
    };
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
      if (step.outcome === 'failed') this.end('failed');
    }
  }

  private async startOne(server: PlannedServer): Promise<StartStep> {
    const spec = server.spec;
    const options = formatServerOptions(spec);
    this.log.log(`Starting stap-server ${options}`);
    const failed = (error: StapctlError, logTail?: string[]): StartStep => {
      this.log.error(`stap-server start ${options}`);
      return { kind: 'start', spec, outcome: 'failed', error: error.toJSON(), ...(logTail && { logTail }) };
    };
    try {
      const running = this.findRunning(spec);
      if (running) {
        this.log.pass(`stap-server start ${options}`);
        return { kind: 'start', spec, outcome: 'already-running', pid: running.pid, ...this.portOf(running.pid) };
      }
      const user = checkServerUser(spec.user);
      await ensureCertificate(user);
      const hostLog = inRoot(this.paths.root, spec.log);
      if (hostLog !== this.paths.logFile && this.trustedLogs.has(spec.log)) this.openLog(hostLog, { keep: false });
      const argv = serverArgv(spec, { keepTemp: !!this.request.keepTemp, usePassword: !!this.request.usePassword }, hostLog);
      const recordOf = (pid: number): ServerSpec => ({ ...spec, nickname: spec.nickname || String(pid) });
      let recordedPid: number | undefined;
      let started: { pid: number; port: number };
      try {
        started = await spawnServer(argv, user, {
          logFile: hostLog,
          timeoutMs: this.request.startTimeoutMs,
          onSpawned: (pid) => {
            writeStatusFile(this.paths.statPath, pid, recordOf(pid));
            recordedPid = pid;
          },
        });
      } catch (error) {
        // spawnServer has stopped a server that failed its checks; its record goes with it.
        if (recordedPid !== undefined) removeStatusFile(this.paths.statPath, recordedPid);
        throw error;
      }
      this.ctx.running.push({ pid: started.pid, spec: recordOf(started.pid) });
      this.log.pass(`stap-server start ${formatServerOptions(recordOf(started.pid))}`);
      return { kind: 'start', spec, outcome: 'started', pid: started.pid, port: started.port };
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      const tail = error.code === 'SERVER_START_FAILED' && error.detail ? error.detail.split('\n') : undefined;
      return failed(error, tail);
    }
  }

  /** A running server with this configuration; forgets status files of servers that died. */
  private findRunning(spec: ServerSpec): { pid: number; spec: ServerSpec } | undefined {
    for (const entry of [...this.ctx.running]) {
      if (!sameConfiguration(entry.spec, spec)) continue;
      if (this.isAlive(entry.pid, entry.spec)) return entry;
      this.forget(entry.pid);
    }
    return undefined;
  }

  private isAlive(pid: number, spec: ServerSpec): boolean {
    const uid = this.uidOf(spec.user);
    return uid !== undefined && isServerProcess(readProcess(pid, PROC, this.host), uid);
  }

  /** A lookup reads /etc/passwd and /etc/group, or runs getent: once per user per run, not per server. */
  private uidOf(user: string): number | undefined {
    if (!this.uids.has(user)) this.uids.set(user, lookupUser(user, undefined, this.host)?.uid);
    return this.uids.get(user);
  }

  /** The stock script removes the status file of a server it finds dead; so do we. */
  private forget(pid: number): void {
    if (!this.readOnly) {
      if (!this.host.live) throw new NotInSnapshot(`the status file of dead server ${pid} is to be removed`);
      removeStatusFile(this.paths.statPath, pid);
    }
    this.ctx.running = this.ctx.running.filter((entry) => entry.pid !== pid);
  }

  // ---- stop -------------------------------------------------------------------------------

  private async stop(named: PlannedServer[] | undefined): Promise<void> {
    const targets: { pid: number; spec: ServerSpec }[] = [];
    if (named) {
      for (const server of named) {
        if (server.unknownNickname !== undefined) {
          this.unknownNickname(server, 'stop');
          continue;
        }
        const found = this.managedEntry(server);
        if (found) {
          if (!targets.some((target) => target.pid === found.pid)) targets.push(found);
          continue;
        }
        const options = formatServerOptions(server.spec);
        this.log.log(`Stopping stap-server ${options}`);
        this.log.pass(`stap-server stop ${options}`);
        this.steps.push({ kind: 'stop', spec: server.spec, outcome: 'not-running' });
      }
    } else {
      targets.push(...this.ctx.running);
      if (targets.length === 0) {
        this.log.log('Stopping stap-server: ');
        this.log.pass('stap-server: No managed servers to stop');
        this.steps.push({ kind: 'none-running', action: 'stop' });
        return;
      }
    }
    for (const target of targets) this.steps.push(await this.stopOne(target));
  }

  private unknownNickname(server: PlannedServer, action: 'stop' | 'status'): void {
    const spec = { ...server.spec, nickname: server.unknownNickname ?? '' };
    const error = new StapctlError('UNKNOWN_NICKNAME', `No configuration found for the nickname '${spec.nickname}'`, {
      hint: `no running server and no config in ${this.paths.configPath} has NICKNAME=${spec.nickname}`,
    });
    if (action === 'stop') {
      this.log.log(error.message);
      this.log.error(`stap-server stop ${formatServerOptions(spec)}`);
      this.steps.push({ kind: 'stop', spec, outcome: 'unknown-nickname', error: error.toJSON() });
      this.end(outcomeOf(error));
    } else {
      this.steps.push({ kind: 'status', spec, outcome: 'unknown-nickname' });
      this.end('not-running');
    }
  }

  /** The managed server a planned server refers to: by PID when it came from -p or -n, else by configuration. */
  private managedEntry(server: PlannedServer): { pid: number; spec: ServerSpec } | undefined {
    if (server.pid !== undefined) return this.ctx.running.find((entry) => entry.pid === server.pid);
    return this.ctx.running.find((entry) => sameConfiguration(entry.spec, server.spec));
  }

  private async stopOne(target: { pid: number; spec: ServerSpec }): Promise<StopStep> {
    const { pid, spec } = target;
    const options = formatServerOptions(spec);
    this.log.log(`Stopping stap-server ${options}`);
    const uid = this.uidOf(spec.user);
    try {
      const outcome = uid === undefined ? 'not-running' : await stopServer(pid, uid, { termTimeoutMs: this.request.stopTimeoutMs });
      if (outcome === 'killed') {
        this.warnings.push(`stap-server ${pid} did not stop on SIGTERM and was killed with SIGKILL`);
        this.log.log(`Warning: PID ${pid} ignored SIGTERM; sent SIGKILL`);
      }
      this.forget(pid);
      this.log.pass(`stap-server stop ${options}`);
      return { kind: 'stop', spec, pid, outcome };
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      this.log.error(`stap-server stop ${options}`);
      this.end('failed');
      return { kind: 'stop', spec, pid, outcome: 'failed', error: error.toJSON() };
    }
  }

  // ---- status -----------------------------------------------------------------------------

  private status(named: PlannedServer[] | undefined): void {
    const targets: { pid: number; spec: ServerSpec }[] = [];
    if (named) {
      for (const server of named) {
        if (server.unknownNickname !== undefined) {
          this.unknownNickname(server, 'status');
          continue;
        }
        const found = this.managedEntry(server);
        if (found) {
          targets.push(found);
          continue;
        }
        this.steps.push({ kind: 'status', spec: server.spec, outcome: 'not-running' });
        this.end('not-running');
      }
    } else {
      targets.push(...this.ctx.running);
      if (targets.length === 0) {
        this.steps.push({ kind: 'none-running', action: 'status' });
        this.end('not-running');
        return;
      }
    }
    for (const { pid, spec } of targets) {
      if (this.isAlive(pid, spec)) {
        this.steps.push({ kind: 'status', spec, outcome: 'running', pid, ...this.portOf(pid) });
      } else {
        this.forget(pid);
        this.steps.push({ kind: 'status', spec, outcome: 'dead', pid });
        // As the stock script: a dead server (1) outranks one that is merely not running (3).
        this.end('failed');
      }
    }
  }

  // ---- restart, condrestart ---------------------------------------------------------------

  private async restart(named: PlannedServer[] | undefined): Promise<void> {
    const servers = named ?? this.ctx.running.map(restartable);
    await this.stop(named);
    await this.start(servers.length > 0 ? servers : this.configuredOrDefault());
  }

  private async condrestart(named: PlannedServer[] | undefined): Promise<void> {
    const servers = named ?? this.ctx.running.map(restartable);
    if (servers.length === 0) {
      this.log.log('No managed stap-server is running');
      this.log.pass('No managed stap-server is running');
      this.steps.push({ kind: 'none-running', action: 'condrestart' });
      return;
    }
    const toStart: PlannedServer[] = [];
    for (const server of servers) {
      const found = server.unknownNickname === undefined ? this.managedEntry(server) : undefined;
      if (!found || !this.isAlive(found.pid, found.spec)) {
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
    const [port] = listeningPorts(pid, PROC, this.host);
    return port === undefined ? {} : { port };
  }

  private fail(error: StapctlError): void {
    this.steps.push({ kind: 'error', error: error.toJSON() });
    this.end(outcomeOf(error));
  }

  /** The run's exit code is that of its most severe outcome (exit-code.ts). */
  private end(outcome: Outcome): void {
    this.outcome = worstOutcome([this.outcome, outcome]);
  }
}

/**
 * A running server, planned to be started again. Its nickname sticks (the stock script loses it),
 * unless it was only its old PID.
 */
function restartable(entry: { pid: number; spec: ServerSpec }): PlannedServer {
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
