/**
 * One SSH connection to one host, in-process with ssh2: verified host key, planned authentication,
 * optional ProxyJump hops, exec with stdin and a deadline, and atomic uploads over SFTP.
 * Every failure is a StapctlError that carries the host.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { StapctlError } from '../../errors.js';
import { authFailure, createAuthSession, type AuthPlan, type AuthSession } from './auth.js';
import type { HostKeyPolicy } from './config.js';
import { checkHostKey, fingerprint, hostLookupName, KnownHostsFiles, preferredHostKeyAlgorithms, type HostKeyVerdict } from './known-hosts.js';

export interface ConnectOptions {
  /** The name the user knows the host by, used in messages and errors. */
  host: string;
  address: string;
  port: number;
  user: string;
  auth: AuthPlan;
  hostKeyPolicy: HostKeyPolicy;
  /** Checked in order; the first is the user's file, where accept-new records new keys. */
  knownHostsFiles: string[];
  /** ssh's HostKeyAlias: the name looked up in known_hosts instead of the address. */
  hostKeyAlias?: string;
  /** Whole handshake, authentication included (ssh2's readyTimeout). Default 10 s. */
  connectTimeoutMs?: number;
  /** Default 15 s; three unanswered keepalives end the connection. */
  keepaliveIntervalMs?: number;
  /** The previous hop, connected first; this host is reached through its direct-tcpip channel. */
  proxyJump?: ConnectOptions;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
  /** The command printed more than maxOutputBytes on stdout; the rest was read and dropped. */
  truncated: boolean;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  /** On expiry the remote command's process group is killed and the call rejects with HOST_TIMEOUT. */
  timeoutMs?: number;
  /** The command that kills the remote command's process group on timeout (default: `kill -KILL -GROUP`). */
  killCommand?: (processGroup: number) => string;
  /**
   * At most this much of stdout is kept (default 1 MiB), and 64 KiB of stderr: a host cannot make
   * the controller's memory grow with what it prints.
   */
  maxOutputBytes?: number;
}

