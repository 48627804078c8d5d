/**
 * What the local fault tests share: a scratch --root per test (the layout of engine.test.ts),
 * the built CLI run against it as root, the real stap-serverd processes that belong to a root,
 * and a cleanup that stops them through the engine and kills by PID whatever it missed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAP_SERVERD } from '../../src/service/server-process.js';
import { lookupGroup, lookupUser } from '../../src/service/users.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export const server = (() => {
  const user = lookupUser('stap-server');
  const gid = lookupGroup('stap-server')?.gid;
  if (user === undefined || gid === undefined) throw new Error('the fault tests need the user and group stap-server (npm test makes them)');
  return { uid: user.uid, gid };
})();

export interface ScratchRoot {
  root: string;
  statPath: string;
  logDir: string;
  confD: string;
}

const roots: string[] = [];

/**
 * A --root with the global config, conf.d files and /lib/modules releases. `redHat` makes the
 * log and status directories the server account's, as Red Hat's systemtap.spec ships them.
 */
export function makeRoot(options: { conf?: Record<string, string | Buffer>; redHat?: boolean } = {}): ScratchRoot {
  const root = mkdtempSync(join(tmpdir(), 'stapctl-fault-local-trust-'));
  roots.push(root);
  // As / is: the server account must reach its log and status directories.
  chmodSync(root, 0o755);
  const confD = join(root, 'etc/stap-server/conf.d');
  mkdirSync(join(root, 'etc/sysconfig'), { recursive: true });
  writeFileSync(join(root, 'etc/sysconfig/stap-server'), 'STAP_USER=stap-server\n');
  mkdirSync(confD, { recursive: true });
  for (const [name, text] of Object.entries(options.conf ?? {})) writeFileSync(join(confD, name), text);
  mkdirSync(join(root, 'lib/modules/6.1.0-fault-a'), { recursive: true });
  const statPath = join(root, 'var/run/stap-server');
  const logDir = join(root, 'var/log/stap-server');
  if (options.redHat) {
    for (const dir of [statPath, logDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chownSync(dir, server.uid, server.gid);
    }
  }
  return { root, statPath, logDir, confD };
}

export const statFiles = (scratch: ScratchRoot) =>
  existsSync(scratch.statPath) ? readdirSync(scratch.statPath).filter((name) => name.endsWith('.stat')).sort() : [];

/** The PIDs the status files of a root record. */
export const recordedPids = (scratch: ScratchRoot) => statFiles(scratch).map((name) => Number(name.slice(0, -'.stat'.length)));

/** The stap-serverd processes started for a root: their --log is inside it. */
export function serversOf(scratch: ScratchRoot): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${name}/stat`, 'utf8'))?.[1];
      if (argv[0] === STAP_SERVERD && state !== 'Z' && argv.some((arg) => arg.startsWith(`--log=${scratch.root}/`))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI against a root; `onStart` sees the child (to signal it, say). */
export function runCli(scratch: ScratchRoot, args: readonly string[], onStart?: (child: ChildProcess) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--root', scratch.root, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    onStart?.(child);
  });
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/**
 * Kills the servers of every root by PID (only ours: their --log is inside a root this run
 * made; stap-serverd takes a second to exit on SIGTERM, a stop per server would dominate the
 * suite) and removes the roots.
 */
export async function cleanUp(): Promise<void> {
  for (const root of roots.splice(0)) {
    const scratch = { root } as ScratchRoot;
    const pids = serversOf(scratch);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitFor(() => serversOf(scratch).length === 0, 5000);
    rmSync(root, { recursive: true, force: true });
  }
}
