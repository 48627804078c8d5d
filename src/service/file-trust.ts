/**
 * How root touches files: OpenSSH's StrictModes and safe_path() for the directories, and checked
 * descriptors for the files in them. The server account (stap-server) runs network-facing
 * servers and is not trusted: on Red Hat's packaging it owns the log and state directories, so
 * it can put a symlink, a hard link or a FIFO at any name root is about to use there.
 *
 * - A directory root changes files in must be writable by no one but root and the server
 *   account, and every directory above it by root alone (a sticky directory such as /tmp may be
 *   passed through when the entry below it is root's). Else the action is refused.
 * - A file is never opened through a symlink (O_NOFOLLOW), never created where something exists
 *   (O_EXCL, random names for temporary files), and what was opened is checked on the descriptor
 *   (fstat: a regular file, one link, the expected owner) before it is read, written, chowned or
 *   chmodded, all through that descriptor.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { isMissingFile, StapctlError } from '../errors.js';

/** The accounts besides root that may own the service's directories. */
export interface Trust {
  /** The server account's uid, when it exists on this host. */
  serverUid?: number;
  /** The gid of group stap-server, whose members are server accounts. */
  serverGid?: number;
}

/** Who can write a directory that passed the check: root alone, or also the server account. */
export type DirectoryOwner = 'root' | 'server';

const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
/** A FIFO planted where a file is expected must not block the open. */
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const MAX_SYMLINKS = 40;
const STICKY = 0o1000;

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/** Who besides root could write `stats`: 'server', 'others' (with a reason) or nobody. */
function writers(stats: Stats, trust: Trust): { who: 'root' | 'server' } | { who: 'others'; why: string } {
  const serverOwned = trust.serverUid !== undefined && stats.uid === trust.serverUid;
  if (stats.uid !== 0 && !serverOwned) return { who: 'others', why: `it is owned by uid ${stats.uid}` };
  if (stats.mode & 0o002) return { who: 'others', why: `it is writable by everyone (mode ${octal(stats.mode)})` };
  const groupWrites = (stats.mode & 0o020) !== 0;
  if (groupWrites && stats.gid !== 0 && stats.gid !== trust.serverGid) {
    return { who: 'others', why: `it is writable by group ${stats.gid} (mode ${octal(stats.mode)})` };
  }
  return serverOwned || (groupWrites && stats.gid === trust.serverGid) ? { who: 'server' } : { who: 'root' };
}

function unsafe(dir: string, why: string, fix: string): StapctlError {
  return new StapctlError('UNSAFE_PATH', `refusing to change files in ${dir}: ${why}, so someone other than root could replace what root writes there`, {
    file: dir,
    hint: fix,
  });
}

/** May an entry of `parent` (whose stats are given) be relied on not to be replaced? */
function entryIsProtected(parent: Stats, entry: Stats, trust: Trust): boolean {
  const who = writers(parent, trust).who;
  if (who === 'root') return true;
  // A sticky directory that root owns: only root can rename or remove root's entries in it.
  return (parent.mode & STICKY) !== 0 && parent.uid === 0 && entry.uid === 0;
}

interface Walk {
  /** The real path reached, and its stats. */
  real: string;
  stats: Stats;
  /** The components that do not exist yet, below `real`. */
  missing: string[];
}

/**
 * Resolves `dir` one component at a time, as the kernel would, checking that every entry on the
 * way (symlinks included) sits in a directory that no one but root can change. Node has no
 * openat(2), so the path is made safe instead: nobody else can swap a component after this check.
 */
function walkDirectory(dir: string, trust: Trust): Walk {
  const queue = posix.resolve('/', dir).split('/').filter(Boolean);
  let real = '/';
  let stats = lstatSync('/');
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (name === '.') continue;
    if (name === '..') {
      real = dirname(real);
      stats = lstatSync(real);
      continue;
    }
    const next = join(real, name);
    let entry: Stats;
    try {
      entry = lstatSync(next);
    } catch (error) {
      if (isMissingFile(error)) return { real, stats, missing: [name, ...queue] };
      throw error;
    }
    if (!entryIsProtected(stats, entry, trust)) {
      throw unsafe(real, describeWriters(stats, trust), fixFor(real, stats, trust));
    }
    if (entry.isSymbolicLink()) {
      links += 1;
      if (links > MAX_SYMLINKS) throw unsafe(dir, 'its path has too many symbolic links', 'write the path without symbolic links');
      const target = readlinkSync(next);
      queue.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) {
        real = '/';
        stats = lstatSync('/');
      }
      continue;
    }
    if (!entry.isDirectory()) throw unsafe(next, 'it is not a directory', `remove ${next} or choose another path`);
    real = next;
    stats = entry;
  }
  return { real, stats, missing: [] };
}

function describeWriters(stats: Stats, trust: Trust): string {
  const verdict = writers(stats, trust);
  return verdict.who === 'others' ? verdict.why : 'the server account can write it';
}

function fixFor(dir: string, stats: Stats, trust: Trust): string {
  const verdict = writers(stats, trust);
  if (verdict.who === 'server') return `only the last directory may belong to the server account: chown root:root ${dir} && chmod 755 ${dir}`;
  return `make it root's and not writable by others: chown root ${dir} && chmod go-w ${dir}`;
}

function finalOwner(walk: Walk, trust: Trust): DirectoryOwner {
  const verdict = writers(walk.stats, trust);
  if (verdict.who === 'others') {
    throw unsafe(walk.real, verdict.why, `make it root's (or the server account's) and not writable by others: chmod go-w ${walk.real}`);
  }
  return verdict.who;
}

