/**
 * --transport openssh: the system ssh client, one ControlMaster per host per run, every command a
 * multiplexed client of it. ssh itself reads the user's ssh config, keys, certificates, agent and
 * GSSAPI credentials, so whatever plain `ssh HOST` can log in with works here; stapctl passes what
 * it resolved as explicit options (openssh-args.ts) and keeps every ssh process it started, by
 * PID, until the run ends: none outlives it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, lstat, readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { StapctlError } from '../../errors.js';
import { hostPort } from '../../port.js';
import { CappedBuffer, commandStopped, CommandWatch, STOP_GRACE_MS, type StopReason } from './command-limits.js';
import { ControlDirectory } from './control-directory.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type HostRoute } from './host-route.js';
import { checkArgs, commandArgs, exitArgs, jumpErrors, masterArgs, masterPid, NO_MASTER_MARKER, type OpensshRun } from './openssh-args.js';
import { connectFailure, hostKeyOutcome, sshLines } from './openssh-failure.js';
import type { ExecOptions, ExecResult, SshSession } from './transport.js';

/** `ssh -O check` and the like: local, through the control socket. */
const CONTROL_TIMEOUT_MS = 5_000;
/** How long a master has to exit after SIGTERM before SIGKILL. */
const MASTER_EXIT_MS = 2_000;
/** What stapctl keeps of a master's or a control command's stderr. */
const SSH_STDERR_BYTES = 64 * 1024;

/** The ssh client in PATH, as a shell would find it; an error that says so when there is none. */
export async function findSshClient(env: NodeJS.ProcessEnv): Promise<string> {
  for (const directory of (env.PATH ?? '').split(delimiter)) {
    if (!isAbsolute(directory)) continue;
    const candidate = join(directory, 'ssh');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  throw new StapctlError('SSH_CLIENT_MISSING', '--transport openssh needs the ssh client, and there is no ssh in PATH', {
    hint: 'install OpenSSH\'s client (Debian: apt-get install openssh-client), or use --transport ssh2',
  });
}

/** One ssh process: its exit, and what it wrote on stderr (and stdout), bounded. */
interface SshExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  timedOut: boolean;
}

/** The master of one host: a background ssh process, known by its PID and its socket. */
class Master {
  constructor(
    readonly route: HostRoute,
    readonly socket: string,
    readonly pid: number,
  ) {}

  /** Whether the PID still is this master: alive, and an ssh holding this socket (not a reused PID). */
  async running(): Promise<boolean> {
    const [status, cmdline] = await Promise.all([readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => ''), readFile(`/proc/${this.pid}/cmdline`, 'utf8').catch(() => '')]);
    return status !== '' && !/^State:\s*Z/m.test(status) && cmdline.includes(this.socket);
  }

  /** SIGTERM (ssh removes its socket and closes the connection), then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!(await this.running())) return;
      process.kill(this.pid, signal);
      const deadline = Date.now() + MASTER_EXIT_MS;
      while (Date.now() < deadline && (await this.running())) await delay(20);
    }
  }
}

/** A master that came up, and what ssh said about the host key on the way. */
interface StartedMaster {
  master: Master;
  warnings: string[];
}

/**
 * The ssh processes of one run. Every process is started in its own session (detached), so that
 * a Ctrl-C at the terminal reaches the controller only, which then stops each host's command
 * through its master, and ends the masters itself.
 */
export class OpensshTransport {
  private readonly children = new Set<ChildProcess>();
  private readonly masters = new Set<Master>();
  private readonly jumps = new Map<string, Promise<StartedMaster>>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly sockets: { socket: string; route: HostRoute }[] = [];
  private closed = false;

  private constructor(
    private readonly run: OpensshRun,
    private readonly directory: ControlDirectory,
  ) {}

  /**
   * SSH_CONFIG_FILES are the files stapctl resolved the hosts with (the user's, then the system's):
   * the run's config includes exactly those, whatever HOME ssh itself would look in.
   */
  static async start(env: NodeJS.ProcessEnv, sshConfigFiles: readonly string[]): Promise<OpensshTransport> {
    const ssh = await findSshClient(env);
    const directory = await ControlDirectory.create(env);
    try {
      const configFile = await directory.writeFile('config', sshConfigFiles.map((file) => `Include "${file}"\n`).join(''));
      return new OpensshTransport({ ssh, configFile }, directory);
    } catch (error) {
      await directory.remove();
      throw error;
    }
  }

  get controlDirectory(): string {
    return this.directory.path;
  }

  connect(route: HostRoute): Promise<SshSession> {
    return this.track(this.connectHost(route));
  }

  private async connectHost(route: HostRoute): Promise<SshSession> {
    const jump = route.proxyJump === undefined ? undefined : await this.jumpMaster(route.proxyJump);
    const { master, warnings } = await this.startMaster(route, jump?.master.socket);
    return new OpensshSession(this, master, [...(jump?.warnings ?? []), ...warnings]);
  }

