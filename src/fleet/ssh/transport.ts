/**
 * One SSH connection to one host, in-process with ssh2: verified host key, planned authentication,
 * optional ProxyJump hops, exec with stdin, a deadline, an abort signal and an output cap. No SFTP:
 * the agent installs itself through an exec's stdin. Plain SSH: what runs on the host is the
 * caller's business.
 * Every failure is a StapctlError that carries the host.
 */
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { StapctlError } from '../../errors.js';
import { commandStopped, CommandWatch, STOP_GRACE_MS, type StopReason } from './command-limits.js';
import { hostPort } from '../../port.js';
import { authFailure, createAuthSession, type AuthPlan, type AuthSession } from './auth.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type HostRoute } from './host-route.js';
import { startProxyCommand, type ProxyCommandProcess } from './proxy-command.js';
import { signPublicKeyRequestsAtOnce } from './signed-publickey.js';
import { checkHostKey, fingerprint, hostLookupName, KnownHostsFiles, preferredHostKeyAlgorithms, type HostKeyVerdict } from './known-hosts.js';

export interface ConnectOptions extends Omit<HostRoute, 'identities' | 'identitiesOnly' | 'proxyJump'> {
  /** What the route's identities became once read: ssh2 needs the keys themselves. */
  auth: AuthPlan;
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
}

export interface ExecOptions {
  stdin?: string | Buffer;
  /**
   * The rest of stdin, sent only if the command asks for it: stdin then stays open after `stdin`
   * until stderr holds the line `marker`, when `data` is written and stdin closed. A command that
   * never asks ends with stdin open, and `data` is never sent (the agent's launcher asks for the
   * agent only when the host has none that checks out: contract.ts).
   */
  stdinOnRequest?: StdinOnRequest;
  /** On expiry the command is stopped and the call rejects with HOST_TIMEOUT. */
  timeoutMs?: number;
  /** On abort the command is stopped and the call rejects with INTERRUPTED. */
  signal?: AbortSignal;
  /**
   * Past this many bytes on stdout or on stderr (default 1 MiB) the command is stopped and the
   * call rejects with OUTPUT_TOO_LARGE: a host cannot make the controller's memory grow with what
   * it prints.
   */
  maxOutputBytes?: number;
  /**
   * A command that stops the first one's processes, run on a second channel of the same
   * connection when the command is stopped; given the stderr received so far. Closing the channel
   * alone does not stop a command that is not writing.
   */
  stopCommand?: (stderr: Buffer) => string | undefined;
}

export interface StdinOnRequest {
  marker: string;
  data: Buffer;
}

export interface SshSession {
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  close(): void;
  /** Things the user should hear about although the connection works (host key not checked, ...). */
  readonly warnings: string[];
}

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
  const { host, address, port, user, hostKeyAlias, proxyJump, proxyCommand } = options;
  return JSON.stringify([host, address, port, user, hostKeyAlias ?? '', proxyCommand ?? '', proxyJump === undefined ? '' : jumpKey(proxyJump)]);
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
  const proxy = options.proxyCommand === undefined ? undefined : startProxyCommand(options.proxyCommand);
  try {
    const sock = proxy?.socket ?? (jump === undefined ? undefined : await jump.forward(options));
    const { client, warnings } = await handshake(options, sock, knownHosts);
    return new Session(client, options, [...(jump?.warnings ?? []), ...warnings], owned, proxy);
  } catch (error) {
    owned?.close();
    proxy?.stop();
    throw proxy !== undefined && error instanceof StapctlError && error.code === 'CONNECT_FAILED' ? proxyFailure(options, proxy, error) : error;
  }
}

function proxyFailure(options: ConnectOptions, proxy: ProxyCommandProcess, error: StapctlError): StapctlError {
  const stderr = proxy.stderr();
  return new StapctlError('CONNECT_FAILED', `cannot connect to ${options.host} through its ProxyCommand${stderr ? `: ${stderr.split('\n').at(-1) ?? ''}` : ''}`, {
    host: options.host,
    cause: error,
    detail: [`ProxyCommand: ${options.proxyCommand ?? ''}`, stderr].filter(Boolean).join('\n'),
    hint: 'run the ProxyCommand of ~/.ssh/config by hand (`ssh -v HOST` shows it) and check that it reaches the host',
  });
}

interface HostKeyCheck {
  verdict?: HostKeyVerdict;
  presented?: Buffer;
}

