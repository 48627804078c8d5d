/** Fleet mode at the terminal: resolve the targets, run, show progress, render the results. */
import { setMaxListeners } from 'node:events';
import { homedir } from 'node:os';
import { StapctlError } from '../errors.js';
import { EXIT_CODE, exitCodeOf } from '../exit-code.js';
import type { AgentBundle } from '../fleet/agent/contract.js';
import { findAgentBundle } from '../fleet/agent/local-bundle.js';
import { fleetExitCode, summaryLine, type Progress } from '../fleet/run/fan-out.js';
import { hostEndpoint, hostSshConfig, runFleet, sshEnvironment, type HostResult, type SshEnvironment } from '../fleet/run/fleet-run.js';
import { gatherResults } from '../fleet/run/gather.js';
import { runInBatches } from '../fleet/run/rolling.js';
import { defaultRetryFile, writeRetryFile } from '../fleet/run/retry-file.js';
import { formatHostSet } from '../fleet/targets/host-fold.js';
import { readSpec, specSource } from '../fleet/targets/host-list.js';
import { resolveTargets } from '../fleet/targets/host-pattern.js';
import { HostBudget } from '../fleet/targets/host-range.js';
import { patternListMatches } from '../fleet/ssh/known-hosts.js';
import { describeHost, emptyInventory, findDefaultInventory, loadInventories, type HostEntry } from '../fleet/targets/inventory.js';
import { terminalJson } from '../sanitize.js';
import { hostPort } from '../port.js';
import { monotonicMs } from '../clock.js';
import type { Command } from './argv.js';
import { renderFleetLines, renderGatheredLines } from './fleet-lines.js';
import { fleetJson, type RetryHint } from './fleet-json.js';
import { hostSetLines, progressLine, renderFleetTable, renderGatheredTable, type Style } from './fleet-table.js';
import { retryCommand } from './retry-command.js';
import './schema-messages.js';
import { errorLines } from './service-text.js';
import { loadStapctlConfig, withConfig, type FleetOptions } from './stapctl-config.js';
import { colorEnabled, defaultView, liveProgress, type OutputView, type TerminalFacts } from './terminal.js';

// The provisioning commands travel in the fleet bundle, which main.js loads only for -H.
export { runProvisionCommand } from './provision-view.js';

type FleetCommand = Extract<Command, { kind: 'fleet' }>;
type HostsCommand = Extract<Command, { kind: 'hosts' }>;
type Configured<C extends FleetCommand | HostsCommand> = Omit<C, 'fleet'> & { fleet: FleetOptions };

/** Ctrl-C, a closed terminal or a service manager's stop end a fleet run the same way. */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `stapctl -H SPEC hosts`: what would be contacted and how, without connecting. */
export function runHostsCommand(parsed: HostsCommand, env: NodeJS.ProcessEnv = process.env): number {
  const json = parsed.json || parsed.fleet.output === 'json';
  try {
    const command = configured(parsed, env);
    return listHosts(resolveHosts(command, env), json || command.fleet.output === 'json', sshEnvironment(env));
  } catch (error) {
    return failedBeforeRun(error, json);
  }
}

export async function runFleetCommand(parsed: FleetCommand, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const facts: TerminalFacts = { env, stdoutIsTty: process.stdout.isTTY === true, stderrIsTty: process.stderr.isTTY === true };
  let command: Configured<FleetCommand>;
  let hosts: HostEntry[];
  let bundle: AgentBundle;
  try {
    command = configured(parsed, env);
  } catch (error) {
    return failedBeforeRun(error, parsed.fleet.output === 'json');
  }
  const view = command.fleet.output ?? defaultView(facts);
  try {
    hosts = resolveHosts(command, env);
    bundle = findAgentBundle(env);
  } catch (error) {
    return failedBeforeRun(error, view === 'json');
  }

  const began = monotonicMs();
  const onProgress = liveProgress(view, facts) ? progressPrinter() : undefined;
  let results: HostResult[];
  try {
    results = await runInterruptibly(command, hosts, bundle, env, onProgress);
  } catch (error) {
    // The run could not begin: no ssh client for --transport openssh, no private control directory.
    return failedBeforeRun(error, view === 'json');
  } finally {
    if (onProgress) process.stderr.write('\r\u001b[K');
  }

  const exitCode = fleetExitCode(results);
  const summary = summaryLine(results, monotonicMs() - began);
  const retry = recordRetry(command, results, env);
  const groups = command.fleet.gather ? gatherResults(results) : undefined;
  if (view === 'json') {
    process.stdout.write(terminalJson(fleetJson(command.action, results, exitCode, summary, { ...(retry && { retry }), ...(groups && { groups }) })) + '\n');
    return exitCode;
  }
  const style: Style = { color: colorEnabled(command.fleet.color, facts), verbose: command.fleet.verbose };
  process.stdout.write(renderResults(view, results, style, command.fleet.gather) + '\n');
  for (const line of warningLines(results)) process.stderr.write(line + '\n');
  // In the lines view stdout holds only `host: result` lines, so that grep and awk see nothing else.
  (view === 'lines' ? process.stderr : process.stdout).write([summary, ...hostSetLines(results)].join('\n') + '\n');
  const skipped = results.filter((result) => result.state === 'skipped').length;
  if (skipped > 0) process.stderr.write(`stapctl: more hosts failed than --max-fail allows: ${skipped} host${skipped === 1 ? ' was' : 's were'} not started\n`);
  if (retry) process.stderr.write(`stapctl: to retry the hosts that did not succeed: ${retry.command}\n`);
  return exitCode;
}