export interface SshSession {
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Never leaves a half-written file at remotePath: it writes a temporary name, then renames. */
  upload(localPath: string, remotePath: string, mode: number): Promise<void>;
  close(): void;
  /** Things the user should hear about although the connection works (host key not checked, ...). */
  readonly warnings: string[];
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 15_000;

/** ssh2's own default host key algorithms (lib/protocol/constants.js), which it does not export. */
const SSH2_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * The cheapest safe algorithms first, whatever ssh2's defaults (which follow its CPU detection):
 * curve25519 costs a fraction of the NIST curves and of Diffie-Hellman, AES-GCM runs in hardware
 * where chacha20 does not, and compression would only cost CPU for the few kB of a run. ssh2's
 * other algorithms stay as fallbacks; its defaults include no weak one.
 */
const CHEAPEST_FIRST: NonNullable<ConnectConfig['algorithms']> = {
  // @types/ssh2 wants all three keys of an edit of the default list; empty ones change nothing.
  kex: { prepend: ['curve25519-sha256', 'curve25519-sha256@libssh.org'], append: [], remove: [] },
  cipher: { prepend: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'], append: [], remove: [] },
  compress: ['none'],
};

// Without `--`: dash's kill, the login shell of many users, refuses it.
export const killProcessGroupCommand = (processGroup: number): string => `kill -KILL -${processGroup}`;

/**
 * The jump hosts of one run, each connected once and shared by every host behind it (a channel
 * each), as one `ssh -J` master would be; a jump whose connection ended is connected again.
 */
export class JumpHosts {
  private readonly open = new Map<string, Promise<Session>>();

  session(options: ConnectOptions, connectOne: () => Promise<Session>): Promise<Session> {
    const key = jumpKey(options);
    const known = this.open.get(key);
    if (known !== undefined) {
      return known.then(
        (session) => (session.isOpen ? session : this.replace(key, connectOne)),
        () => this.replace(key, connectOne),
      );
    }
    return this.replace(key, connectOne);
  }

  /** Ends every jump connection: when the run is over. */
  close(): void {
    for (const session of this.open.values()) session.then((opened) => opened.close(), () => undefined);
    this.open.clear();
  }

  private replace(key: string, connectOne: () => Promise<Session>): Promise<Session> {
    const session = connectOne();
    this.open.set(key, session);
    return session;
  }
}

/** Everything that makes two jump connections the same: the whole chain, as resolved. */
function jumpKey(options: ConnectOptions): string {
  const { host, address, port, user, hostKeyAlias, proxyJump } = options;
  return JSON.stringify([host, address, port, user, hostKeyAlias ?? '', proxyJump === undefined ? '' : jumpKey(proxyJump)]);
}

/**
 * KNOWN_HOSTS is shared by the connections of one run, so that each file is read once; so are
 * JUMPS, so that hosts behind one bastion share its connection (without, each host has its own).
 */
export function connect(options: ConnectOptions, knownHosts: KnownHostsFiles = new KnownHostsFiles(), jumps?: JumpHosts): Promise<SshSession> {
  return open(options, knownHosts, jumps);
}

async function open(options: ConnectOptions, knownHosts: KnownHostsFiles, jumps: JumpHosts | undefined): Promise<Session> {
  const hop = options.proxyJump;
  const jump = hop === undefined ? undefined : await (jumps === undefined ? open(hop, knownHosts, undefined) : jumps.session(hop, () => open(hop, knownHosts, jumps)));
  // A shared jump belongs to the run, not to this host.
  const owned = jumps === undefined ? jump : undefined;
  try {
    const sock = jump === undefined ? undefined : await jump.forward(options);
    const { client, warnings } = await handshake(options, sock, knownHosts);
    return new Session(client, options, [...(jump?.warnings ?? []), ...warnings], owned);
  } catch (error) {
    owned?.close();
    throw error;
  }
}

interface HostKeyCheck {
  verdict?: HostKeyVerdict;
  presented?: Buffer;
}

function handshake(
  options: ConnectOptions,
  sock: ClientChannel | undefined,
  knownHosts: KnownHostsFiles,
): Promise<{ client: ssh2.Client; warnings: string[] }> {
  const warnings: string[] = [];
  const lookupName = options.hostKeyAlias ?? options.address;
  const entries = knownHosts.candidates(options.knownHostsFiles, hostLookupName(lookupName, options.port));
  const check: HostKeyCheck = {};
  const auth = createAuthSession(options.auth, options.user);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;

  // ssh2 treats any truthy return as acceptance, a Promise included: this must stay synchronous.
  const hostVerifier = (key: Buffer): boolean => {
    const verdict = checkHostKey(entries, lookupName, options.port, key);
    check.verdict = verdict;
    check.presented = key;
    if (verdict.status === 'match') return true;
    if (verdict.status !== 'unknown') return false;
    if (options.hostKeyPolicy === 'off') {
      warnings.push(`host key of ${options.host} (${fingerprint(key)}) was not checked: --host-key-check off`);
      return true;
    }
    const userFile = options.knownHostsFiles[0];
    if (options.hostKeyPolicy === 'accept-new' && userFile !== undefined) {
      knownHosts.record(userFile, lookupName, options.port, key);
      warnings.push(`recorded new host key of ${options.host} (${fingerprint(key)}) in ${userFile}`);
      return true;
    }
    return false;
  };

  const config: ConnectConfig = {
    username: options.user,
    hostVerifier,
    authHandler: auth.handler,
    readyTimeout: timeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: 3,
    algorithms: {
      serverHostKey: preferredHostKeyAlgorithms(entries, lookupName, options.port, SSH2_HOST_KEY_ALGORITHMS) as never,
      ...CHEAPEST_FIRST,
    },
    ...(sock === undefined ? { host: options.address, port: options.port } : { sock }),
  };

  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    client.on('ready', () => {
      settled = true;
      resolve({ client, warnings });
    });
    client.on('error', (error: Error & { level?: string }) => {
      // A dead agent socket is reported, then ssh2 goes on with the identity files.
      if (error.level === 'agent') {
        warnings.push(`ssh-agent unusable: ${error.message}`);
        return;
      }
      if (settled) return;
      settled = true;
      client.end();
      reject(connectError(error, options, check, auth, timeoutMs));
    });
    client.on('close', () => {
      if (settled) return;
      settled = true;
      reject(connectError(new Error('connection closed during the handshake'), options, check, auth, timeoutMs));
    });
    client.connect(config);
    ignoreHostKeyUpdates(client);
  });
}

