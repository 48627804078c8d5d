/**
 * Runs one task per host with bounded concurrency and keeps one status per host, as pnpm's
 * recursive runner does: queued -> running -> ok | failed | not-running | unreachable | interrupted.
 * A rolling run (rolling.ts) ends the hosts of the batches it did not start as skipped.
 */
import pLimit from 'p-limit';
import type { ErrorCode } from '../../errors.js';
import { EXIT_CODE, outcomeOf, worstOutcome } from '../../exit-code.js';
import { monotonicMs } from '../../clock.js';

export type HostState = 'queued' | 'running' | 'ok' | 'failed' | 'not-running' | 'unreachable' | 'interrupted' | 'skipped';
export type FinalState = Exclude<HostState, 'queued' | 'running'>;

/** In the order views list them. */
export const FINAL_STATES: readonly FinalState[] = ['ok', 'failed', 'not-running', 'unreachable', 'interrupted', 'skipped'];

export function countStates<S extends string>(states: readonly S[], items: Iterable<{ state: S }>): Record<S, number> {
  const counts = Object.fromEntries(states.map((state) => [state, 0])) as Record<S, number>;
  for (const item of items) counts[item.state] += 1;
  return counts;
}

const HOST_STATES: readonly HostState[] = ['queued', 'running', ...FINAL_STATES];

export interface Progress {
  total: number;
  counts: Record<HostState, number>;
  /** Hosts still running, the longest-running first, with how long they have run. */
  running: { host: string; elapsedMs: number }[];
}

export interface FanOutOptions<T> {
  forks: number;
  /** Called whenever a host changes state. */
  onChange?: (progress: Progress) => void;
  now?: () => number;
  /** The final state of a host from its task's result. */
  classify: (result: T) => FinalState;
}

export interface Finished<T> {
  host: string;
  state: FinalState;
  durationMs: number;
  result: T;
}

export async function fanOut<H extends { name: string }, T>(
  hosts: readonly H[],
  task: (host: H) => Promise<T>,
  options: FanOutOptions<T>,
): Promise<Finished<T>[]> {
  const now = options.now ?? (() => monotonicMs());
  const limit = pLimit(options.forks);
  const states = new Map<string, HostState>(hosts.map((host) => [host.name, 'queued']));
  const started = new Map<string, number>();

  const progress = (): Progress => {
    const counts = countStates(HOST_STATES, [...states.values()].map((state) => ({ state })));
    const at = now();
    const running = [...started]
      .filter(([host]) => states.get(host) === 'running')
      .map(([host, since]) => ({ host, elapsedMs: at - since }))
      .sort((a, b) => b.elapsedMs - a.elapsedMs);
    return { total: hosts.length, counts, running };
  };

  const run = async (host: H): Promise<Finished<T>> => {
    const begin = now();
    states.set(host.name, 'running');
    started.set(host.name, begin);
    options.onChange?.(progress());
    const result = await task(host);
    const state = options.classify(result);
    states.set(host.name, state);
    options.onChange?.(progress());
    return { host: host.name, state, durationMs: now() - begin, result };
  };

  return Promise.all(hosts.map((host) => limit(() => run(host))));
}

/** "64 hosts: 61 ok, 2 failed, 1 unreachable in 3.2 s" (states with no host are left out). */
export function summaryLine(finished: readonly { state: FinalState }[], elapsedMs: number): string {
  const counts = countStates(FINAL_STATES, finished);
  const parts = FINAL_STATES.map((state) => [state, counts[state]] as const)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state}`);
  const hosts = `${finished.length} host${finished.length === 1 ? '' : 's'}`;
  return `${hosts}: ${parts.join(', ') || 'none'} in ${(elapsedMs / 1000).toFixed(1)} s`;
}

/**
 * The fleet's exit code: its worst host's (an interrupted run outranks a bug on some host, which
 * outranks unreachable, failed, not running). A host whose error is a bug counts as internal.
 * Hosts are skipped only after failures, whose code the run already has; alone they count as failed.
 */
export function fleetExitCode(finished: readonly { state: FinalState; error?: { code: ErrorCode } }[]): number {
  const outcome = (item: (typeof finished)[number]) => {
    if (item.error !== undefined && outcomeOf(item.error) === 'internal') return 'internal';
    return item.state === 'skipped' ? 'failed' : item.state;
  };
  return EXIT_CODE[worstOutcome(finished.map(outcome))];
}