/** The command line's options over the config file's and the STAPCTL_* variables'. */
function configured<C extends FleetCommand | HostsCommand>(parsed: C, env: NodeJS.ProcessEnv): Configured<C> {
  return { ...parsed, fleet: withConfig(parsed.fleet, loadStapctlConfig(env)) };
}

/**
 * Runs the hosts in their batches (one batch without --serial). An interrupt stops launching
 * hosts and stops the running agents; the partial results follow.
 */
async function runInterruptibly(command: Configured<FleetCommand>, hosts: readonly HostEntry[], bundle: AgentBundle, env: NodeJS.ProcessEnv, onProgress?: (progress: Progress) => void): Promise<HostResult[]> {
  const ssh = sshEnvironment(env);
  const interrupt = new AbortController();
  // Every host in flight listens for the interrupt twice (its guard and its command); Node's
  // default limit of 10 would call that a leak from the sixth concurrent host on.
  setMaxListeners(2 * command.fleet.forks + 10, interrupt.signal);
  const onInterrupt = () => interrupt.abort();
  for (const signal of INTERRUPTS) process.on(signal, onInterrupt);
  try {
    return await runInBatches(
      hosts,
      command.fleet.rolling ?? { serial: [{ kind: 'percent', value: 100 }] },
      (batch, batchProgress) => runFleet(batch, command.request, bundle, command.fleet, onProgress && batchProgress, ssh, interrupt.signal),
      skippedResult,
      onProgress,
    );
  } finally {
    for (const signal of INTERRUPTS) process.off(signal, onInterrupt);
  }
}

function skippedResult(host: HostEntry): HostResult {
  return { host: host.name, address: host.address, state: 'skipped', durationMs: 0, warnings: [] };
}

function renderResults(view: Exclude<OutputView, 'json'>, results: readonly HostResult[], style: Style, gather: boolean): string {
  if (gather) {
    const groups = gatherResults(results);
    return view === 'table' ? renderGatheredTable(groups, style) : renderGatheredLines(groups, style);
  }
  return view === 'table' ? renderFleetTable(results, style) : renderFleetLines(results, style);
}

/** The live line, redrawn at most ten times a second while hosts run. */
function progressPrinter(): (progress: Progress) => void {
  let lastDraw = 0;
  return (progress) => {
    const now = monotonicMs();
    if (now - lastDraw < 100 && progress.counts.running > 0) return;
    lastDraw = now;
    process.stderr.write(`\r\u001b[K${progressLine(progress)}`);
  };
}

/** Each warning once, with the hosts that gave it folded: `stapctl: warning: h[1-3] (3): ...`. */
function warningLines(results: readonly { host: string; warnings: readonly string[] }[]): string[] {
  const hostsByWarning = new Map<string, string[]>();
  for (const result of results) {
    for (const warning of new Set(result.warnings)) {
      const hosts = hostsByWarning.get(warning);
      if (hosts) hosts.push(result.host);
      else hostsByWarning.set(warning, [result.host]);
    }
  }
  return [...hostsByWarning].map(([warning, hosts]) => `stapctl: warning: ${hosts.length === 1 ? hosts[0] : formatHostSet(hosts)}: ${warning}`);
}

/** The states whose hosts a retry runs again. */
const RETRIED = new Set(['failed', 'unreachable', 'interrupted', 'skipped']);

/**
 * Hosts that failed, were unreachable, interrupted or skipped go to the retry file. A file that
 * cannot be written costs the retry hint, not the run's results: it is a warning.
 */
