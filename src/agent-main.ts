// Entry of the self-contained agent bundle (dist/stapctl.cjs) that the controller uploads to hosts.
import { runAgent } from './agent.js';
import { EXIT_CODE } from './exit-code.js';

runAgent().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`stapctl agent: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_CODE.internal;
  },
);