/**
 * `mkdir -p` for root: the missing directories are made one at a time, 0755, each in a directory
 * that only root can write (never inside one the server account owns), and the result is checked
 * as checkDirectory does. Nothing is created when the existing part fails the check; with
 * `create: false` nothing is created at all, and a missing directory passes if root may make it.
 */
export function ensureDirectory(dir: string, trust: Trust, options: { create?: boolean } = {}): DirectoryOwner {
  try {
    return makeSafely(dir, trust, options.create !== false);
  } catch (error) {
    if (error instanceof StapctlError) throw error;
    throw new StapctlError('UNSAFE_PATH', `cannot check or create ${dir}: ${(error as Error).message}`, {
      file: dir,
      hint: 'check the directory and its parents (ls -ld each of them)',
      cause: error,
    });
  }
}

function makeSafely(dir: string, trust: Trust, create: boolean): DirectoryOwner {
  for (let round = 0; round < 64; round += 1) {
    const walk = walkDirectory(dir, trust);
    const [name] = walk.missing;
    if (name === undefined) return finalOwner(walk, trust);
    if (writers(walk.stats, trust).who !== 'root') {
      throw unsafe(walk.real, describeWriters(walk.stats, trust), fixFor(walk.real, walk.stats, trust));
    }
    if (!create) return 'root';
    try {
      mkdirSync(join(walk.real, name), { mode: 0o755 });
    } catch (error) {
      // Made meanwhile by another run: the next round checks what is there.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw unsafe(dir, 'its path keeps changing while it is created', 'check what is creating and removing directories there');
}

/** What a checked open found, when the file was not what root may use. */
export class UntrustedFile extends Error {}

export interface FileExpectation {
  /** The uids that may own the file. */
  owners: readonly number[];
  /** Refuse a file that group or others may write. */
  privateToOwner?: boolean;
}

/** What a file's kind, links, owner and mode say against EXPECT: a problem, or undefined. */
export function fileProblem(file: { regular: boolean; nlink: number; uid: number; mode: number }, expect: FileExpectation): string | undefined {
  if (!file.regular) return 'it is not a regular file';
  if (file.nlink !== 1) return `it has ${file.nlink} hard links`;
  if (!expect.owners.includes(file.uid)) return `it is owned by uid ${file.uid}`;
  if (expect.privateToOwner && (file.mode & 0o022) !== 0) return `it is writable by group or others (mode ${octal(file.mode)})`;
  return undefined;
}

/** Checks an open descriptor; closes it and throws UntrustedFile when it is not acceptable. */
export function checkDescriptor(fd: number, path: string, expect: FileExpectation): Stats {
  const stats = fstatSync(fd);
  const problem = fileProblem({ regular: stats.isFile(), nlink: stats.nlink, uid: stats.uid, mode: stats.mode }, expect);
  if (problem !== undefined) {
    closeSync(fd);
    throw new UntrustedFile(`${path}: ${problem}`);
  }
  return stats;
}

/**
 * The text of a file root relies on (a status file, the lock), or UntrustedFile: not through a
 * symlink, not a FIFO or device, one link, owned as expected, at most `maxBytes`.
 */
export function readCheckedFile(path: string, expect: FileExpectation, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UntrustedFile(`${path}: it is a symbolic link`);
    throw error;
  }
  const stats = checkDescriptor(fd, path, expect);
  try {
    if (stats.size > maxBytes) throw new UntrustedFile(`${path}: it is larger than ${maxBytes} bytes`);
    const buffer = Buffer.alloc(stats.size);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, length);
      if (read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Opens an existing file for appending (and reading its start) without following a symlink. */
export function openForAppend(path: string): number {
  return openSync(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
}

/** Creates `path`, which must not exist in any form (a symlink included), for appending. */
export function createForAppend(path: string, mode: number): number {
  return openSync(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
}

/** Eight random bytes as hex, from the kernel: node:crypto costs a local run more to load. */
function randomHex(): string {
  const bytes = Buffer.alloc(8);
  const fd = openSync('/dev/urandom', O_RDONLY);
  try {
    readSync(fd, bytes, 0, bytes.length, null);
  } finally {
    closeSync(fd);
  }
  return bytes.toString('hex');
}

/** A name nobody can guess, for a temporary file beside `target` (a dot-file: `ls` skips it). */
export function temporaryName(dir: string, base: string): string {
  return join(dir, `.${base}.${randomHex()}`);
}

/**
 * Writes `text` to `dir/name` whole or not at all: a new temporary file (O_EXCL, a random name),
 * mode set on the descriptor, flushed, renamed over the target; the directory is flushed too.
 * If the name no longer holds our file after the rename (the directory's owner swapped it), that
 * is an error, not a success.
 */
export function writeFileAtomically(dir: string, name: string, text: string, mode: number): void {
  const temporary = temporaryName(dir, name);
  const target = join(dir, name);
  const fd = openSync(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    const ours = fstatSync(fd);
    fchmodSync(fd, mode);
    const bytes = Buffer.from(text);
    for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    renameSync(temporary, target);
    const landed = lstatSync(target);
    if (landed.ino !== ours.ino || landed.dev !== ours.dev) {
      throw new StapctlError('UNSAFE_PATH', `${target} was replaced while it was written`, {
        file: target,
        hint: `someone else can write ${dir}; make it root's: chown root ${dir} && chmod go-w ${dir}`,
      });
    }
  } catch (error) {
    removeIfPresent(temporary);
    throw error;
  } finally {
    closeSync(fd);
  }
  const dirFd = openSync(dir, O_RDONLY);
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

export function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isMissingFile(error)) throw error;
  }
}