/** What one handshake needs to decide on the host key and to explain a failure. */
interface Handshake {
  options: ConnectOptions;
  knownHosts: KnownHostsFiles;
  lookupName: string;
  entries: ReturnType<KnownHostsFiles['candidates']>;
  check: HostKeyCheck;
  auth: AuthSession;
  timeoutMs: number;
  warnings: string[];
}

function handshake(options: ConnectOptions, sock: Duplex | undefined, knownHosts: KnownHostsFiles): Promise<{ client: ssh2.Client; warnings: string[] }> {
  const lookupName = options.hostKeyAlias ?? options.address;
  const state: Handshake = {
    options,
    knownHosts,
    lookupName,
    entries: knownHosts.candidates(options.knownHostsFiles, hostLookupName(lookupName, options.port)),
    check: {},
    auth: createAuthSession(options.auth, options.user),
    timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    warnings: [],
  };
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const fail = (error: Error & { level?: string }): void => {
      if (settled) return;
      settled = true;
      client.end();
      reject(connectError(error, state));
    };
    client.on('ready', () => {
      settled = true;
      resolve({ client, warnings: state.warnings });
    });
    client.on('error', (error: Error & { level?: string }) => {
      // A dead agent socket is reported, then ssh2 goes on with the identity files.
      if (error.level === 'agent') state.warnings.push(`ssh-agent unusable: ${error.message}`);
      else fail(error);
    });
    client.on('close', () => fail(new Error('connection closed during the handshake')));
    client.connect(clientConfig(state, sock));
    // Each SSH packet is one write; Nagle's algorithm would hold a small one back until the
    // previous one is acknowledged, which Linux delays by up to 40 ms: 40 ms of the 78 of a handshake.
    client.setNoDelay(true);
    ignoreHostKeyUpdates(client);
    signPublicKeyRequestsAtOnce(client);
  });
}

function clientConfig(state: Handshake, sock: Duplex | undefined): ConnectConfig {
  const { options } = state;
  return {
    username: options.user,
    hostVerifier: (key: Buffer) => verifyHostKey(state, key),
    authHandler: state.auth.handler,
    readyTimeout: state.timeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: 3,
    algorithms: {
      serverHostKey: preferredHostKeyAlgorithms(state.entries, state.lookupName, options.port, SSH2_HOST_KEY_ALGORITHMS) as never,
      ...CHEAPEST_FIRST,
    },
    ...(sock === undefined ? { host: options.address, port: options.port } : { sock }),
  };
}

/** ssh2 treats any truthy return as acceptance, a Promise included: this must stay synchronous. */
function verifyHostKey(state: Handshake, key: Buffer): boolean {
  const { options } = state;
  const verdict = checkHostKey(state.entries, state.lookupName, options.port, key);
  state.check.verdict = verdict;
  state.check.presented = key;
  if (verdict.status === 'match') return true;
  if (verdict.status !== 'unknown') return false;
  if (options.hostKeyPolicy === 'off') {
    state.warnings.push(`host key of ${options.host} (${fingerprint(key)}) was not checked: --host-key-check off`);
    return true;
  }
  const userFile = options.knownHostsFiles[0];
  if (options.hostKeyPolicy === 'accept-new' && userFile !== undefined) {
    state.knownHosts.record(userFile, state.lookupName, options.port, key);
    state.warnings.push(`recorded new host key of ${options.host} (${fingerprint(key)}) in ${userFile}`);
    return true;
  }
  return false;
}

type GlobalRequestHandler = (protocol: unknown, name: string, wantReply: boolean, data: unknown) => void;

/**
 * After authentication OpenSSH's sshd announces all its host keys (`hostkeys-00@openssh.com`), and
 * ssh2 answers by asking it to prove each one: a round trip, a signature by every host key of the
 * host (RSA among them) and a verification here per key, on every connection, for keys stapctl
 * never uses (it records only the key it verified). The announcement wants no reply; it is
 * ignored, as ssh does with UpdateHostKeys no. ssh2 offers no option for it: its message handler
 * table is wrapped, and left alone if ssh2 ever names it differently.
 *
 * Yet something must be sent at once. sshd writes the announcement and then, as a separate write,
 * the confirmation of the channel that the command waits for; sshd leaves Nagle's algorithm on for
 * a session without a terminal, so the confirmation waits for the announcement's ACK, which Linux
 * delays by 40 ms when the receiver has nothing to send. A keepalive request (the one ssh2 sends
 * every keepaliveInterval, answered by sshd) carries that ACK: the first command of a connection
 * took 45-50 ms longer without it.
 */
