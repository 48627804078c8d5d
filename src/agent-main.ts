// Entry of the self-contained agent bundle (dist/stapctl.cjs) that the controller sends to hosts.
// WANT_JSON: run by Ansible with the path of a JSON file of arguments (src/ansible-module.ts).
import { runAgent } from './agent.js';
import { runAnsibleModule } from './ansible-module.js';
import { EXIT_CODE } from './exit-code.js';

// The controller's launcher runs it with no argument or "agent"; Ansible with its arguments file.
const argument = process.argv[2];
(argument === undefined || argument === 'agent' ? runAgent() : runAnsibleModule(argument)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`stapctl agent: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_CODE.internal;
  },
);
