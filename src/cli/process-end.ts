/** How a run of the command ends: its exit code, or a bug's stack. */
import { EXIT_CODE } from '../exit-code.js';
import { writeStderr } from './std-write.js';

/**
 * Ends the process with RUN's exit code; an exception is a bug, shown with its stack. Once nothing
 * would keep Node running (output still queued in a stream, a timer, a socket), the process ends
 * at once, as Node would, without its teardown of the environment, which costs a local status 3 %
 * of its CPU.
 */
export function endWith(run: Promise<number>): void {
  run.then(
    (code) => {
      process.exitCode = code;
      if (process.getActiveResourcesInfo().length === 0) process.exit();
    },
    (error: unknown) => {
      writeStderr(`stapctl: internal error (a bug, please report it):\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = EXIT_CODE.internal;
    },
  );
}