function ignoreHostKeyUpdates(client: ssh2.Client): void {
  const internals = client as unknown as { _callbacks?: (() => void)[]; _protocol?: { ping?: () => void; _handlers?: { GLOBAL_REQUEST?: GlobalRequestHandler } } };
  const protocol = internals._protocol;
  const handlers = protocol?._handlers;
  const answer = handlers?.GLOBAL_REQUEST;
  if (handlers === undefined || answer === undefined) return;
  handlers.GLOBAL_REQUEST = (self, name, wantReply, data) => {
    if (name !== 'hostkeys-00@openssh.com' || wantReply) {
      answer(self, name, wantReply, data);
      return;
    }
    // ssh2 pairs each reply to a global request with the next callback in this queue, in order.
    if (internals._callbacks !== undefined && typeof protocol?.ping === 'function') {
      internals._callbacks.push(() => undefined);
      protocol.ping();
    }
  };
}

type Ssh2Error = Error & { level?: string; code?: string | number };

/** Maps what ssh2 reports to what the user can act on; the host key verdict outranks ssh2's text. */
function connectError(error: Ssh2Error, state: Handshake): StapctlError {
  const { options, check } = state;
  const verdict = check.verdict;
  if (verdict?.status === 'mismatch') return hostKeyChanged(error, state, verdict);
  if (verdict?.status === 'revoked') return hostKeyRevoked(error, state, verdict);
  if (verdict?.status === 'unknown' && error.level === 'handshake') return hostKeyUnknown(error, state);
  if (error.level === 'client-authentication') return authFailure(options.auth, state.auth, options.user, options.host);
  if (error.level === 'client-timeout') {
    return new StapctlError('CONNECT_TIMEOUT', `no SSH session with ${options.host} (${where(options)}) within ${state.timeoutMs / 1000} s`, {
      host: options.host,
      cause: error,
      hint: 'check that the host is up and sshd answers on that port; raise --connect-timeout for slow links',
    });
  }
  return connectFailed(error, options);
}

function where(options: ConnectOptions): string {
  return hostPort(options.address, options.port);
}

function presentedKey(check: HostKeyCheck): string {
  return check.presented === undefined ? '' : fingerprint(check.presented);
}

function hostKeyChanged(error: Ssh2Error, state: Handshake, verdict: Extract<HostKeyVerdict, { status: 'mismatch' }>): StapctlError {
  const { options } = state;
  return new StapctlError(
    'HOST_KEY_MISMATCH',
    `HOST KEY CHANGED for ${options.host} (${where(options)}): it presented ${presentedKey(state.check)}, which is not the key recorded at ${verdict.file}:${verdict.line}. ` +
      'Someone may be intercepting the connection (man in the middle), or the host was reinstalled. Refusing to connect.',
    {
      host: options.host,
      file: verdict.file,
      line: verdict.line,
      cause: error,
      hint: `only if you know why the key changed: ssh-keygen -R '${hostLookupName(state.lookupName, options.port)}' -f ${verdict.file}, then add the new key`,
    },
  );
}

function hostKeyRevoked(error: Ssh2Error, state: Handshake, verdict: Extract<HostKeyVerdict, { status: 'revoked' }>): StapctlError {
  const { options } = state;
  return new StapctlError('HOST_KEY_REVOKED', `host key ${presentedKey(state.check)} of ${options.host} (${where(options)}) is revoked at ${verdict.file}:${verdict.line}; refusing to connect`, {
    host: options.host,
    file: verdict.file,
    line: verdict.line,
    cause: error,
    hint: 'the host must get a new host key; a revoked key is never accepted',
  });
}

function hostKeyUnknown(error: Ssh2Error, state: Handshake): StapctlError {
  const { options } = state;
  const portFlag = options.port === 22 ? '' : `-p ${options.port} `;
  return new StapctlError('HOST_KEY_UNKNOWN', `host key of ${options.host} (${where(options)}) is not known: ${presentedKey(state.check)}`, {
    host: options.host,
    cause: error,
    hint:
      `check the fingerprint out of band, then: ssh-keyscan ${portFlag}${state.lookupName} >> ${options.knownHostsFiles[0] ?? '~/.ssh/known_hosts'}` +
      ' (or run once with --host-key-check accept-new)',
  });
}

