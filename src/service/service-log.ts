import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { childProcess } from '../child-process.js';
import { StapctlError } from '../errors.js';
import { lookupGroup } from './users.js';

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

/**
 * The last `count` lines of a file, reading only from `fromOffset` on (a caller that noted the
 * size before an event sees only what was written since). A missing file has no lines.
 */
export function tailLines(file: string, count: number, fromOffset = 0): string[] {
  if (count <= 0) return [];
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.min(Math.max(fromOffset, 0), size);
    // Read backwards in growing chunks until enough lines are in hand: logs grow without bound.
    let chunk = 16 * 1024;
    for (;;) {
      const from = Math.max(start, size - chunk);
      const buffer = Buffer.alloc(size - from);
      readSync(fd, buffer, 0, buffer.length, from);
      const lines = buffer.toString('utf8').split('\n');
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
 * The shared service log (LOG_FILE) in the stock format. Writing it never fails an action, as in
 * the stock script where `>> "$LOG_FILE"` only complains: the first failure is kept in
 * `writeError` for the caller to report.
 */
export class ServiceLog {
  readonly file: string;
  writeError: StapctlError | undefined;
  private readonly logger: string;

  constructor(file: string, options: ServiceLogOptions = {}) {
    this.file = file;
    this.logger = options.logger ?? 'logger';
  }

  log(message: string): void {
    try {
      // One write on an O_APPEND descriptor: lines from concurrent writers never interleave.
      appendFileSync(this.file, `${formatLogLine(new Date(), message)}\n`);
    } catch (error) {
      this.writeError ??= new StapctlError('LOG_UNWRITABLE', `cannot write the log ${this.file}`, {
        file: this.file,
        hint: 'check that its directory exists and is writable',
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

function firstLine(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(256);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, length).toString('utf8').split('\n')[0] ?? '';
  } finally {
    closeSync(fd);
  }
}

function looksLikeServiceLog(file: string): boolean {
  const first = firstLine(file);
  return first === '' || LOG_LINE_START.some((pattern) => pattern.test(first));
}

export type LogFilePreparation = 'created' | 'shared' | 'left-alone';

/**
 * Make the log writable by the servers. The stock script creates it root-owned 0644, so a server
 * running as stap-server cannot add its own lines. Only a regular file that we create or that
 * already reads as a service log is given to the group: `--log /etc/shadow` must not become a
 * group-writable /etc/shadow. Such a file is left alone and reported as 'left-alone'.
 */
export function prepareLogFile(file: string, group: string): LogFilePreparation {
  const fail = (what: string, error: unknown) =>
    new StapctlError('LOG_UNWRITABLE', `cannot ${what} the log ${file}: ${(error as Error).message}`, {
      file,
      hint: 'choose a --log path in a writable directory',
      cause: error,
    });
  const gid = lookupGroup(group)?.gid;
  if (gid === undefined) {
    throw new StapctlError('NO_SUCH_GROUP', `group "${group}" does not exist`, {
      hint: `create it: groupadd --system ${group}`,
    });
  }
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw fail('create the directory of', error);
  }
  let existing: Stats | undefined;
  try {
    existing = lstatSync(file);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined && (!existing.isFile() || existing.nlink !== 1 || !looksLikeServiceLog(file))) {
    return 'left-alone';
  }
  try {
    // 'a' creates without truncating; if another run created it first, that is the same file.
    closeSync(openSync(file, 'a', 0o664));
    chownSync(file, statSync(file).uid, gid);
    chmodSync(file, 0o664);
  } catch (error) {
    throw fail('prepare', error);
  }
  return existing === undefined ? 'created' : 'shared';
}
