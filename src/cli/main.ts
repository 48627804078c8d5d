/** The only place that prints and sets the exit code; everything below returns values. */
import { StapctlError } from '../errors.js';
import { exitCodeOf } from '../exit-code.js';
import { parseArgv, type Command } from './argv.js';
import { endWith } from './process-end.js';
import { runServiceCommand } from './service-command.js';
import { errorLines } from './service-text.js';
import { writeStderr, writeStdout } from './std-write.js';

async function main(argv: readonly string[]): Promise<number> {
  let command: Command;
  try {
    command = parseArgv(argv);
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    const exitCode = exitCodeOf(error);
    if (wantsJson(argv)) writeStdout(JSON.stringify({ error: error.toJSON(), exitCode }, null, 2) + '\n');
    else writeStderr(errorLines(error.toJSON()).join('\n') + '\n');
    return exitCode;
  }
  switch (command.kind) {
    case 'output':
      writeStdout(command.stdout);
      return command.exitCode;
    case 'agent': {
      // Loaded only for the agent: local mode does not pay for the protocol's schema.
      const { runAgent } = await import('../agent.js');
      return runAgent();
    }
    case 'service':
      return runServiceCommand(command.request, command.json);
    case 'fleet': {
      // Loaded only in fleet mode: local mode, run often by hand and by init systems, does not
      // pay for ssh2, the YAML parser and the table.
      const { runFleetCommand } = await import('./fleet-view.js');
      return runFleetCommand(command);
    }
    case 'hosts': {
      const { runHostsCommand } = await import('./fleet-view.js');
      return runHostsCommand(command);
    }
    case 'apply':
    case 'endpoints':
    case 'trust': {
      const { runProvisionCommand } = await import('./fleet-view.js');
      return runProvisionCommand(command);
    }
  }
}

/** Whether a command line that could not be parsed asked for JSON: its error is JSON too. */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some((word, index) => word === '--json' || word === '--output=json' || (word === '--output' && argv[index + 1] === 'json'));
}

endWith(main(process.argv.slice(2)));
