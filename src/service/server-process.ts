import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../sleep.js';
import { childProcess } from '../child-process.js';
import { StapctlError } from '../errors.js';
import { isServerProcess, listeners, readProcess, runningSince, socketInodes, type ProcessInfo } from './proc.js';
import type { ServerSpec } from './server-spec.js';
import { tailLines } from './service-log.js';
import { refuseRoot, type UserInfo } from './users.js';

export const STAP_SERVERD = '/usr/lib/systemtap/stap-serverd';
const STAP_GEN_CERT = '/usr/lib/systemtap/stap-gen-cert';
const SETPRIV = '/usr/bin/setpriv';

const START_TIMEOUT_MS = 10_000;
/** As the stock stap-stop-server: 20 tries, half a second apart. */
const TERM_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const POLL_MS = 20;
/** waitFor's looks start POLL_MS apart and grow by half up to this. */
const MAX_POLL_MS = 100;
const SETTLE_MS = 100;
const LOG_LINES_ON_FAILURE = 20;

/**
 * The stap-serverd command line of the stock start_server, as an argv array: no shell ever sees a
 * value, so `-D 'A=$(id)'` reaches the server as the literal macro it is.
 */
export function serverArgv(spec: ServerSpec, flags: { keepTemp: boolean; usePassword: boolean }, logPath: string): string[] {
  const argv = ['-a', spec.arch];
  if (flags.keepTemp) argv.push('-k');
  if (flags.usePassword) argv.push('-P');
  for (const release of spec.releases) argv.push('-r', release);
  for (const build of spec.builds) argv.push('-B', build);
  for (const include of spec.includes) argv.push('-I', include);
  for (const define of spec.defines) argv.push('-D', define);
  if (spec.runtime) argv.push('-R', spec.runtime);
  argv.push(`--log=${logPath}`);
  if (spec.port) argv.push('--port', spec.port);
  if (spec.ssl) argv.push('--ssl', spec.ssl);
  if (spec.maxThreads) argv.push('--max-threads', spec.maxThreads);
  if (spec.maxRequestSize) argv.push('--max-request-size', spec.maxRequestSize);
  if (spec.maxCompressedRequest) argv.push('--max-compressed-request', spec.maxCompressedRequest);
  return argv;
}

/**
 * What a login as the user would give (the stock script uses `runuser -`): stap-serverd and
 * stap-gen-cert find the certificate database under $HOME, so root's HOME would be the wrong one.
 */
export function userEnvironment(user: UserInfo): Record<string, string> {
  return {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell || '/bin/sh',
    PATH: '/usr/local/bin:/usr/bin:/bin',
  };
}

/**
 * setpriv switches to the user and then execs the program, so the PID we get is the program's.
 * The groups are set from `user` itself: the membership checked before is the one the server gets.
 */
export function asUserArgv(user: UserInfo, program: string, args: readonly string[]): string[] {
  const groups = user.groups.length === 0 ? ['--clear-groups'] : ['--groups', user.groups.join(',')];
  return ['--reuid', String(user.uid), '--regid', String(user.gid), ...groups, '--', program, ...args];
}

export function certificatePath(user: UserInfo): string {
  return join(user.home, '.systemtap', 'ssl', 'server', 'stap.cert');
}