type GlobalRequestHandler = (protocol: unknown, name: string, wantReply: boolean, data: unknown) => void;

/**
 * After authentication OpenSSH's sshd announces all its host keys (`hostkeys-00@openssh.com`), and
 * ssh2 answers by asking it to prove each one: a round trip, a signature by every host key of the
 * host (RSA among them) and a verification here per key, on every connection, for keys stapctl
 * never uses (it records only the key it verified). The announcement wants no reply; it is
 * ignored, as ssh does with UpdateHostKeys no. ssh2 offers no option for it: its message handler
 * table is wrapped, and left alone if ssh2 ever names it differently.
 */
function ignoreHostKeyUpdates(client: ssh2.Client): void {
  const handlers = (client as unknown as { _protocol?: { _handlers?: { GLOBAL_REQUEST?: GlobalRequestHandler } } })._protocol?._handlers;
  const answer = handlers?.GLOBAL_REQUEST;
  if (handlers === undefined || answer === undefined) return;
  handlers.GLOBAL_REQUEST = (protocol, name, wantReply, data) => {
    if (name === 'hostkeys-00@openssh.com' && !wantReply) return;
    answer(protocol, name, wantReply, data);
  };
}

/** Maps what ssh2 reports to what the user can act on; the host key verdict outranks ssh2's text. */
function connectError(
  error: Error & { level?: string; code?: string | number },
  options: ConnectOptions,
  check: HostKeyCheck,
  auth: AuthSession,
  timeoutMs: number,
): StapctlError {
  const where = `${options.address}:${options.port}`;
  const host = options.host;
  const verdict = check.verdict;
  const presented = check.presented === undefined ? '' : fingerprint(check.presented);
  const lookupName = options.hostKeyAlias ?? options.address;
  if (verdict?.status === 'mismatch') {
    return new StapctlError(
      'HOST_KEY_MISMATCH',
      `HOST KEY CHANGED for ${host} (${where}): it presented ${presented}, which is not the key recorded at ${verdict.file}:${verdict.line}. ` +
        'Someone may be intercepting the connection (man in the middle), or the host was reinstalled. Refusing to connect.',
      {
        host,
        file: verdict.file,
        line: verdict.line,
        cause: error,
        hint: `only if you know why the key changed: ssh-keygen -R '${hostLookupName(lookupName, options.port)}' -f ${verdict.file}, then add the new key`,
      },
    );
  }
  if (verdict?.status === 'revoked') {
    return new StapctlError('HOST_KEY_REVOKED', `host key ${presented} of ${host} (${where}) is revoked at ${verdict.file}:${verdict.line}; refusing to connect`, {
      host,
      file: verdict.file,
      line: verdict.line,
      cause: error,
      hint: 'the host must get a new host key; a revoked key is never accepted',
    });
  }
  if (verdict?.status === 'unknown' && error.level === 'handshake') {
    const portFlag = options.port === 22 ? '' : `-p ${options.port} `;
    return new StapctlError('HOST_KEY_UNKNOWN', `host key of ${host} (${where}) is not known: ${presented}`, {
      host,
      cause: error,
      hint:
        `check the fingerprint out of band, then: ssh-keyscan ${portFlag}${lookupName} >> ${options.knownHostsFiles[0] ?? '~/.ssh/known_hosts'}` +
        ' (or run once with --host-key-check accept-new)',
    });
  }
  if (error.level === 'client-authentication') return authFailure(options.auth, auth, options.user, host);
  if (error.level === 'client-timeout') {
    return new StapctlError('CONNECT_TIMEOUT', `no SSH session with ${host} (${where}) within ${timeoutMs / 1000} s`, {
      host,
      cause: error,
      hint: 'check that the host is up and sshd answers on that port; raise --connect-timeout for slow links',
    });
  }
  const code = typeof error.code === 'string' ? `${error.code}: ` : '';
  return new StapctlError('CONNECT_FAILED', `cannot connect to ${host} (${where}): ${code === '' ? error.message : code.slice(0, -2)}`, {
    host,
    cause: error,
    detail: error.message,
    hint:
      error.code === 'ECONNREFUSED'
        ? 'nothing listens on that port: is sshd running, and are the inventory address and port right?'
        : 'check the address, the port and the network path to the host',
  });
}

