import { accessSync, constants, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { homedir, hostname, machine, release } from 'node:os';
import { childProcess } from '../child-process.js';
import { readCheckedFile } from './file-trust.js';

/**
 * What the engine reads of the host it acts for. On the host itself (the CLI, the agent) that is
 * the local system; on a fleet controller answering a read-only action it is a snapshot of the
 * host's facts (src/fleet/facts/), so that one engine decides both ways. Failures are Node's own
 * errors: `code` 'ENOENT' for a missing file.
 */
export interface HostFiles {
  readText(path: string): string;
  /**
   * The text of a file root relies on (a status file): not through a symlink, a regular file
   * with one link, owned by one of `owners`, writable by nobody else, at most `maxBytes`. Any
   * other file throws UntrustedFile (file-trust.ts).
   */
  readRootFile(path: string, owners: readonly number[], maxBytes: number): string;
  list(dir: string): string[];
  readLink(path: string): string;
  /** stat(2), through symlinks. */
  kind(path: string): 'file' | 'directory' | 'other';
  /** access(2) W_OK: whether this process may write there; throws ENOENT when it is missing. */
  writable(path: string): boolean;
  /** `getent DATABASE KEY` lines (accounts beyond /etc/passwd and /etc/group: LDAP, sssd). */
  getent(database: string, key: string): string[];
  /** uname -m, uname -r, uname -n. */
  machine(): string;
  release(): string;
  hostname(): string;
  /** HOME of the process that acts: what `~` means in a config file. */
  home(): string;
  /** False for a snapshot: an action that would write (or lock) needs the host itself. */
  readonly live: boolean;
}

/**
 * Thrown when a snapshot of a host's facts cannot answer what the engine asks (a file outside the
 * gathered set, an error other than "missing", a write): the caller asks the host's agent instead.
 */
export class NotInSnapshot extends Error {
  constructor(what: string) {
    super(`not in the host's facts: ${what}`);
    this.name = 'NotInSnapshot';
  }
}

export const localFiles: HostFiles = {
  readText: (path) => readFileSync(path, 'utf8'),
  readRootFile: (path, owners, maxBytes) => readCheckedFile(path, { owners, privateToOwner: true }, maxBytes),
  list: (dir) => readdirSync(dir),
  readLink: (path) => readlinkSync(path),
  kind: (path) => {
    const stats = statSync(path);
    return stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
  },
  writable: (path) => {
    try {
      accessSync(path, constants.W_OK);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
      return false;
    }
  },
  getent: (database, key) => {
    try {
      return childProcess()
        .execFileSync('getent', [database, '--', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .filter((line) => line !== '');
    } catch {
      return [];
    }
  },
  machine: () => machine(),
  release: () => release(),
  hostname: () => hostname(),
  home: () => process.env.HOME || homedir(),
  live: true,
};

/** For the catch-alls that treat any failure as "absent": a gap in a snapshot is not an absence. */
export function unlessNotInSnapshot(error: unknown): void {
  if (error instanceof NotInSnapshot) throw error;
}
