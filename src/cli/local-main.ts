/**
 * The bundle dist/cli/local.js: a command line of one action word (`stapctl status`, as init
 * systems run it), which the launcher runs through this smaller bundle: no option parser, no
 * fleet or agent code for V8 to load from the code cache.
 */
import { endWith } from './process-end.js';
import { plainAction, plainServiceRequest } from './plain-action.js';
import { runServiceCommand } from './service-command.js';

endWith(
  (async () => {
    const action = plainAction(process.argv.slice(2));
    if (action === undefined) throw new Error(`dist/cli/local.js runs one action word, not: ${process.argv.slice(2).join(' ')}`);
    return runServiceCommand(plainServiceRequest(action), false);
  })(),
);
