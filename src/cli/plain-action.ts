/**
 * A command line of one action word and nothing else (`stapctl status`, as init systems and
 * scripts run it). The launcher recognises it before loading any bundle, so this module imports no
 * more than the action names.
 */
import type { ServiceRequest } from '../service/engine.js';
import { ACTIONS, type Action } from '../service/report.js';

/** The action of such a command line, or undefined. */
export function plainAction(args: readonly string[]): Action | undefined {
  const [word] = args;
  return args.length === 1 && (ACTIONS as readonly (string | undefined)[]).includes(word) ? (word as Action) : undefined;
}

/** What parseArgv makes of such a command line (test/cli/argv.test.ts holds them to one another). */
export function plainServiceRequest(action: Action): ServiceRequest {
  return { action, tokens: [], keepTemp: false, usePassword: false, root: process.env.STAPCTL_ROOT || '/' };
}
