import { closeSync, constants, fchmodSync, fchownSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { childProcess } from '../child-process.js';
import { StapctlError } from '../errors.js';
import { checkDescriptor, createForAppend, ensureDirectory, openForAppend, UntrustedFile, type Trust } from './file-trust.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number) => String(n).padStart(2, '0');

/**
 * The stock log(): echo `LC_ALL=en date +"%b %e %T"`": $1". The date is an unquoted command
 * substitution, so the shell splits `Nov  5` and echo joins it back with one space: the stock
 * line reads `Nov 5 09:03:01: message`, and so does ours. Local time, as date prints it.
 */
export function formatLogLine(date: Date, message: string): string {
  const month = MONTHS[date.getMonth()] ?? '???';
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return `${month} ${date.getDate()} ${time}: ${message}`;
}

/** The most of a log's end that a tail reads: the server account can make one line as long as it likes. */
const MAX_TAIL_BYTES = 256 * 1024;

/**
 * The last `count` lines of a file, reading only from `fromOffset` on (a caller that noted the
 * size before an event sees only what was written since). A missing file has no lines, and
 * neither has anything but a regular file (the server account may put a FIFO or a symlink there).
 */
export function tailLines(file: string, count: number, fromOffset = 0): string[] {
  if (count <= 0) return [];
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return [];
    const size = stats.size;
    const start = Math.max(Math.min(Math.max(fromOffset, 0), size), size - MAX_TAIL_BYTES);
    // Read backwards in growing chunks until enough lines are in hand: logs grow without bound.
    let chunk = 16 * 1024;
    for (;;) {
      const from = Math.max(start, size - chunk);
      const buffer = Buffer.alloc(size - from);
      const length = readSync(fd, buffer, 0, buffer.length, from);
      const lines = buffer.subarray(0, length).toString('utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      // The first line of a chunk may be cut; it counts only when the chunk reaches `start`.
      if (lines.length > count || from === start) return lines.slice(-count);
      chunk *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

export interface ServiceLogOptions {
  /** The syslog client; `logger` from PATH as the stock slog uses. */
  logger?: string;
}

/**
 * The shared service log (LOG_FILE) in the stock format, appended to through one descriptor that
 * openLogFile checked: never by path, which the server account could point elsewhere between
 * two lines. Writing it never fails an action, as in the stock script where `>> "$LOG_FILE"`
 * only complains: the first failure is kept in `writeError` for the caller to report.
 */
export class ServiceLog {
  readonly file: string;
  writeError: StapctlError | undefined;
  private readonly logger: string;
  private fd: number | undefined;

  /** A log with no descriptor writes nothing (a read-only status, or a log that was refused). */
  constructor(file: string, options: ServiceLogOptions & { fd?: number } = {}) {
    this.file = file;
    this.logger = options.logger ?? 'logger';
    this.fd = options.fd;
  }

  log(message: string): void {
    if (this.fd === undefined) return;
    try {
      // One write on an O_APPEND descriptor: lines from concurrent writers never interleave.
      writeSync(this.fd, `${formatLogLine(new Date(), message)}\n`);
    } catch (error) {
      this.writeError ??= new StapctlError('LOG_UNWRITABLE', `cannot write the log ${this.file}: ${(error as Error).message}`, {
        file: this.file,
        hint: 'check the space left on its file system',
        cause: error,
      });
    }
  }

  pass(message: string): void {
    this.log(`Pass: ${message}`);
  }

  /** Like the stock slog: to syslog as well, when a logger is there to take it. */
  error(message: string): void {
    const line = `Error: ${message}`;
    this.syslog(line);
    this.log(line);
  }

  tail(lines: number): string[] {
    return tailLines(this.file, lines);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private syslog(line: string): void {
    try {
      const child = childProcess().spawn(this.logger, ['--', line], { stdio: 'ignore', detached: true });
      child.on('error', () => undefined);
      child.unref();
    } catch {
      // Syslog is a courtesy copy; the log file has the line.
    }
  }
}

const LOG_LINE_START = [
  // ours and the stock script's: `Nov 5 09:03:01: `
  /^[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d: /,
  // stap-serverd's: `Sun Nov 29 18:04:45 2026: `
  /^[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \d{4}: /,
];

function firstLine(fd: number): string {
  const buffer = Buffer.alloc(256);
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.subarray(0, length).toString('utf8').split('\n')[0] ?? '';
}

function looksLikeServiceLog(fd: number): boolean {
  const first = firstLine(fd);
  return first === '' || LOG_LINE_START.some((pattern) => pattern.test(first));
}

export type LogFilePreparation = 'created' | 'shared' | 'left-alone';

export interface OpenedLog {
  /** Open for appending; the caller closes it. */
  fd: number;
  preparation: LogFilePreparation;
}

/**
 * Open the log for appending and make it writable by the servers. The stock script creates it
 * root-owned 0644, so a server running as stap-server cannot add its own lines. Its directory
 * must pass the StrictModes check (UNSAFE_PATH otherwise, nothing created). The file is opened
 * without following a symlink, or created with O_EXCL, and checked on the descriptor: a regular
 * file with one link, owned by root or the server account. Only a file root owns that we created
 * or that already reads as a service log is given to the group, through the descriptor:
 * `--log /etc/shadow` must not become a group-writable /etc/shadow ('left-alone').
 * A file that fails the check is LOG_UNWRITABLE and nothing is written to it.
 */
export function openLogFile(file: string, trust: Trust): OpenedLog {
  const refused = (why: string, error?: unknown) =>
    new StapctlError('LOG_UNWRITABLE', `not writing to this log: ${why}`, {
      file,
      hint: `remove ${file} (stapctl creates it again) or choose another --log path`,
      cause: error,
    });
  ensureDirectory(dirname(file), trust);
  let fd: number;
  let created = false;
  try {
    fd = openForAppend(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refused('it is a symbolic link, which stapctl does not follow', error);
    if (code === 'ENXIO') throw refused('it is not a regular file', error);
    if (code !== 'ENOENT') throw refused((error as Error).message, error);
    try {
      fd = createForAppend(file, 0o664);
      created = true;
    } catch (createError) {
      throw refused(`cannot create it: ${(createError as Error).message}`, createError);
    }
  }
  const owners = [0, ...(trust.serverUid === undefined ? [] : [trust.serverUid])];
  let stats;
  try {
    stats = checkDescriptor(fd, file, { owners });
  } catch (error) {
    if (error instanceof UntrustedFile) throw refused(error.message.slice(file.length + 2));
    throw error;
  }
  // The server account's own file is already writable by it; root's is shared with the group.
  if (stats.uid !== 0) return { fd, preparation: 'shared' };
  if (trust.serverGid === undefined || (!created && !looksLikeServiceLog(fd))) return { fd, preparation: 'left-alone' };
  try {
    fchownSync(fd, 0, trust.serverGid);
    fchmodSync(fd, 0o664);
  } catch (error) {
    closeSync(fd);
    throw refused(`cannot share it with the server group: ${(error as Error).message}`, error);
  }
  return { fd, preparation: created ? 'created' : 'shared' };
}
