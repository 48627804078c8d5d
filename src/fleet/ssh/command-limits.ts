/**
 * The limits every transport puts on a remote command, and the errors that say which one stopped
 * it: a deadline (HOST_TIMEOUT), an interrupt (INTERRUPTED), an output cap (OUTPUT_TOO_LARGE).
 */
import { StapctlError } from '../../errors.js';
import type { ExecOptions } from './transport.js';

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** How long the caller's stop command may take on a host before the stop is given up. */
export const STOP_GRACE_MS = 5000;

/** Why a command was stopped before it ended by itself. */
export type StopReason = 'timeout' | 'interrupted' | 'output';

export function commandStopped(host: string, reason: StopReason, options: ExecOptions, stderr: Buffer): StapctlError {
  if (reason === 'timeout') {
    return new StapctlError('HOST_TIMEOUT', `${host}: the command did not finish within ${(options.timeoutMs ?? 0) / 1000} s and was stopped`, {
      host,
      detail: stderr.toString('utf8'),
      hint: 'raise --timeout if the host is just slow',
    });
  }
  if (reason === 'output') {
    return new StapctlError('OUTPUT_TOO_LARGE', `${host}: the command wrote more than ${options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES} bytes and was stopped`, {
      host,
      hint: 'the host answers with far more than a stapctl agent ever writes: check what runs there',
    });
  }
  return new StapctlError('INTERRUPTED', `${host}: interrupted, the command was stopped`, { host, hint: 'run the action again to finish it on this host' });
}

/** Keeps at most `limit` bytes; push says whether the chunk fitted. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.limit) return false;
    this.chunks.push(chunk);
    this.size += chunk.length;
    return true;
  }

  get length(): number {
    return this.size;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The writable end of a command's stdin: an ssh2 channel or an ssh client's pipe. */
export interface StdinEnd {
  write(data: string | Buffer): unknown;
  end(data?: string | Buffer): unknown;
}

const REQUEST_SEARCH_BYTES = 64 * 1024;

/**
 * What every transport keeps while a remote command runs: its output up to the cap, its deadline
 * and the interrupt. It ends exactly once: by the command's own end (`finish`) or by a stop,
 * which hands the reason and the stderr received so far to `stopped`.
 */
export class CommandWatch {
  readonly stdout: CappedBuffer;
  readonly stderr: CappedBuffer;
  private timer?: NodeJS.Timeout;
  private done = false;
  /** The command's stdin while it may still ask for the rest of it. */
  private openStdin?: StdinEnd;
  private readonly onAbort = () => this.stop('interrupted');

  constructor(
    private readonly options: ExecOptions,
    private readonly stopped: (reason: StopReason, stderr: Buffer) => void,
  ) {
    const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.stdout = new CappedBuffer(limit);
    this.stderr = new CappedBuffer(limit);
  }

  /** Starts the deadline and listens for the interrupt. */
  arm(): void {
    if (this.options.timeoutMs !== undefined) this.timer = setTimeout(() => this.stop('timeout'), this.options.timeoutMs);
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  out(chunk: Buffer): void {
    if (!this.stdout.push(chunk)) this.stop('output');
  }

  err(chunk: Buffer): void {
    if (!this.stderr.push(chunk)) {
      this.stop('output');
      return;
    }
    this.answerStdinRequest();
  }

  /**
   * Writes the command's stdin and closes it, or, with `stdinOnRequest`, keeps it open for the
   * rest, which `err` sends when the command asks for it.
   */
  feedStdin(stdin: StdinEnd): void {
    if (this.options.stdinOnRequest === undefined) {
      stdin.end(this.options.stdin);
      return;
    }
    this.openStdin = stdin;
    if (this.options.stdin !== undefined) stdin.write(this.options.stdin);
  }

  /**
   * The request is a line of its own, looked for in the first REQUEST_SEARCH_BYTES of stderr
   * only: a host that writes stderr a byte at a time cannot make each chunk cost a scan of all.
   */
  private answerStdinRequest(): void {
    const request = this.options.stdinOnRequest;
    if (this.openStdin === undefined || request === undefined || this.stderr.length > REQUEST_SEARCH_BYTES) return;
    const text = this.stderr.bytes().toString('latin1');
    if (!text.startsWith(`${request.marker}\n`) && !text.includes(`\n${request.marker}\n`)) return;
    const stdin = this.openStdin;
    this.openStdin = undefined;
    stdin.end(request.data);
  }

  finish(outcome: () => void): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    outcome();
  }

  private stop(reason: StopReason): void {
    this.finish(() => this.stopped(reason, this.stderr.bytes()));
  }
}
