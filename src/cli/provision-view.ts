/**
 * The provisioning commands at the terminal: `apply` (with --check and --diff), `endpoints` and
 * `trust`. Each resolves and checks everything it can on the controller before it contacts any
 * host, asks the hosts' agents, and renders one view and one exit code.
 */
import { StapctlError, type SerializedError } from '../errors.js';
import { EXIT_CODE, exitCodeOf } from '../exit-code.js';
import { fleetExitCode, summaryLine } from '../fleet/run/fan-out.js';
import { askHosts, hostSshConfig, sshEnvironment, type AgentAnswerResult, type AskSettings } from '../fleet/run/fleet-run.js';
import type { HostEntry } from '../fleet/targets/inventory.js';
import type { ApplyReport } from '../provision/apply.js';
import { declaredServers } from '../provision/declared-servers.js';
import type { EndpointReport } from '../provision/endpoint-facts.js';
import type { TrustReport } from '../provision/client-trust.js';
import { monotonicMs } from '../clock.js';
import type { Command } from './argv.js';
import { applySummary, renderApplyDiffs, renderApplyTable } from './apply-view.js';
import { filterEndpoints, renderEndpointTable, useServerArgument, type EndpointRow } from './endpoints-view.js';
import { homedir } from 'node:os';
import { findAgentBundle } from '../fleet/agent/local-bundle.js';
import { loadStapctlConfig, withConfig, type FleetOptions } from './stapctl-config.js';
import { resolveTargets } from '../fleet/targets/host-pattern.js';
import { emptyInventory, findDefaultInventory, loadInventories, type Inventory } from '../fleet/targets/inventory.js';
import type { FleetCliOptions } from './argv.js';
import { errorLines } from './service-text.js';

type ProvisionCommand = Extract<Command, { kind: 'apply' | 'endpoints' | 'trust' }>;

/** What every provisioning command needs: the hosts, how to ask them, and where to write. */
interface FleetContext {
  hosts: HostEntry[];
  env: NodeJS.ProcessEnv;
  run: AskSettings;
  /** The hosts of another -H SPEC of the same inventory (trust --servers). */
  resolve(spec: string): HostEntry[];
  out(text: string): void;
  /** Each host's warnings on stderr. */
  warn(results: readonly AgentAnswerResult<unknown>[]): void;
  /** Each host's error on stderr. */
  failures(results: readonly AgentAnswerResult<unknown>[]): void;
  usageFailure(error: StapctlError): number;
}

function usageFailure(error: StapctlError): number {
  process.stderr.write(errorLines(error.toJSON()).join('\n') + '\n');
  return exitCodeOf(error);
}

function fleetContext(flags: FleetCliOptions, env: NodeJS.ProcessEnv): FleetContext | number {
  let fleet: FleetOptions;
  let inventory: Inventory;
  let hosts: HostEntry[];
  let bundle;
  const resolve = (spec: string) => resolveTargets(spec, { inventory, loadInventoryFile: (path) => loadInventories([path]), adHoc: fleet.adHoc }).hosts;
  try {
    fleet = withConfig(flags, loadStapctlConfig(env));
    const fallback = fleet.inventories.length === 0 ? findDefaultInventory({ env, cwd: process.cwd(), home: env.HOME || homedir() }) : undefined;
    const sources = fallback === undefined ? fleet.inventories : [fallback];
    inventory = sources.length > 0 ? loadInventories(sources) : emptyInventory();
    hosts = resolve(fleet.targets);
    bundle = findAgentBundle(env);
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return usageFailure(error);
  }
  const errorsOf = (result: AgentAnswerResult<unknown>) => {
    const answer = result.answer as { errors?: SerializedError[] } | undefined;
    return [...(result.error ? [result.error] : []), ...(answer?.errors ?? [])];
  };
  return {
    hosts,
    env,
    run: { bundle, settings: fleet, ssh: sshEnvironment(env) },
    resolve,
    out: (text) => process.stdout.write(text + '\n'),
    warn: (results) => {
      for (const result of results) for (const warning of result.warnings) process.stderr.write(`stapctl: ${result.host}: warning: ${warning}\n`);
    },
    failures: (results) => {
      for (const result of results) for (const error of errorsOf(result)) process.stderr.write(`stapctl: ${result.host}: ${fleet.verbose ? errorLines(error).join('\n') : error.message}\n`);
    },
    usageFailure,
  };
}

export async function runProvisionCommand(command: ProvisionCommand, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const context = fleetContext(command.fleet, env);
  if (typeof context === 'number') return context;
  try {
    switch (command.kind) {
      case 'apply':
        return await applyCommand(command, context);
      case 'endpoints':
        return await endpointsCommand(command, context);
      case 'trust':
        return await trustCommand(command, context);
    }
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return context.usageFailure(error);
  }
}

