/**
 * The agent bundle as an Ansible module. Ansible runs a non-Python module that says WANT_JSON
 * with the path of a JSON file of its arguments, and reads one JSON object with `changed` and
 * `failed` from stdout. The same engine answers as for `stapctl -H`:
 *
 *   ansible farm -m stapctl -a 'action=status'
 *   - stapctl: { action: apply, stap_servers: "{{ stap_servers }}" }
 *
 * Arguments: action (an initscript action, apply, endpoints, trust); for the initscript actions
 * nickname, release, arch (one server, as -n -r -a); for apply stap_servers; for trust
 * certificates (what endpoints returns on the server hosts), servers (that by server host, recorded
 * as stapctl trust --servers records it) and revoke, run on the client hosts;
 * root and server_user as the inventory's stapctl_root and stapctl_server_user. Ansible's check mode
 * plans apply and skips actions that would change something; its diff mode returns the conf.d diffs.
 */
import { readFileSync } from 'node:fs';
import { StapctlError } from './errors.js';
import { declaredServers } from './provision/declared-servers.js';
import { runApply, type ApplyReport } from './provision/apply.js';
import { fingerprintOf, hostTrust, runTrust, type TrustedServer } from './provision/client-trust.js';
import { readEndpoints } from './provision/endpoint-facts.js';
import { runService } from './service/engine.js';
import type { OptionToken } from './service/server-options.js';
import { ACTIONS, type Action, type ActionReport } from './service/report.js';
import { reportToJson } from './cli/service-json.js';

type ModuleResult = Record<string, unknown> & { changed: boolean; failed?: boolean; msg?: string };

interface ModuleArgs {
  action?: unknown;
  nickname?: unknown;
  release?: unknown;
  arch?: unknown;
  root?: unknown;
  server_user?: unknown;
  stap_servers?: unknown;
  certificates?: unknown;
  servers?: unknown;
  revoke?: unknown;
  _ansible_check_mode?: unknown;
  _ansible_diff?: unknown;
}

const text = (value: unknown, name: string): string | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new StapctlError('USAGE', `${name} must be text`);
  return value;
};

function tokensOf(args: ModuleArgs): OptionToken[] {
  const tokens: OptionToken[] = [];
  const arch = text(args.arch, 'arch');
  const release = text(args.release, 'release');
  const nickname = text(args.nickname, 'nickname');
  if (arch !== undefined) tokens.push({ flag: 'a', value: arch });
  if (release !== undefined) tokens.push({ flag: 'r', value: release });
  if (nickname !== undefined) tokens.push({ flag: 'n', value: nickname });
  return tokens;
}

function serviceResult(report: ActionReport): ModuleResult {
  const json = reportToJson(report);
  const changed = json.servers.some((server) => ['started', 'stopped', 'killed'].includes(server.outcome));
  const failed = report.action === 'status' ? report.exitCode === 1 : report.exitCode !== 0;
  return { changed, failed, rc: report.exitCode, stapctl: json, ...(failed && { msg: json.errors[0]?.message ?? `stapctl ${report.action} exited ${report.exitCode}` }) };
}

function applyResult(report: ApplyReport, diff: boolean): ModuleResult {
  const failed = report.exitCode !== 0;
  const diffs = report.servers
    .filter((server) => server.change !== 'unchanged' && server.change !== 'conflict')
    .map((server) => ({ before_header: server.file, after_header: server.file, before: server.before ?? '', after: server.after ?? '' }));
  const servers = report.servers.map(({ before: _before, after: _after, ...server }) => server);
  return {
    changed: report.changed,
    failed,
    servers,
    ...(diff && { diff: diffs }),
    ...(failed && { msg: [...report.errors, ...report.servers.flatMap((server) => (server.error ? [server.error] : []))][0]?.message ?? 'apply failed' }),
  };
}

/** One certificate of an argument: base64 DER as endpoints returns it, or PEM; base64 DER back. */
function certificateAt(item: unknown, place: string): string {
  if (typeof item !== 'string') throw new StapctlError('USAGE', `${place} must be text`);
  const base64 = item.replace(/-----[A-Z ]+-----|\s/g, '');
  try {
    fingerprintOf(Buffer.from(base64, 'base64'));
  } catch {
    throw new StapctlError('USAGE', `${place} is not a certificate`);
  }
  return base64;
}

