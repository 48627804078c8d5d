/**
 * What a --transport openssh run may leave behind, looked up from outside stapctl: ssh processes
 * (masters, clients) whose command line names a directory under DIR, where the run was told to
 * keep its control directory (TMPDIR), and control directories left in DIR.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface LeftoverProcess {
  pid: number;
  args: string;
}

/** Live processes (not zombies) whose command line mentions DIR. */
export function processesNaming(dir: string): LeftoverProcess[] {
  const found: LeftoverProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (args.includes(dir) && !/^State:\s*Z/m.test(status)) found.push({ pid: Number(entry), args });
    } catch {
      continue;
    }
  }
  return found;
}

/** The control directories (stapctl-mux-*) still in DIR. */
export function controlDirectoriesIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('stapctl-mux-'));
}