async function applyCommand(command: Extract<ProvisionCommand, { kind: 'apply' }>, context: FleetContext): Promise<number> {
  // Every host's declaration is checked before any host is contacted: a typo changes nothing anywhere.
  const declared = new Map(context.hosts.map((host) => [host.name, declaredServers(host.located?.stap_servers ?? [])]));
  const began = monotonicMs();
  const results = await askHosts<ApplyReport>(context.hosts, (host) => ({ kind: 'apply', servers: declared.get(host.name) ?? [], check: command.check }), context.run);
  const failed = fleetExitCode(results);
  const changed = results.some((result) => result.answer?.changed === true);
  const exitCode = failed !== EXIT_CODE.ok ? failed : command.check && changed ? EXIT_CODE.drift : EXIT_CODE.ok;
  const summary = `${summaryLine(results, monotonicMs() - began)}; ${applySummary(results.map(asApplyResult), command.check)}`;
  if (command.json) {
    const hosts = results.map((result) => ({ host: result.host, address: result.address, state: result.state, ...(result.error && { error: result.error }), warnings: result.warnings, ...(result.answer && { apply: result.answer }) }));
    context.out(JSON.stringify({ action: 'apply', check: command.check, changed, exitCode, summary, hosts }, null, 2));
    return exitCode;
  }
  context.out(renderApplyTable(results.map(asApplyResult), command.fleet.verbose));
  if (command.diff) context.out(renderApplyDiffs(results.map(asApplyResult)).trimEnd());
  context.warn(results);
  context.out(summary);
  return exitCode;
}

function asApplyResult(result: AgentAnswerResult<ApplyReport>) {
  return { host: result.host, state: result.state, ...(result.answer && { report: result.answer }), ...(result.error && { error: result.error }) };
}

/** The running servers of `hosts`, one row each, with the address the controller reached the host at. */
async function endpointRows(hosts: readonly HostEntry[], context: FleetContext): Promise<{ rows: (EndpointRow & { certificate?: string | undefined })[]; results: AgentAnswerResult<EndpointReport>[] }> {
  const results = await askHosts<EndpointReport>(hosts, () => ({ kind: 'endpoints' }), context.run);
  const ssh = sshEnvironment(context.env);
  const rows = results.flatMap((result) => {
    const entry = hosts.find((host) => host.name === result.host);
    const address = entry === undefined ? result.address : hostSshConfig(entry, ssh).hostName;
    return (result.answer?.endpoints ?? []).map((endpoint) => ({ host: result.host, address, ...endpoint }));
  });
  return { rows, results };
}

async function endpointsCommand(command: Extract<ProvisionCommand, { kind: 'endpoints' }>, context: FleetContext): Promise<number> {
  const { rows, results } = await endpointRows(context.hosts, context);
  const chosen = filterEndpoints(rows, command.filter).map(({ certificate: _certificate, ...row }) => row);
  const exitCode = fleetExitCode(results);
  if (command.json) {
    const hosts = results.map((result) => ({ host: result.host, state: result.state, ...(result.error && { error: result.error }), ...(result.answer?.errors.length && { errors: result.answer.errors }) }));
    context.out(JSON.stringify({ exitCode, endpoints: chosen, hosts }, null, 2));
  } else if (command.format === 'use-server') {
    context.out(useServerArgument(chosen));
  } else {
    context.out(renderEndpointTable(chosen));
  }
  context.warn(results);
  if (!command.json) context.failures(results);
  return exitCode;
}

async function trustCommand(command: Extract<ProvisionCommand, { kind: 'trust' }>, context: FleetContext): Promise<number> {
  const servers = context.resolve(command.servers);
  const { rows, results: serverResults } = await endpointRows(servers, context);
  const serverCode = fleetExitCode(serverResults);
  const certificates = [...new Map(rows.filter((row) => row.certificate !== undefined && row.fingerprint !== undefined).map((row) => [row.fingerprint, row.certificate as string])).values()];
  // A revoke needs no running server: the clients remove what they recorded for these hosts.
  if (certificates.length === 0 && !command.revoke) {
    context.failures(serverResults);
    throw new StapctlError('NO_HOSTS_MATCHED', `no running server with a readable certificate on ${command.servers}`, { hint: `check with: stapctl -H '${command.servers}' endpoints` });
  }
  const trustedServers = servers.map((server) => ({
    host: server.name,
    fingerprints: rows.flatMap((row) => (row.host === server.name && row.fingerprint !== undefined ? [row.fingerprint] : [])),
  }));
  const began = monotonicMs();
  const results = await askHosts<TrustReport>(context.hosts, () => ({ kind: 'trust', certificates, revoke: command.revoke, servers: trustedServers }), context.run);
  const exitCode = Math.max(fleetExitCode(results), serverCode === 4 && !command.revoke ? 4 : 0);
  if (command.json) {
    const hosts = results.map((result) => ({ host: result.host, state: result.state, ...(result.error && { error: result.error }), ...(result.answer && { trust: result.answer }) }));
    context.out(JSON.stringify({ exitCode, revoke: command.revoke, servers: rows.map(({ certificate: _certificate, ...row }) => row), hosts }, null, 2));
    return exitCode;
  }
  const verb = command.revoke ? 'revoked' : 'trusted';
  for (const result of results) {
    const answer = result.answer;
    if (answer === undefined || answer.exitCode !== 0) continue;
    context.out(`${result.host}: ${answer.changed.length} certificate${answer.changed.length === 1 ? '' : 's'} ${verb} in ${answer.database} (${answer.trusted.length} trusted for all users)`);
  }
  context.failures(results);
  context.warn(results);
  context.out(summaryLine(results, monotonicMs() - began));
  return exitCode;
}