/** The stock prepare_certs: the server's certificate database is made once, as the user. */
export async function ensureCertificate(user: UserInfo): Promise<void> {
  refuseRoot(user);
  const cert = certificatePath(user);
  if (existsSync(cert)) return;
  const failed = (message: string, detail: string) =>
    new StapctlError('CERT_FAILED', `${message}: ${cert} was not made`, {
      file: cert,
      detail,
      hint: `${user.name} needs a writable home (${user.home}); check it and run ${STAP_GEN_CERT} as ${user.name}`,
    });
  const { code, stderr } = await new Promise<{ code: number | string; stderr: string }>((resolve) => {
    let output = '';
    const child = childProcess().spawn(SETPRIV, asUserArgv(user, STAP_GEN_CERT, []), {
      cwd: existsSync(user.home) ? user.home : '/',
      env: userEnvironment(user),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.on('error', (error) => resolve({ code: (error as NodeJS.ErrnoException).code ?? 'error', stderr: error.message }));
    child.on('close', (exitCode, signal) => resolve({ code: exitCode ?? signal ?? 'unknown', stderr: output }));
  });
  if (code !== 0) throw failed(`stap-gen-cert as ${user.name} failed (${code})`, stderr.trim());
  if (!existsSync(cert)) throw failed(`stap-gen-cert as ${user.name} succeeded`, stderr.trim());
}

export interface StartedServer {
  pid: number;
  port: number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export interface SpawnOptions {
  timeoutMs?: number;
  settleMs?: number;
  logFile: string;
  /**
   * Called with the PID before stap-serverd is even executed: the caller records the server
   * there, so that a stapctl killed at any moment leaves no server, or one that the next run
   * finds, never an orphan. If it throws, the server is not started.
   */
  onSpawned?: (pid: number) => void;
}

/**
 * Start stap-serverd as `user` and return only once /proc shows it running as that user and
 * listening. The stock stap-start-server looks once with `ps` and prints OK for a server that dies
 * a moment later; here a server that exits, or does not listen within the timeout, is killed if
 * still there and reported with the lines it wrote to its log.
 */
export async function spawnServer(argv: string[], user: UserInfo, opts: SpawnOptions): Promise<StartedServer> {
  refuseRoot(user);
  const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
  const logOffset = fileSize(opts.logFile);
  const gated = new GatedServer(argv, user);
  if (gated.pid !== undefined) await recordThenOpen(gated, gated.pid, opts.onSpawned);
  const started = await untilListening(gated, user.uid, timeoutMs, opts.settleMs ?? SETTLE_MS);
  if (started) return started;

  let reason = gated.exit;
  if (reason === undefined) {
    reason = `did not listen on a TCP port within ${timeoutMs / 1000} s`;
    await gated.kill();
  }
  const written = tailLines(opts.logFile, LOG_LINES_ON_FAILURE, logOffset);
  throw new StapctlError('SERVER_START_FAILED', `stap-serverd (PID ${gated.pid}) ${reason}`, {
    file: opts.logFile,
    detail: written.length > 0 ? written.join('\n') : `stap-serverd wrote nothing to ${opts.logFile}`,
    hint: `see ${opts.logFile}; to see errors it prints before logging, run as ${user.name}: ${STAP_SERVERD} ${argv.join(' ')}`,
  });
}

/**
 * stap-serverd behind a gate: the gate holds the exec of setpriv (and so of stap-serverd, under
 * the same PID) until the caller has recorded the PID, so whenever stapctl dies there is either no
 * server or a recorded one. If stapctl dies first, `read` sees end of file and the server never
 * starts. The gate script is fixed; the server's arguments pass through it as "$@", never as shell text.
 */
class GatedServer {
  readonly pid: number | undefined;
  /** How the process ended, once it has. */
  exit: string | undefined;
  spawnError: Error | undefined;
  private readonly child: ChildProcess;

  constructor(argv: string[], user: UserInfo) {
    this.child = childProcess().spawn('/bin/sh', ['-c', 'read -r go && exec "$@" </dev/null', 'stapctl-gate', SETPRIV, ...asUserArgv(user, STAP_SERVERD, argv)], {
      cwd: '/',
      env: userEnvironment(user),
      stdio: ['pipe', 'ignore', 'ignore'],
      // Its own session: a Ctrl-C on stapctl's terminal must not reach the servers it started.
      detached: true,
    });
    // Listening to 'exit' makes node reap the child, so a server that dies leaves no zombie behind.
    this.child.on('exit', (code, signal) => (this.exit = signal === null ? `exited with status ${code}` : `was killed by ${signal}`));
    this.child.on('error', (error) => (this.spawnError = error));
    // A gate that already died makes the write fail; its 'exit' above says why.
    this.child.stdin?.on('error', () => undefined);
    this.child.unref();
    this.pid = this.child.pid;
  }

  open(): void {
    this.child.stdin?.end('go\n');
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await waitFor(() => this.exit !== undefined || this.spawnError !== undefined, KILL_TIMEOUT_MS);
  }
}

async function recordThenOpen(gated: GatedServer, pid: number, onSpawned: SpawnOptions['onSpawned']): Promise<void> {
  try {
    onSpawned?.(pid);
    gated.open();
  } catch (error) {
    await gated.kill();
    throw new StapctlError('SERVER_START_FAILED', `stap-serverd (PID ${pid}) could not be recorded, so it was stopped: ${(error as Error).message}`, {
      cause: error,
      hint: 'check that the status directory is writable',
    });
  }
}

/** The server once it runs as `uid` and listens, checked twice; undefined when it exits or the time is up. */
async function untilListening(gated: GatedServer, uid: number, timeoutMs: number, settleMs: number): Promise<StartedServer | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gated.spawnError !== undefined) {
      throw new StapctlError('SERVER_START_FAILED', `cannot run ${SETPRIV}: ${gated.spawnError.message}`, {
        hint: 'install util-linux (it provides setpriv)',
        cause: gated.spawnError,
      });
    }
    const { pid } = gated;
    const [listener] = pid !== undefined && gated.exit === undefined && isServerProcess(readProcess(pid), uid) ? listeners(pid) : [];
    if (pid !== undefined && listener !== undefined) {
      // stap-serverd listens before it checks its certificate; a second look a moment later
      // still catches a server that fails right after, which the stock script calls OK. That look
      // is for the listening socket among the process's descriptors, not in the TCP tables again:
      // the kernel writes out every socket of the namespace for each read of a table (~5 ms of
      // CPU with a thousand sockets), and a listening socket stops listening only when it is
      // closed (or shut down, which stap-serverd does only on its way out).
      await sleep(settleMs);
      if (gated.exit === undefined && isServerProcess(readProcess(pid), uid) && socketInodes(pid).has(listener.inode)) return { pid, port: listener.port };
    }
    if (gated.exit !== undefined || Date.now() >= deadline) return undefined;
    await sleep(POLL_MS);
  }
}

