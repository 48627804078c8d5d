/**
 * The retry file: after a run with failures, the hosts to run again, one per line, for `-H @FILE`
 * (Ansible's retry files). Written as OpenSSH writes what it must not half-write or share: a new
 * file (O_EXCL, O_NOFOLLOW, mode 0600) under a temporary name, then renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { StapctlError } from '../../errors.js';

/** `$XDG_CACHE_HOME/stapctl/failed-hosts`, else `~/.cache/stapctl/failed-hosts`. */
export function defaultRetryFile(env: NodeJS.ProcessEnv): string {
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'stapctl', 'failed-hosts');
}

export function retryFileText(hosts: readonly string[]): string {
  return hosts.map((host) => `${host}\n`).join('');
}

export function writeRetryFile(file: string, hosts: readonly string[]): void {
  const temporary = join(dirname(file), `.${randomBytes(6).toString('hex')}.failed-hosts.tmp`);
  let created = false;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    created = true;
    try {
      writeSync(fd, retryFileText(hosts));
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    if (created) rmSync(temporary, { force: true });
    throw new StapctlError('RETRY_FILE_UNWRITABLE', `cannot write the retry file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      file,
      hint: 'choose another file with --failed-hosts FILE',
      cause: error,
    });
  }
}
