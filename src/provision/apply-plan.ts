/**
 * What `apply` changes on one host: from the declared servers, the conf.d files present and the
 * nicknames of the managed servers that run, to one planned change per server. Pure, so that
 * `--check` and `apply` decide alike and the decision is tested without a host.
 */
import type { ServerSpec } from '../service/server-spec.js';
import { isManagedConfig, managedFileName, renderManagedConfig } from './managed-config.js';

/** What happens to a server's conf.d file. */
export type ConfigChange = 'added' | 'changed' | 'removed' | 'unchanged' | 'conflict';

/** What happens to the server itself. */
export type ServerAction = 'start' | 'restart' | 'stop' | 'none';

export interface PlannedServer {
  nickname: string;
  /** The file name in conf.d. */
  file: string;
  change: ConfigChange;
  action: ServerAction;
  /** The file as it is (changed, removed, conflict). */
  before?: string;
  /** The file as apply writes it (added, changed, unchanged). */
  after?: string;
}

/** One `*.conf` file of conf.d, by name, with its text. */
export type ConfDirectory = ReadonlyMap<string, string>;

const CONF = /^(.+)\.conf$/;

/**
 * The plan, declared servers first in their order, then the managed files no longer declared in
 * file-name order. A declared server whose file name is taken by a file stapctl does not manage is
 * a conflict: that file is never overwritten.
 */
export function planApply(declared: readonly ServerSpec[], present: ConfDirectory, running: ReadonlySet<string>): PlannedServer[] {
  const plan: PlannedServer[] = declared.map((spec) => planDeclared(spec, present, running.has(spec.nickname)));
  const declaredFiles = new Set(plan.map((server) => server.file));
  const removed = [...present]
    .filter(([name, text]) => !declaredFiles.has(name) && isManagedConfig(text) && CONF.test(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [file, before] of removed) {
    const nickname = CONF.exec(file)?.[1] ?? file;
    plan.push({ nickname, file, change: 'removed', action: running.has(nickname) ? 'stop' : 'none', before });
  }
  return plan;
}

function planDeclared(spec: ServerSpec, present: ConfDirectory, isRunning: boolean): PlannedServer {
  const file = managedFileName(spec.nickname);
  const after = renderManagedConfig(spec);
  const before = present.get(file);
  const base = { nickname: spec.nickname, file, after };
  if (before === undefined) return { ...base, change: 'added', action: isRunning ? 'restart' : 'start' };
  if (!isManagedConfig(before)) return { nickname: spec.nickname, file, change: 'conflict', action: 'none', before };
  if (before !== after) return { ...base, before, change: 'changed', action: isRunning ? 'restart' : 'start' };
  // An unchanged server that does not run is started: apply converges, it does not only write files.
  return { ...base, change: 'unchanged', action: isRunning ? 'none' : 'start' };
}

/** Whether carrying out the plan would change anything on the host (what --check reports). */
export function planChangesSomething(plan: readonly PlannedServer[]): boolean {
  return plan.some((server) => server.change !== 'unchanged' || server.action !== 'none');
}