function connectFailed(error: Ssh2Error, options: ConnectOptions): StapctlError {
  const reason = typeof error.code === 'string' ? error.code : error.message;
  return new StapctlError('CONNECT_FAILED', `cannot connect to ${options.host} (${where(options)}): ${reason}`, {
    host: options.host,
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

  constructor(
    private readonly client: ssh2.Client,
    private readonly options: ConnectOptions,
    readonly warnings: string[],
    private readonly jump: Session | undefined,
    private readonly proxy?: ProxyCommandProcess,
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
      if (options.signal?.aborted) {
        reject(this.stopped('interrupted', options, Buffer.alloc(0)));
        return;
      }
      // The deadline and an interrupt hold while the channel opens too: a host that authenticated
      // and then never answers must not wait for the connection's keepalives.
      const began = Date.now();
      const opening = new OpeningChannel(options, (reason) => reject(this.stopped(reason, options, Buffer.alloc(0))));
      this.client.exec(command, (error, channel) => {
        if (!opening.opened()) {
          // It opened after all, while the connection lasts: its command got no stdin, and is
          // stopped anyway once it reports its group. The caller was answered at the deadline.
          if (channel !== undefined) void this.stopReported(channel, options, Buffer.alloc(0));
          return;
        }
        if (error !== undefined && error !== null) {
          reject(new StapctlError('CONNECT_FAILED', `${host}: cannot start a command: ${error.message}`, { host, cause: error }));
          return;
        }
        const left = options.timeoutMs === undefined ? {} : { timeoutMs: Math.max(1, options.timeoutMs - (Date.now() - began)) };
        new RunningCommand(channel, { ...options, ...left }, {
          ended: resolve,
          lost: () => reject(this.lost('while the command ran')),
          stop: (reason, stderr) => {
            const failure = this.stopped(reason, options, stderr);
            // A command that wrote past the cap had all the time its report needs.
            this.stopReported(channel, options, stderr, reason !== 'output').then(() => reject(failure));
          },
        }).start();
      });
    });
  }

  /** Stops a command on the host once its stop command can be made (waiting for it with WAIT); never rejects. */
  private stopReported(channel: ClientChannel, options: ExecOptions, stderr: Buffer, wait = true): Promise<void> {
    const stopCommand = wait ? this.awaitStopCommand(channel, options, stderr) : Promise.resolve(options.stopCommand?.(stderr));
    return stopCommand.then((command) => this.stopRemote(channel, command)).catch(() => undefined);
  }

  /**
   * The stop command is made from the command's process-group report, which travels on stderr
   * and may still be on its way when a timeout or an interrupt comes (in the first milliseconds
   * of the command). Without it nothing on the host would be killed, so this waits for it, at
   * most REPORT_WAIT_MS, while the channel is still open.
   */
  private awaitStopCommand(channel: ClientChannel, options: ExecOptions, stderr: Buffer): Promise<string | undefined> {
    const make = options.stopCommand;
    const ready = make?.(stderr);
    if (make === undefined || ready !== undefined || this.closed) return Promise.resolve(ready);
    // Unread stdout holds back the channel's window, so a command that floods it cannot go on
    // sending while this waits; the report, first on stderr, is in before the window fills.
    channel.pause();
    return new Promise((resolve) => {
      let seen = stderr;
      const done = (stopCommand: string | undefined) => {
        clearTimeout(timer);
        channel.stderr.off('data', onData);
        channel.off('close', onClose);
        resolve(stopCommand);
      };
      const onData = (chunk: Buffer) => {
        if (seen.length < REPORT_SEARCH_BYTES) seen = Buffer.concat([seen, chunk]);
        const stopCommand = make(seen);
        if (stopCommand !== undefined) done(stopCommand);
      };
      const onClose = () => done(make(seen));
      const timer = setTimeout(() => done(undefined), REPORT_WAIT_MS);
      channel.stderr.on('data', onData);
      channel.on('close', onClose);
    });
  }

  private stopped(reason: StopReason, options: ExecOptions, stderr: Buffer): StapctlError {
    return commandStopped(this.options.host, reason, options, stderr);
  }

  /**
   * A signal request (RFC 4254 6.9) is the clean way, but OpenSSH honours it only for sessions
   * behind privilege separation, which root logins are not; and closing the channel does not
   * stop a command that is not writing. So the caller's stop command also runs on a second
   * channel of the same connection.
   */
  private async stopRemote(channel: ClientChannel, stopCommand: string | undefined): Promise<void> {
    signalAfterEof(channel, 'KILL');
    channel.close();
    if (stopCommand === undefined || this.closed) return;
    await new Promise<void>((resolve) => {
      const guard = setTimeout(resolve, STOP_GRACE_MS);
      this.client.exec(stopCommand, (error, stopper) => {
        if (error !== undefined && error !== null) {
          clearTimeout(guard);
          resolve();
          return;
        }
        stopper.resume();
        stopper.stderr.resume();
        stopper.on('close', () => {
          clearTimeout(guard);
          resolve();
        });
        stopper.end();
      });
    });
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
            new StapctlError('CONNECT_FAILED', `cannot connect to ${next.host} (${hostPort(next.address, next.port)}) through ${this.options.host}: ${error.message}`, {
              host: next.host,
              cause: error,
              hint: `check that ${this.options.host} can reach ${hostPort(next.address, next.port)} and allows TCP forwarding`,
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
    this.proxy?.stop();
  }

  private lost(when: string): StapctlError {
    const reason = this.lastError === undefined ? '' : `: ${this.lastError.message}`;
    return new StapctlError('CONNECT_FAILED', `${this.options.host}: connection lost ${when}${reason}`, {
      host: this.options.host,
      ...(this.lastError !== undefined && { cause: this.lastError }),
    });
  }
}

interface CommandEnd {
  ended: (result: ExecResult) => void;
  lost: () => void;
  stop: (reason: StopReason, stderr: Buffer) => void;
}

/** One exec channel: collects its output up to the cap and ends exactly once. */
class RunningCommand {
  private exit?: { code: number | null; signal?: string };
  private readonly watch: CommandWatch;

  constructor(
    private readonly channel: ClientChannel,
    private readonly options: ExecOptions,
    private readonly end: CommandEnd,
  ) {
    this.watch = new CommandWatch(options, end.stop);
  }

  start(): void {
    const { channel, watch } = this;
    channel.on('data', (chunk: Buffer) => watch.out(chunk));
    channel.stderr.on('data', (chunk: Buffer) => watch.err(chunk));
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: typeof code === 'number' ? code : null, ...(signal !== undefined && signal !== null && { signal }) };
    });
    channel.on('close', () => watch.finish(() => (this.exit === undefined ? this.end.lost() : this.end.ended({ ...this.exit, stdout: watch.stdout.bytes(), stderr: watch.stderr.bytes() }))));
    watch.arm();
    watch.feedStdin(channel);
  }
}