  /** A jump host's master, shared by every host behind it; started again if it has gone. */
  private async jumpMaster(route: HostRoute): Promise<StartedMaster> {
    const key = JSON.stringify(route);
    const known = this.jumps.get(key);
    if (known !== undefined) {
      const started = await known.catch(() => undefined);
      if (started !== undefined && (await started.master.running())) return started;
    }
    const started = (async () => {
      const jump = route.proxyJump === undefined ? undefined : await this.jumpMaster(route.proxyJump);
      const own = await this.startMaster(route, jump?.master.socket);
      return { master: own.master, warnings: [...(jump?.warnings ?? []), ...own.warnings] };
    })();
    this.jumps.set(key, started);
    return started;
  }

  private async startMaster(route: HostRoute, jumpSocket: string | undefined): Promise<StartedMaster> {
    this.refuseWhenClosed(route);
    const socket = this.directory.socketPath();
    this.sockets.push({ socket, route });
    const started = await this.runSsh(masterArgs(this.run, route, socket, jumpSocket), { timeoutMs: route.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
    if (started.timedOut) throw connectTimeout(route);
    if (started.code !== 0) throw connectFailure(route, started.stderr + (await readFile(jumpErrors(socket), 'utf8').catch(() => '')));
    const check = await this.runSsh(checkArgs(this.run, route, socket), { timeoutMs: CONTROL_TIMEOUT_MS });
    const pid = masterPid(check.stderr);
    if (pid === undefined) throw masterLost(route, 'right after it connected', check.stderr);
    const master = new Master(route, socket, pid);
    this.masters.add(master);
    const outcome = hostKeyOutcome(route, started.stderr);
    if (outcome.refused !== undefined || this.closed) {
      await this.stopMaster(master);
      throw outcome.refused ?? interrupted(route);
    }
    return { master, warnings: outcome.warnings };
  }

  /** Runs ssh with ARGS in its own session, stdin closed; stdout and stderr are kept together. */
  runSsh(args: string[], options: { timeoutMs: number }): Promise<SshExit> {
    return new Promise((resolve) => {
      const child = this.spawnSsh(args, ['ignore', 'pipe', 'pipe']);
      const output = new CappedBuffer(SSH_STDERR_BYTES);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs);
      const keep = (chunk: Buffer) => void output.push(chunk);
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      // 'close', after the pipes are read to their end: nothing but this process holds them (a
      // master in the background has let them go, its jump client writes to a file).
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stderr: output.bytes().toString('utf8'), timedOut });
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ code: null, signal: null, stderr: `cannot run ${this.run.ssh}: ${error.message}`, timedOut: false });
      });
    });
  }

  spawnSsh(args: string[], stdio: ('ignore' | 'pipe')[]): ChildProcess {
    const child = spawn(this.run.ssh, args, { detached: true, stdio: stdio as ['ignore' | 'pipe', 'ignore' | 'pipe', 'ignore' | 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  get openssh(): OpensshRun {
    return this.run;
  }

  /** A host's session ended: its own master goes (jump masters stay for the hosts behind them). */
  release(master: Master): void {
    void this.track(this.stopMaster(master));
  }

  private async stopMaster(master: Master): Promise<void> {
    await master.stop();
    this.masters.delete(master);
  }

  /**
   * Ends the run: ssh processes still running are killed, every master is stopped, a master that
   * went to the background just as its start was given up (its socket is there) is told to exit,
   * and the control directory goes.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const child of this.children) child.kill('SIGKILL');
    // Commands still running end when their master does; starts under way see `closed` and stop theirs.
    const stopAll = () => Promise.allSettled([...this.masters].map((master) => this.stopMaster(master)));
    await stopAll();
    await Promise.allSettled([...this.pending]);
    await stopAll();
    for (const { socket, route } of this.sockets) {
      if (await exists(socket)) await this.runSsh(exitArgs(this.run, route, socket), { timeoutMs: CONTROL_TIMEOUT_MS });
    }
    await this.directory.remove();
  }

  track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const forget = () => this.pending.delete(work);
    work.then(forget, forget);
    return work;
  }

  private refuseWhenClosed(route: HostRoute): void {
    if (this.closed) throw interrupted(route);
  }
}

/** One host's commands, each a client of the host's master. */
class OpensshSession implements SshSession {
  private closed = false;

  constructor(
    private readonly transport: OpensshTransport,
    private readonly master: Master,
    readonly warnings: string[],
  ) {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const route = this.master.route;
    if (this.closed) return Promise.reject(masterLost(route, 'before the command started', ''));
    if (options.signal?.aborted) return Promise.reject(commandStopped(route.host, 'interrupted', options, Buffer.alloc(0)));
    const child = this.transport.spawnSsh(commandArgs(this.transport.openssh, route, this.master.socket, command), ['pipe', 'pipe', 'pipe']);
    return this.transport.track(
      new Promise<ExecResult>((resolve, reject) => {
        new RunningClient(child, options, {
          ended: (exit) => this.ended(exit).then(resolve, reject),
          failed: (error) => reject(new StapctlError('CONNECT_FAILED', `${route.host}: cannot run ssh: ${error.message}`, { host: route.host, cause: error })),
          stop: (reason, stderr) => {
            const failure = commandStopped(route.host, reason, options, stderr);
            this.stopRemote(options.stopCommand?.(stderr)).then(
              () => reject(failure),
              () => reject(failure),
            );
          },
        }).start();
      }),
    );
  }

  /**
   * ssh exits with the command's status, and with 255 for its own failures: a 255 is the
   * connection's only if the master is gone or the client said why (mux errors, the no-master
   * marker). A command killed by a signal is also 255 through a master (no exit-signal reaches
   * the client); the agent's launcher never exits 255 by itself.
   */
  private async ended(exit: { code: number | null; stdout: Buffer; stderr: Buffer }): Promise<ExecResult> {
    const route = this.master.route;
    if (exit.code === 255 || exit.code === null) {
      const text = exit.stderr.toString('utf8');
      if (!(await this.master.running())) throw masterLost(route, 'while the command ran', text);
      if (text.includes(NO_MASTER_MARKER) || /^(mux_client_|Control socket connect|muxclient:)/m.test(text)) throw masterLost(route, 'while the command ran', text);
    }
    return { code: exit.code, stdout: exit.stdout, stderr: exit.stderr };
  }

  /**
   * Ending the local client does not end the remote command (the master keeps its channel), so
   * the caller's stop command runs through the master as well, bounded by STOP_GRACE_MS.
   */
  private async stopRemote(stopCommand: string | undefined): Promise<void> {
    if (stopCommand === undefined || this.closed) return;
    await this.transport.runSsh(commandArgs(this.transport.openssh, this.master.route, this.master.socket, stopCommand), { timeoutMs: STOP_GRACE_MS });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.release(this.master);
  }
}

interface ClientEnd {
  ended: (exit: { code: number | null; stdout: Buffer; stderr: Buffer }) => void;
  failed: (error: Error) => void;
  stop: (reason: StopReason, stderr: Buffer) => void;
}

/**
 * One ssh client running a command: stdin written (and closed, or kept for what the command asks),
 * stdout and stderr capped, a deadline and an abort signal; it ends exactly once. On a stop the
 * client is killed by its PID; its pipes stay with the master until the remote command ends, so
 * they are let go.
 */
class RunningClient {
  private readonly watch: CommandWatch;

  constructor(
    private readonly child: ChildProcess,
    private readonly options: ExecOptions,
    private readonly end: ClientEnd,
  ) {
    this.watch = new CommandWatch(options, (reason, stderr) => {
      child.kill('SIGKILL');
      for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
      end.stop(reason, stderr);
    });
  }

  start(): void {
    const { child, watch } = this;
    child.stdout?.on('data', (chunk: Buffer) => watch.out(chunk));
    child.stderr?.on('data', (chunk: Buffer) => watch.err(chunk));
    child.on('close', (code) => watch.finish(() => this.end.ended({ code, stdout: watch.stdout.bytes(), stderr: watch.stderr.bytes() })));
    child.on('error', (error) => watch.finish(() => this.end.failed(error)));
    watch.arm();
    // A host that stops reading stdin must not crash the controller with EPIPE.
    child.stdin?.on('error', () => undefined);
    if (child.stdin) watch.feedStdin(child.stdin);
  }
}

function connectTimeout(route: HostRoute): StapctlError {
  const seconds = (route.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000;
  return new StapctlError('CONNECT_TIMEOUT', `no SSH session with ${route.host} (${hostPort(route.address, route.port)}) within ${seconds} s`, {
    host: route.host,
    hint: 'check that the host is up and sshd answers on that port; raise --connect-timeout for slow links',
  });
}

function masterLost(route: HostRoute, when: string, stderr: string): StapctlError {
  const lines = sshLines(stderr).filter((line) => line !== NO_MASTER_MARKER);
  return new StapctlError('CONNECT_FAILED', `${route.host}: connection lost ${when} (its ssh master is gone)`, {
    host: route.host,
    ...(lines.length > 0 && { detail: lines.slice(-12).join('\n') }),
    hint: 'check the network path to the host; run the action again',
  });
}

function interrupted(route: HostRoute): StapctlError {
  return new StapctlError('INTERRUPTED', 'interrupted before this host finished', { host: route.host, hint: 'run the action again on this host' });
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
