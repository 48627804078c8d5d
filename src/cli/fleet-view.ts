/** Fleet mode at the terminal: resolve the targets, run, show progress, render the results. */
import { homedir } from 'node:os';
import { StapctlError } from '../errors.js';
import { EXIT_CODE, exitCodeOf } from '../exit-code.js';
import type { AgentBundle } from '../fleet/agent/contract.js';
import { findAgentBundle } from '../fleet/agent/local-bundle.js';
import { fleetExitCode, summaryLine, type Progress } from '../fleet/run/fan-out.js';
import { hostEndpoint, hostSshConfig, runFleet, sshEnvironment, type SshEnvironment } from '../fleet/run/fleet-run.js';
import { resolveTargets } from '../fleet/targets/host-pattern.js';
import { HostBudget } from '../fleet/targets/host-range.js';
import { describeHost, emptyInventory, findDefaultInventory, loadInventory, type HostEntry } from '../fleet/targets/inventory.js';
import { terminalJson } from '../sanitize.js';
import type { Command } from './argv.js';
import { fleetJson, progressLine, renderFleetTable } from './fleet-table.js';
import { errorLines } from './service-text.js';

// The provisioning commands travel in the fleet bundle, which main.js loads only for -H.
export { runProvisionCommand } from './provision-view.js';

type FleetCommand = Extract<Command, { kind: 'fleet' }>;
type HostsCommand = Extract<Command, { kind: 'hosts' }>;

/** Ctrl-C, a closed terminal or a service manager's stop end a fleet run the same way. */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `stapctl -H SPEC hosts`: what would be contacted and how, without connecting. */
export function runHostsCommand(command: HostsCommand, env: NodeJS.ProcessEnv = process.env): number {
  try {
    return listHosts(resolveHosts(command, env), command.json, sshEnvironment(env));
  } catch (error) {
    return failedBeforeRun(error);
  }
}

export async function runFleetCommand(command: FleetCommand, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let hosts: HostEntry[];
  let bundle: AgentBundle;
  try {
    hosts = resolveHosts(command, env);
    bundle = findAgentBundle(env);
  } catch (error) {
    return failedBeforeRun(error);
  }

  const color = !command.json && !env.NO_COLOR && process.stdout.isTTY === true;
  const live = !command.json && process.stderr.isTTY === true;
  const began = performance.now();
  let lastDraw = 0;
  const onProgress = live
    ? (progress: Progress) => {
        const now = performance.now();
        if (now - lastDraw < 100 && progress.counts.running > 0) return;
        lastDraw = now;
        process.stderr.write(`\r\u001b[K${progressLine(progress)}`);
      }
    : undefined;
  // An interrupt stops launching hosts and stops the running agents; the partial table follows.
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  for (const signal of INTERRUPTS) process.on(signal, onInterrupt);
  let results;
  try {
    results = await runFleet(hosts, command.request, bundle, command.fleet, onProgress, sshEnvironment(env), interrupt.signal);
  } finally {
    for (const signal of INTERRUPTS) process.off(signal, onInterrupt);
  }
  if (live) process.stderr.write('\r\u001b[K');

  const exitCode = fleetExitCode(results);
  const summary = summaryLine(results, performance.now() - began);
  if (command.json) {
    process.stdout.write(terminalJson(fleetJson(command.action, results, exitCode, summary)) + '\n');
    return exitCode;
  }
  process.stdout.write(renderFleetTable(results, { color, verbose: command.fleet.verbose }) + '\n');
  for (const result of results) for (const warning of result.warnings) process.stderr.write(`stapctl: ${result.host}: warning: ${warning}\n`);
  process.stdout.write(summary + '\n');
  return exitCode;
}

function failedBeforeRun(error: unknown): number {
  if (!(error instanceof StapctlError)) throw error;
  process.stderr.write(errorLines(error.toJSON()).join('\n') + '\n');
  return exitCodeOf(error);
}

function resolveHosts(command: FleetCommand | HostsCommand, env: NodeJS.ProcessEnv): HostEntry[] {
  const file = command.fleet.inventory ?? findDefaultInventory({ env, cwd: process.cwd(), home: env.HOME || homedir() });
  const budget = new HostBudget();
  const inventory = file ? loadInventory(file, budget) : emptyInventory();
  return resolveTargets(command.fleet.targets, { inventory, loadInventoryFile: (path) => loadInventory(path, budget), budget }).hosts;
}

function listHosts(hosts: HostEntry[], json: boolean, ssh: SshEnvironment): number {
  const rows = hosts.map((host) => ({ ...describeHost(host), ...hostEndpoint(hostSshConfig(host, ssh), ssh) }));
  if (json) {
    process.stdout.write(JSON.stringify({ hosts: rows }, null, 2) + '\n');
  } else {
    for (const row of rows) {
      const extras = [row.become && 'become', row.serverUser && `server user ${row.serverUser}`, row.root && `root ${row.root}`, row.proxyJump && `via ${row.proxyJump}`].filter(Boolean);
      process.stdout.write(`${row.name}  ${row.user}@${row.address}:${row.port}${extras.length ? '  (' + extras.join(', ') + ')' : ''}\n`);
    }
    process.stdout.write(`${rows.length} host${rows.length === 1 ? '' : 's'}\n`);
  }
  return EXIT_CODE.ok;
}