function certificatesOf(value: unknown): string[] {
  if (!Array.isArray(value)) throw new StapctlError('USAGE', 'certificates must be a list of server certificates, as endpoints returns them');
  return value.map((item: unknown, index) => certificateAt(item, `certificates[${index}]`));
}

/**
 * The servers argument: by server host, what `endpoints` returned there (an endpoint without a
 * certificate is skipped), or its certificates; nothing for a host whose servers are gone. As
 * `stapctl trust --servers` does, the client records the host with the certificates' fingerprints,
 * and a revoke removes what was recorded for the host, whether or not it still serves.
 */
function serversOf(value: unknown): { servers: TrustedServer[]; certificates: string[] } {
  if (value === undefined || value === null) return { servers: [], certificates: [] };
  if (typeof value !== 'object' || Array.isArray(value)) throw new StapctlError('USAGE', 'servers must map each server host to what endpoints returned there');
  const certificates: string[] = [];
  const servers = Object.entries(value).map(([host, served]: [string, unknown]) => {
    if (served !== null && !Array.isArray(served)) throw new StapctlError('USAGE', `servers.${host} must be the list endpoints returned on ${host}`);
    const own = (served ?? []).flatMap((item: unknown, index) => {
      const certificate = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as { certificate?: unknown }).certificate : item;
      return certificate === undefined ? [] : [certificateAt(certificate, `servers.${host}[${index}]`)];
    });
    certificates.push(...own);
    return { host, fingerprints: own.map((certificate) => fingerprintOf(Buffer.from(certificate, 'base64'))) };
  });
  return { servers, certificates };
}

/** Trust (or revoke) server certificates for every user of this host, the client. */
function trustResult(args: ModuleArgs, root: string | undefined, check: boolean): ModuleResult {
  const { servers, certificates: served } = serversOf(args.servers);
  const certificates = [...(args.certificates === undefined && servers.length > 0 ? [] : certificatesOf(args.certificates)), ...served];
  const revoke = args.revoke === true;
  if (certificates.length === 0 && !revoke) throw new StapctlError('USAGE', 'trust needs a certificate: certificates, or servers with the endpoints of running servers');
  if (check) return { changed: false, skipped: true, msg: `check mode: ${revoke ? 'revoke' : 'trust'} was not run` };
  const report = runTrust({ certificates, revoke, servers, ...(root && { root }) }, hostTrust());
  const failed = report.exitCode !== 0;
  return { changed: report.changed.length > 0, failed, database: report.database, changed_fingerprints: report.changed, trusted: report.trusted, ...(failed && { msg: report.errors[0]?.message ?? 'trust failed' }) };
}

async function answer(args: ModuleArgs): Promise<ModuleResult> {
  const action = text(args.action, 'action') ?? 'status';
  const root = text(args.root, 'root');
  const serverUser = text(args.server_user, 'server_user');
  const check = args._ansible_check_mode === true;
  if (action === 'apply') {
    const servers = declaredServers([{ file: 'the stap_servers argument', value: args.stap_servers ?? [], positions: {} }]);
    return applyResult(await runApply({ servers, check, ...(root && { root }), ...(serverUser && { serverUser }) }), args._ansible_diff === true);
  }
  if (action === 'endpoints') {
    const report = readEndpoints(root);
    return { changed: false, failed: report.exitCode !== 0, endpoints: report.endpoints, ...(report.errors[0] && { msg: report.errors[0].message }) };
  }
  if (action === 'trust') return trustResult(args, root, check);
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new StapctlError('USAGE', `action must be one of ${[...ACTIONS, 'apply', 'endpoints', 'trust'].join(', ')}, got "${action}"`);
  }
  if (check && action !== 'status') return { changed: false, skipped: true, msg: `check mode: ${action} was not run` };
  const report = await runService({ action: action as Action, tokens: tokensOf(args), ...(root && { root }), ...(serverUser && { serverUser }) });
  return serviceResult(report);
}

/** Runs the module on the arguments file Ansible names; the exit code is 1 when the task failed. */
export async function runAnsibleModule(argsFile: string): Promise<number> {
  let result: ModuleResult;
  try {
    const args = JSON.parse(readFileSync(argsFile, 'utf8')) as ModuleArgs;
    result = await answer(args);
  } catch (error) {
    if (!(error instanceof StapctlError) && !(error instanceof SyntaxError)) throw error;
    result = { changed: false, failed: true, msg: error instanceof StapctlError ? error.message : `the arguments are not JSON: ${error.message}` };
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.failed === true ? 1 : 0;
}