/**
 * Looks again and again, ever less often: a stap-serverd takes from a few milliseconds to about a
 * second to exit after SIGTERM, and each look costs CPU on every host at once (a stop looked every
 * 20 ms; half a second now takes 7 looks instead of 23, each at most 100 ms late).
 */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = POLL_MS; !condition(); pause = Math.min(MAX_POLL_MS, pause * 1.5)) {
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
  }
  return true;
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

export interface StopOptions {
  termTimeoutMs?: number;
  killTimeoutMs?: number;
  /** Which process may be signalled; stap-serverd of `uid` unless a test runs this on a stand-in. */
  isTarget?: (info: ProcessInfo | undefined) => boolean;
}

/**
 * Stop one server: SIGTERM, then SIGKILL when it has not gone after the timeout (the stock
 * stap-stop-server gives up instead and leaves it running). Before each signal the PID must still
 * be the same stap-serverd of the same user, started at the same moment: a PID that was reused in
 * between is never signalled.
 */
export async function stopServer(pid: number, uid: number, opts: StopOptions = {}): Promise<'stopped' | 'killed' | 'not-running'> {
  const isTarget = opts.isTarget ?? ((info: ProcessInfo | undefined) => isServerProcess(info, uid));
  const first = readProcess(pid);
  if (first === undefined || !isTarget(first)) return 'not-running';
  const stillThere = () => {
    const now = readProcess(pid);
    return now !== undefined && now.state !== 'Z' && now.startTime === first.startTime && isTarget(now);
  };
  // While it is waited for, /proc/PID/stat alone tells whether the process that started then is
  // gone; the whole check (status and exe too) is made before each signal, not at each look.
  const gone = () => !runningSince(pid, first.startTime);

  if (!signal(pid, 'SIGTERM')) return 'stopped';
  if (await waitFor(gone, opts.termTimeoutMs ?? TERM_TIMEOUT_MS)) return 'stopped';

  if (!stillThere() || !signal(pid, 'SIGKILL')) return 'stopped';
  if (await waitFor(gone, opts.killTimeoutMs ?? KILL_TIMEOUT_MS)) return 'killed';
  throw new StapctlError('SERVER_STOP_FAILED', `stap-serverd PID ${pid} is still there after SIGKILL`, {
    hint: `it is probably stuck in the kernel (state ${readProcess(pid)?.state ?? '?'} in /proc/${pid}/stat); check it with ps -o pid,stat,wchan -p ${pid}`,
  });
}
