/**
 * Milliseconds on the monotonic clock, for durations. Node's global `performance` loads perf_hooks
 * and eight more modules on its first use, which a fleet run otherwise never loads; process.hrtime
 * reads the same clock.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
