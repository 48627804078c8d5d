/**
 * A promise that settles after `ms`, on the global timer: importing node:timers/promises for it
 * loaded that module at the start of every local run, which waits for nothing in most of them.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