/** The wait for an exec channel to open, bounded by the command's deadline and its abort signal. */
class OpeningChannel {
  private state: 'opening' | 'opened' | 'given-up' = 'opening';
  private readonly timer?: NodeJS.Timeout;
  private readonly onAbort = () => this.giveUp('interrupted');

  constructor(
    private readonly options: ExecOptions,
    private readonly failed: (reason: StopReason) => void,
  ) {
    if (options.signal?.aborted) {
      this.giveUp('interrupted');
      return;
    }
    if (options.timeoutMs !== undefined) this.timer = setTimeout(() => this.giveUp('timeout'), options.timeoutMs);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Whether the command may run: false once its deadline or an interrupt came first. */
  opened(): boolean {
    if (this.state === 'given-up') return false;
    this.state = 'opened';
    this.dispose();
    return true;
  }

  private giveUp(reason: StopReason): void {
    if (this.state !== 'opening') return;
    this.state = 'given-up';
    this.dispose();
    this.failed(reason);
  }

  private dispose(): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * ssh2's channel.signal() stays silent once our side sent EOF, which it always has after stdin,
 * so the request goes through ssh2's private protocol object (test/fleet/ssh/transport.test.ts
 * fails if ssh2 renames it). Returns whether the request was sent.
 */
export function signalAfterEof(channel: ClientChannel, name: string): boolean {
  const internals = channel as unknown as { outgoing?: { id?: unknown; state?: unknown }; _client?: { _protocol?: { signal?: unknown } } };
  const protocol = internals._client?._protocol;
  const outgoing = internals.outgoing;
  if (typeof protocol?.signal !== 'function' || typeof outgoing?.id !== 'number') return false;
  if (outgoing.state !== 'open' && outgoing.state !== 'eof') return false;
  (protocol.signal as (id: number, name: string) => void).call(protocol, outgoing.id, name);
  return true;
}

/** How long a stop waits for the command's process-group report, which its first line of stderr carries. */
const REPORT_WAIT_MS = 2000;
/** The report comes first; a command that wrote this much stderr without it will not send it. */
const REPORT_SEARCH_BYTES = 64 * 1024;
