/**
 * The CPU time of a set of processes and of everything they fork, from a cgroup v2 of their own.
 * The benchmark puts the farm's sshd processes in one and each measured tool in another, so that
 * what an action cost is counted apart from whatever else the machine runs at the time: /proc/stat
 * counts every task, and a run that keeps both CPUs busy for 20 s and more there counts the
 * machine's own background (the kernel's page monitor walking the mappings of the farm's thousands
 * of processes, other work) as the action's (bench/README.md, "The 1000-host row").
 */
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `cpu.stat` of a cgroup v2: `usage_usec` is there whether or not the cpu controller is enabled.
 * Seconds, or an error naming the file when the line is missing.
 */
export function usageSeconds(cpuStat: string, file: string): number {
  const match = /^usage_usec (\d+)$/m.exec(cpuStat);
  if (match === null) throw new Error(`${file}: no usage_usec line`);
  return Number(match[1]) / 1e6;
}

export interface CpuCgroup {
  /** Writing a PID here moves that process; its later children are born in the cgroup. */
  readonly procsFile: string;
  add(pid: number): Promise<void>;
  usageSeconds(): Promise<number>;
  /** The PIDs now in the cgroup. */
  pids(): Promise<number[]>;
  /** Removes the cgroup; it must hold no process any more. */
  remove(): Promise<void>;
}

/** The cgroup v2 hierarchy: /sys/fs/cgroup on a unified system, /sys/fs/cgroup/unified on a hybrid one. */
async function unifiedRoot(): Promise<string> {
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    if (await access(join(root, 'cgroup.controllers')).then(() => true, () => false)) return root;
  }
  throw new Error('no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: the benchmark counts the CPU of an action there');
}

/** A new cgroup named NAME at the root of the v2 hierarchy (as root). */
export async function createCpuCgroup(name: string): Promise<CpuCgroup> {
  const dir = join(await unifiedRoot(), name);
  await mkdir(dir);
  const procsFile = join(dir, 'cgroup.procs');
  const statFile = join(dir, 'cpu.stat');
  return {
    procsFile,
    add: (pid) => writeFile(procsFile, String(pid)),
    usageSeconds: async () => usageSeconds(await readFile(statFile, 'utf8'), statFile),
    pids: async () => (await readFile(procsFile, 'utf8')).split('\n').filter((line) => line !== '').map(Number),
    remove: () => rmdir(dir),
  };
}
