/**
 * The provisioning actions on the command line (apply, endpoints, trust) and their own options.
 * They run only in fleet mode and name no server with options: servers come from stap_servers.
 */
import { Option, type Command as Commander } from 'commander';
import { StapctlError } from '../errors.js';
import type { OptionToken } from '../service/server-options.js';
import type { EndpointFilter } from './endpoints-view.js';

export const PROVISION_ACTIONS = ['apply', 'endpoints', 'trust'] as const;
export type ProvisionAction = (typeof PROVISION_ACTIONS)[number];

export type ProvisionCommand<F> =
  | { kind: 'apply'; check: boolean; diff: boolean; fleet: F; json: boolean }
  | { kind: 'endpoints'; format: 'table' | 'use-server'; filter: EndpointFilter; fleet: F; json: boolean }
  | { kind: 'trust'; servers: string; revoke: boolean; fleet: F; json: boolean };

/** Which action each of these options belongs to. */
const OWNERS = { check: 'apply', diff: 'apply', format: 'endpoints', arch: 'endpoints', release: 'endpoints', servers: 'trust', revoke: 'trust' } as const;

export function addProvisionOptions(program: Commander): Commander {
  return program
    .option('--check', 'apply: plan only, change nothing; exit 5 when something would change')
    .option('--diff', 'apply: show each conf.d change as a unified diff')
    .addOption(new Option('--format <format>', 'endpoints: a table, or the --use-server argument for stap').choices(['table', 'use-server']))
    .option('--arch <arch>', 'endpoints: only the servers of this architecture')
    .option('--release <release>', 'endpoints: only the servers of this kernel release')
    .option('--servers <spec>', 'trust: the hosts whose running servers the -H hosts trust')
    .option('--revoke', 'trust: remove that trust instead');
}

export function isProvisionAction(word: string): word is ProvisionAction {
  return (PROVISION_ACTIONS as readonly string[]).includes(word);
}

function usage(message: string): StapctlError {
  return new StapctlError('USAGE', message, { hint: "run 'stapctl --help' for the options" });
}

/** Refuses a provisioning option given to another action: it would silently do nothing. */
export function checkProvisionOptions(action: string, opts: Record<string, unknown>): void {
  for (const [option, owner] of Object.entries(OWNERS)) {
    if (opts[option] !== undefined && owner !== action) throw usage(`--${option} is an option of ${owner}, not of ${action}`);
  }
}

export function provisionCommand<F>(action: ProvisionAction, opts: Record<string, unknown>, tokens: readonly OptionToken[], fleet: F | undefined, json: boolean): ProvisionCommand<F> {
  if (fleet === undefined) throw usage(`${action} runs on hosts: give them with -H HOSTS`);
  if (tokens.length > 0) throw usage(`${action} takes no server options: the servers come from stap_servers in the inventory`);
  switch (action) {
    case 'apply':
      return { kind: 'apply', check: opts.check === true, diff: opts.diff === true, fleet, json };
    case 'endpoints':
      return {
        kind: 'endpoints',
        format: opts.format === 'use-server' ? 'use-server' : 'table',
        filter: { ...(typeof opts.arch === 'string' && { arch: opts.arch }), ...(typeof opts.release === 'string' && { release: opts.release }) },
        fleet,
        json,
      };
    case 'trust':
      if (typeof opts.servers !== 'string') throw usage('trust needs --servers SPEC: the hosts whose servers to trust');
      return { kind: 'trust', servers: opts.servers, revoke: opts.revoke === true, fleet, json };
  }
}