class Session implements SshSession {
  private closed = false;
  private lastError?: Error;
  private sftpChannel?: Promise<SFTPWrapper>;

  constructor(
    private readonly client: ssh2.Client,
    private readonly options: ConnectOptions,
    readonly warnings: string[],
    private readonly jump: Session | undefined,
  ) {
    // After the handshake ssh2 still reports transport errors here; without a listener they crash.
    client.on('error', (error: Error) => {
      this.lastError = error;
    });
    client.on('close', () => {
      this.closed = true;
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const host = this.options.host;
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.lost('before the command started'));
        return;
      }
      this.client.exec(`${PID_REPORT}${command}`, (error, channel) => {
        if (error !== undefined && error !== null) {
          reject(new StapctlError('CONNECT_FAILED', `${host}: cannot start a command: ${error.message}`, { host, cause: error }));
          return;
        }
        const stdout = new CappedOutput(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
        const stderr = new PidReportingStderr();
        let exit: { code: number | null; signal?: string } | undefined;
        let timer: NodeJS.Timeout | undefined;
        let done = false;
        const finish = (outcome: () => void): void => {
          if (done) return;
          done = true;
          if (timer !== undefined) clearTimeout(timer);
          outcome();
        };
        channel.on('data', (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        channel.on('exit', (code: number | null, signal?: string) => {
          exit = { code: typeof code === 'number' ? code : null, ...(signal !== undefined && signal !== null && { signal }) };
        });
        channel.on('close', () => {
          finish(() => {
            if (exit === undefined) {
              reject(this.lost('while the command ran'));
              return;
            }
            resolve({ ...exit, stdout: stdout.output(), stderr: stderr.output(), truncated: stdout.truncated });
          });
        });
        if (options.timeoutMs !== undefined) {
          const timeoutMs = options.timeoutMs;
          timer = setTimeout(() => {
            finish(() => {
              const timeout = new StapctlError('HOST_TIMEOUT', `${host}: the command did not finish within ${timeoutMs / 1000} s and was killed`, {
                host,
                detail: stderr.output().toString('utf8'),
                hint: 'raise --timeout if the host is just slow',
              });
              this.killRemote(channel, stderr.pid, options.killCommand ?? killProcessGroupCommand).then(
                () => reject(timeout),
                () => reject(timeout),
              );
            });
          }, timeoutMs);
        }
        channel.end(options.stdin);
      });
    });
  }

  /**
   * Stops a remote command past its deadline. A signal request (RFC 4254 6.9) is the clean way,
   * but OpenSSH honours it only for sessions behind privilege separation, which root logins are
   * not; and closing the channel does not stop a command that is not writing. So the process
   * group of the session (sshd makes the login shell a session leader, pgid = its pid, reported
   * by PID_REPORT) is also killed from a second channel on the same connection.
   */
  private async killRemote(channel: ClientChannel, pid: number | undefined, killCommand: (processGroup: number) => string): Promise<void> {
    // ssh2's channel.signal() stays silent once our side sent EOF, which it always has after stdin.
    const internals = channel as unknown as { outgoing: { id: number; state: string }; _client: { _protocol: { signal(id: number, name: string): void } } };
    if (internals.outgoing.state === 'open' || internals.outgoing.state === 'eof') {
      internals._client._protocol.signal(internals.outgoing.id, 'KILL');
    }
    channel.close();
    if (pid === undefined || this.closed) return;
    const kill = killCommand(pid);
    await new Promise<void>((resolve) => {
      const guard = setTimeout(resolve, KILL_GRACE_MS);
      this.client.exec(kill, (error, killer) => {
        if (error !== undefined && error !== null) {
          clearTimeout(guard);
          resolve();
          return;
        }
        killer.resume();
        killer.stderr.resume();
        killer.on('close', () => {
          clearTimeout(guard);
          resolve();
        });
        killer.end();
      });
    });
  }

  async upload(localPath: string, remotePath: string, mode: number): Promise<void> {
    const sftp = await this.sftp();
    const temporary = `${remotePath}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await mkdirp(sftp, posix.dirname(remotePath));
      await call((cb) => sftp.fastPut(localPath, temporary, { mode }, cb));
      // The remote umask trims the mode given at creation.
      await call((cb) => sftp.chmod(temporary, mode, cb));
      await call((cb) => sftp.ext_openssh_rename(temporary, remotePath, cb));
    } catch (error) {
      await call((cb) => sftp.unlink(temporary, cb)).catch(() => undefined);
      throw new StapctlError('UPLOAD_FAILED', `${this.options.host}: upload to ${remotePath} failed: ${(error as Error).message}`, {
        host: this.options.host,
        hint: "the host's sshd must offer SFTP and the login user's home must be writable",
        cause: error,
      });
    }
  }

  /** Runs a direct-tcpip channel to the next hop, as `ssh -J` does. */
  forward(next: ConnectOptions): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.lost(`before forwarding to ${next.host}`));
        return;
      }
      this.client.forwardOut('127.0.0.1', 0, next.address, next.port, (error, stream) => {
        if (error !== undefined && error !== null) {
          reject(
            new StapctlError('CONNECT_FAILED', `cannot connect to ${next.host} (${next.address}:${next.port}) through ${this.options.host}: ${error.message}`, {
              host: next.host,
              cause: error,
              hint: `check that ${this.options.host} can reach ${next.address}:${next.port} and allows TCP forwarding`,
            }),
          );
          return;
        }
        resolve(stream);
      });
    });
  }

  close(): void {
    this.client.end();
    this.jump?.close();
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, sftp) => (error !== undefined && error !== null ? reject(error) : resolve(sftp)));
    });
    return this.sftpChannel;
  }

  private lost(when: string): StapctlError {
    const reason = this.lastError === undefined ? '' : `: ${this.lastError.message}`;
    return new StapctlError('CONNECT_FAILED', `${this.options.host}: connection lost ${when}${reason}`, {
      host: this.options.host,
      ...(this.lastError !== undefined && { cause: this.lastError }),
    });
  }
}

/**
 * Prefixed to every command: the login shell reports its pid (its process group) on stderr
 * before it runs the command, so a timeout can kill the whole group. Stripped from stderr.
 */
const PID_REPORT = "printf 'stapctl-pid %s\\n' \"$$\" >&2; ";
const PID_LINE = /(?:^|\n)(stapctl-pid (\d+)\n)/;
const KILL_GRACE_MS = 5000;

/** The first LIMIT bytes of a stream; the rest is counted as dropped. */
class CappedOutput {
  protected readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  output(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The marker is looked for anywhere, since a login script may print to stderr before it. */
class PidReportingStderr extends CappedOutput {
  constructor() {
    super(MAX_STDERR_BYTES);
  }

  get pid(): number | undefined {
    const match = PID_LINE.exec(Buffer.concat(this.chunks).toString('latin1'));
    return match === null ? undefined : Number(match[2]);
  }

  override output(): Buffer {
    const all = Buffer.concat(this.chunks);
    const match = PID_LINE.exec(all.toString('latin1'));
    if (match === null || match[1] === undefined) return all;
    const start = match.index + match[0].length - match[1].length;
    return Buffer.concat([all.subarray(0, start), all.subarray(start + match[1].length)]);
  }
}

function call(operation: (callback: (error?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    operation((error) => (error !== undefined && error !== null ? reject(error) : resolve()));
  });
}

/** mkdir -p over SFTP: a component that already exists as a directory is fine. */
async function mkdirp(sftp: SFTPWrapper, dir: string): Promise<void> {
  if (dir === '.' || dir === '/' || dir === '') return;
  const parts = dir.split('/');
  for (let index = 1; index <= parts.length; index++) {
    const path = parts.slice(0, index).join('/');
    if (path === '' || path === '.' || path === '~') continue;
    const exists = await new Promise<boolean>((resolve) => {
      sftp.stat(path, (error, stats) => resolve((error === undefined || error === null) && stats.isDirectory()));
    });
    if (!exists) await call((cb) => sftp.mkdir(path, cb));
  }
}