function recordRetry(command: Configured<FleetCommand>, results: readonly HostResult[], env: NodeJS.ProcessEnv): RetryHint | undefined {
  const hosts = results.filter((result) => RETRIED.has(result.state)).map((result) => result.host);
  if (hosts.length === 0) return undefined;
  const file = command.fleet.failedHostsFile ?? defaultRetryFile(env);
  try {
    writeRetryFile(file, hosts);
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    process.stderr.write(errorLines(error.toJSON()).map((line, index) => (index === 0 ? line.replace(/^stapctl: /, 'stapctl: warning: ') : line)).join('\n') + '\n');
    return undefined;
  }
  return { file, command: retryCommand(command.argv, file) };
}

/** Under --json (or --output json) an error is a JSON document on stdout too, for the CI that reads it. */
function failedBeforeRun(error: unknown, json: boolean): number {
  if (!(error instanceof StapctlError)) throw error;
  const exitCode = exitCodeOf(error);
  if (json) process.stdout.write(terminalJson({ error: error.toJSON(), exitCode }) + '\n');
  else process.stderr.write(errorLines(error.toJSON()).join('\n') + '\n');
  return exitCode;
}

function resolveHosts(command: Configured<FleetCommand | HostsCommand>, env: NodeJS.ProcessEnv): HostEntry[] {
  const fallback = command.fleet.inventories.length === 0 ? findDefaultInventory({ env, cwd: process.cwd(), home: env.HOME || homedir() }) : undefined;
  const sources = fallback === undefined ? command.fleet.inventories : [fallback];
  const budget = new HostBudget();
  const inventory = sources.length > 0 ? loadInventories(sources, { budget }) : emptyInventory();
  const spec = readSpec(specSource(command.fleet.targets));
  const { hosts } = resolveTargets(spec, {
    inventory,
    loadInventoryFile: (path) => loadInventories([path], { budget }),
    budget,
    sshConfigEntry: sshConfigEntry(sshEnvironment(env)),
    adHoc: command.fleet.adHoc,
  });
  // The inventory's warnings about the selected hosts: Ansible connection variables stapctl does not honour.
  const unprefixed = hosts.map((host) => ({ host: host.name, warnings: host.warnings.map((warning) => (warning.startsWith(`${host.name}: `) ? warning.slice(host.name.length + 2) : warning)) }));
  for (const line of warningLines(unprefixed)) process.stderr.write(`${line}\n`);
  return hosts;
}

/**
 * The `file:line` of the first Host line of the ssh config files that names NAME, by name or by a
 * pattern narrower than `*` (a `Host *` block would make every typo a host).
 */
function sshConfigEntry(ssh: SshEnvironment): (name: string) => string | undefined {
  return (name) => {
    for (const file of ssh.sshConfigFiles) {
      for (const directive of ssh.configFiles.directives(file) ?? []) {
        if (directive.param !== 'host') continue;
        const patterns = directive.args.filter((pattern) => pattern !== '*' && !pattern.startsWith('!'));
        if (patterns.length > 0 && patternListMatches(patterns.join(','), name.toLowerCase())) return `${file}:${directive.line}`;
      }
    }
    return undefined;
  };
}

/** Where a host comes from, for `hosts`: its inventory entry, its ssh config line, or ad hoc. */
function sourceOf(host: HostEntry): string {
  if (host.source === 'ad-hoc' || host.origin === undefined) return 'ad hoc';
  const place = [host.origin.file, host.origin.line, host.origin.column].filter((part) => part !== undefined).join(':');
  return host.source === 'ssh-config' ? `ssh config ${place}` : place;
}

function listHosts(hosts: HostEntry[], json: boolean, ssh: SshEnvironment): number {
  const warnings = new Set<string>();
  const rows = hosts.map((host) => {
    const config = hostSshConfig(host, ssh);
    for (const warning of config.warnings) warnings.add(warning);
    return { ...describeHost(host), ...hostEndpoint(config, ssh), source: host.source, from: sourceOf(host) };
  });
  if (json) {
    process.stdout.write(JSON.stringify({ hosts: rows }, null, 2) + '\n');
  } else {
    for (const row of rows) {
      const extras = [row.become && 'become', row.serverUser && `server user ${row.serverUser}`, row.root && `root ${row.root}`, row.proxyJump && `via ${row.proxyJump}`].filter(Boolean);
      process.stdout.write(`${row.name}  ${row.user}@${hostPort(row.address, row.port)}${extras.length ? '  (' + extras.join(', ') + ')' : ''}  [${row.from}]\n`);
    }
    process.stdout.write(`${rows.length} host${rows.length === 1 ? '' : 's'}\n`);
  }
  for (const warning of warnings) process.stderr.write(`stapctl: warning: ${warning}\n`);
  return EXIT_CODE.ok;
}
