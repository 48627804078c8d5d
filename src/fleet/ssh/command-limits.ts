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

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

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
    if (!this.stderr.push(chunk)) this.stop('output');
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
