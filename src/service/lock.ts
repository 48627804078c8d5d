import { closeSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../sleep.js';
import { isMissingFile, StapctlError } from '../errors.js';
import { readCheckedFile } from './file-trust.js';
import { readProcessStat, runningSince } from './proc.js';

/** A dot-file: the stock script's `ls STAT_PATH` does not list it, so it never shows as a server. */
export const LOCK_FILE = '.stapctl.lock';

const DEFAULT_TIMEOUT_MS = 60_000;

/** Who holds a lock file: a PID and its start time, so that a reused PID is not taken for the holder. */
export interface LockHolder {
  pid: number;
  startTime: number;
}

export function parseLockHolder(text: string): LockHolder | undefined {
  const match = /^(\d+) (\d+)\n$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { pid: Number(match[1]), startTime: Number(match[2]) };
}

export function formatLockHolder(holder: LockHolder): string {
  return `${holder.pid} ${holder.startTime}\n`;
}

const sameHolder = (a: LockHolder | undefined, b: LockHolder) =>
  a !== undefined && a.pid === b.pid && a.startTime === b.startTime;

function ourselves(): LockHolder {
  const info = readProcessStat(process.pid);
  if (info === undefined) throw new Error(`cannot read /proc/${process.pid}/stat for the lock`);
  return { pid: process.pid, startTime: info.startTime };
}

/** Only a lock root (or this user) wrote counts: not a symlink, FIFO or file the server account planted. */
const LOCK_OWNERS = [...new Set([0, process.geteuid?.() ?? 0])];

function readHolder(path: string): LockHolder | undefined {
  try {
    return parseLockHolder(readCheckedFile(path, { owners: LOCK_OWNERS, privateToOwner: true }, 64));
  } catch {
    return undefined;
  }
}

/**
 * Create `path` holding `me`, or fail because it exists. The content is written to a private file
 * first and then hard-linked into place: link(2) never replaces a file, and the lock is never seen
 * empty or half-written, so a holder that dies at any moment leaves either no lock or a readable one.
 */
function createExclusive(path: string, me: LockHolder): boolean {
  // Unique without node:crypto (costly to load): the pid, then the monotonic clock, which a draft
  // left by a dead process of the same pid cannot have read.
  const draft = `${path}.${me.pid}.${process.hrtime.bigint()}`;
  // 'wx' is O_CREAT|O_EXCL: it creates a new file or fails, and never follows a symlink.
  const fd = openSync(draft, 'wx', 0o644);
  let open = true;
  try {
    writeSync(fd, formatLockHolder(me));
    closeSync(fd);
    open = false;
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    // Also after a failed write (a full disk): the draft exists as soon as it is opened.
    if (open) closeSync(fd);
    unlinkSync(draft);
  }
}

/**
 * One attempt to own `path`. A lock whose holder is dead is removed, but only by whoever owns the
 * breaker file named after that very holder, and only after reading the same holder again under
 * it. Between that read and the unlink nobody else can remove or replace the file (its owner is
 * dead, every other breaker of it waits), so two waiters can never both remove a lock, and a fresh
 * lock taken meanwhile is never removed. A breaker left by a breaker that died is itself broken
 * the same way, one level down.
 */
function tryAcquire(path: string, me: LockHolder): { acquired: true } | { acquired: false; holder: LockHolder | undefined } {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (createExclusive(path, me)) return { acquired: true };
    const holder = readHolder(path);
    // Vanished between our link and our read: its holder released it; try again at once.
    if (holder === undefined) continue;
    if (runningSince(holder.pid, holder.startTime)) return { acquired: false, holder };
    breakStaleLock(path, holder, me);
  }
  return { acquired: false, holder: readHolder(path) };
}

/** Remove the lock at `path` if, and only if, it is still the one `stale` held. */
export function breakStaleLock(path: string, stale: LockHolder, me: LockHolder = ourselves()): void {
  const breaker = `${path}.break.${stale.pid}.${stale.startTime}`;
  if (!tryAcquire(breaker, me).acquired) return;
  try {
    if (sameHolder(readHolder(path), stale)) unlinkSync(path);
  } finally {
    release(breaker, me);
  }
}

function release(path: string, me: LockHolder): void {
  if (!sameHolder(readHolder(path), me)) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isMissingFile(error)) throw error;
  }
}

/** Signals that end a run: the lock is released on the way out (see holdUntilSignal). */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * While the lock is held, a signal that would end the process first releases the lock, then
 * ends the process by the same signal (its exit status still says which). Servers need no such
 * care: one is recorded before it is executed (see spawnServer), so it is recorded or gone.
 */
function holdUntilSignal(path: string, me: LockHolder): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    release(path, me);
    stop();
    process.kill(process.pid, signal);
  };
  const stop = () => {
    for (const signal of ENDING_SIGNALS) process.removeListener(signal, onSignal);
  };
  for (const signal of ENDING_SIGNALS) process.on(signal, onSignal);
  return stop;
}

/**
 * Run `fn` while holding STAT_PATH/.stapctl.lock, so that concurrent stapctl runs on one host see
 * each other's servers and never start two identical ones. Node has no flock(2), hence a lock
 * file with our PID that a later run takes over once that PID is gone. `statPath` must exist and
 * have passed the StrictModes check (ensureDirectory).
 */
export async function withLock<T>(statPath: string, fn: () => Promise<T>, opts: { timeoutMs?: number } = {}): Promise<T> {
  const path = join(statPath, LOCK_FILE);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const me = ourselves();
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const attempt = acquireOrExplain(path, me);
    if (attempt.acquired) break;
    if (Date.now() >= deadline) {
      const holder = attempt.holder === undefined ? 'another process' : `PID ${attempt.holder.pid}`;
      throw new StapctlError('LOCK_TIMEOUT', `timed out after ${timeoutMs / 1000} s waiting for the lock ${path}, held by ${holder}`, {
        file: path,
        hint: `another stapctl run is still working; wait for it to finish, or if ${holder} is not stapctl, remove ${path}`,
      });
    }
    await sleep(Math.min(delay + Math.random() * delay, Math.max(deadline - Date.now(), 1)));
    delay = Math.min(delay * 2, 200);
  }
  const stopHolding = holdUntilSignal(path, me);
  try {
    return await fn();
  } finally {
    stopHolding();
    release(path, me);
  }
}

/** tryAcquire, with a file-system failure (a full disk, a read-only one) as a LOCK_FAILED. */
function acquireOrExplain(path: string, me: LockHolder): ReturnType<typeof tryAcquire> {
  try {
    return tryAcquire(path, me);
  } catch (error) {
    throw new StapctlError('LOCK_FAILED', `cannot take the lock ${path}: ${(error as Error).message}`, {
      file: path,
      hint: 'check that the status directory is on a writable file system with space left',
      cause: error,
    });
  }
}
