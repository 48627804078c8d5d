/**
 * Rolling runs, as Ansible's `serial` and `max_fail_percentage`: the hosts run in batches, one
 * batch after the other, and no new batch starts once more hosts have failed than allowed. The
 * hosts of the batches never started end as skipped.
 */
import { StapctlError } from '../../errors.js';
import type { FinalState, HostState, Progress } from './fan-out.js';

/** A number of hosts, or a percentage of all the hosts of the run. */
export type HostCount = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

export interface RollingPlan {
  /** Batch sizes in order; the last one repeats until every host has a batch (`1,5,25%`). */
  serial: HostCount[];
  /** More failed or unreachable hosts than this stop the run after the batch they are in. */
  maxFail?: HostCount;
}

function parseHostCount(text: string, option: string, allowZero: boolean): HostCount {
  const match = /^(\d+)(%?)$/.exec(text.trim());
  const value = Number(match?.[1]);
  const percent = match?.[2] === '%';
  if (match === null || (percent && value > 100) || (!allowZero && value === 0)) {
    throw new StapctlError('USAGE', `${option} takes ${allowZero ? '' : 'a positive '}N or P% (P up to 100), got '${text}'`, {
      hint: option === '--serial' ? 'e.g. --serial 1,5,25% (one host, then five, then a quarter at a time)' : 'e.g. --max-fail 0 (stop at the first failure) or --max-fail 10%',
    });
  }
  return percent ? { kind: 'percent', value } : { kind: 'count', value };
}

/** `--serial 1,5,25%`. */
export function parseSerial(text: string): HostCount[] {
  return text.split(',').map((term) => parseHostCount(term, '--serial', false));
}

/** `--max-fail N|P%`: 0 stops at the first failure. */
export function parseMaxFail(text: string): HostCount {
  return parseHostCount(text, '--max-fail', true);
}

/** Ansible's rounding: a percentage of TOTAL rounded down, but a batch holds at least one host. */
function hostsOf(count: HostCount, total: number): number {
  return count.kind === 'count' ? count.value : Math.floor((total * count.value) / 100);
}

/** The sizes of the batches TOTAL hosts run in. */
export function batchSizes(total: number, serial: readonly HostCount[]): number[] {
  const sizes: number[] = [];
  let left = total;
  let index = 0;
  while (left > 0) {
    const size = Math.min(left, Math.max(1, hostsOf(serial[Math.min(index, serial.length - 1)] as HostCount, total)));
    sizes.push(size);
    left -= size;
    index += 1;
  }
  return sizes;
}

/** How many failed or unreachable hosts a run of TOTAL hosts may have and still start a batch. */
export function failuresAllowed(total: number, maxFail: HostCount | undefined): number {
  return maxFail === undefined ? Number.POSITIVE_INFINITY : hostsOf(maxFail, total);
}

const FAILURES: ReadonlySet<FinalState> = new Set(['failed', 'unreachable']);

/**
 * Runs HOSTS batch by batch through RUN_BATCH; the hosts of the batches not started get SKIP's
 * result. Progress is reported for the whole run, not for the batch.
 */
export async function runInBatches<H, R extends { state: FinalState }>(
  hosts: readonly H[],
  plan: RollingPlan,
  runBatch: (batch: H[], onProgress: (progress: Progress) => void) => Promise<R[]>,
  skip: (host: H) => R,
  onProgress?: (progress: Progress) => void,
): Promise<R[]> {
  const results: R[] = [];
  const allowed = failuresAllowed(hosts.length, plan.maxFail);
  let start = 0;
  for (const size of batchSizes(hosts.length, plan.serial)) {
    const batch = hosts.slice(start, start + size);
    const later = hosts.length - start - size;
    const done = [...results];
    results.push(...(await runBatch(batch, (progress) => onProgress?.(wholeRun(progress, done, later, hosts.length)))));
    start += size;
    if (results.filter((result) => FAILURES.has(result.state)).length > allowed) break;
  }
  return [...results, ...hosts.slice(start).map(skip)];
}

function wholeRun(batch: Progress, done: readonly { state: FinalState }[], later: number, total: number): Progress {
  const counts: Record<HostState, number> = { ...batch.counts, queued: batch.counts.queued + later };
  for (const result of done) counts[result.state] += 1;
  return { ...batch, total, counts };
}
