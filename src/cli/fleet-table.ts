/**
 * The fleet's views of per-host results for a terminal: the table (per host, or gathered by
 * result), the progress line and the folded host sets. Pure: results in, text out.
 */
import Table from 'cli-table3';
import type { SerializedError } from '../errors.js';
import type { FinalState, Progress } from '../fleet/run/fan-out.js';
import type { HostResult } from '../fleet/run/fleet-run.js';
import type { ResultGroup } from '../fleet/run/gather.js';
import { formatHostSet } from '../fleet/targets/host-fold.js';
import { cellText } from '../sanitize.js';
import type { Step } from '../service/report.js';

export interface Style {
  color: boolean;
  verbose: boolean;
}

const COLORS: Record<FinalState, number> = { ok: 32, failed: 31, 'not-running': 33, unreachable: 35, interrupted: 36, skipped: 90 };

export function paintState(state: FinalState, style: Pick<Style, 'color'>): string {
  return style.color ? `\u001b[${COLORS[state]}m${state}\u001b[39m` : state;
}

export function renderFleetTable(results: readonly HostResult[], style: Style): string {
  const table = new Table({
    head: ['host', 'result', 'server', 'release', 'arch', 'pid', 'port', 'state', 'error'],
    style: { head: style.color ? ['bold'] : [], border: [], compact: true },
    wordWrap: true,
  });
  for (const result of results) {
    const rows = serverRows(result.report?.steps ?? []);
    const hostCells = [cellText(result.host), paintState(result.state, style)];
    const error = hostError(result, style.verbose);
    if (rows.length === 0) {
      table.push([...hostCells, '', '', '', '', '', '', error]);
      continue;
    }
    rows.forEach((row, index) => {
      const rowError = [index === 0 ? error : '', row.error].filter(Boolean).join('\n');
      table.push([...(index === 0 ? hostCells : ['', '']), ...row.cells, rowError]);
    });
  }
  return table.toString();
}

/** `-b`: one row per group of hosts with the same result, without PIDs and ports. */
export function renderGatheredTable(groups: readonly ResultGroup[], style: Style): string {
  const table = new Table({
    head: ['hosts', 'result', 'server', 'release', 'arch', 'state', 'error'],
    style: { head: style.color ? ['bold'] : [], border: [], compact: true },
    wordWrap: true,
  });
  for (const group of groups) {
    const hostCells = [formatHostSet(group.hosts), paintState(group.state, style)];
    const error = [...group.errors.map((item) => item.message), ...group.messages].map(cellText).join('\n');
    if (group.servers.length === 0) {
      table.push([...hostCells, '', '', '', '', error]);
      continue;
    }
    group.servers.forEach((server, index) => {
      const rowError = [index === 0 ? error : '', cellText(server.error ?? '')].filter(Boolean).join('\n');
      const cells = [server.nickname, server.releases.join(' ') || '(running kernel)', server.arch, server.outcome.replace(/-/g, ' ')].map(cellText);
      table.push([...(index === 0 ? hostCells : ['', '']), ...cells, rowError]);
    });
  }
  return table.toString();
}

export interface ServerRow {
  /** nickname, release, arch, pid, port, state */
  cells: string[];
  error: string;
}

export function serverRows(steps: readonly Step[]): ServerRow[] {
  const rows: ServerRow[] = [];
  for (const step of steps) {
    if (step.kind !== 'start' && step.kind !== 'stop' && step.kind !== 'status' && step.kind !== 'skip') continue;
    const pid = 'pid' in step && step.pid !== undefined ? String(step.pid) : '';
    const port = 'port' in step && step.port !== undefined ? String(step.port) : '';
    const state = step.kind === 'skip' ? 'not running' : step.outcome.replace(/-/g, ' ');
    rows.push({
      cells: [step.spec.nickname || pid, step.spec.releases.join(' ') || '(running kernel)', step.spec.arch, pid, port, state].map(cellText),
      error: 'error' in step && step.error ? cellText(step.error.message) : '',
    });
  }
  return rows;
}

export function hostError(result: HostResult, verbose: boolean): string {
  const errors: SerializedError[] = [];
  if (result.error) errors.push(result.error);
  for (const step of result.report?.steps ?? []) if (step.kind === 'error') errors.push(step.error);
  return errors.map((error) => (verbose ? fullMessage(error) : cellText(error.message))).join('\n');
}

/** One line each for message, hint and detail; a newline inside one of them is shown as `\n`. */
function fullMessage(error: SerializedError): string {
  return [error.message, error.hint && `hint: ${error.hint}`, error.detail]
    .filter((part): part is string => Boolean(part))
    .map(cellText)
    .join('\n');
}

/** "[12/64] 10 ok, 1 failed, 0 unreachable, 52 running; slowest h07 3.1 s". */
export function progressLine(progress: Progress): string {
  const { counts, total } = progress;
  const done = total - counts.queued - counts.running;
  const parts = [`${counts.ok} ok`, `${counts.failed} failed`];
  if (counts['not-running'] > 0) parts.push(`${counts['not-running']} not running`);
  parts.push(`${counts.unreachable} unreachable`);
  if (counts.skipped > 0) parts.push(`${counts.skipped} skipped`);
  parts.push(`${counts.running} running`);
  if (counts.interrupted > 0) parts.push(`${counts.interrupted} interrupted`);
  const slowest = progress.running[0];
  const slow = slowest && slowest.elapsedMs >= 2000 ? `; slowest ${slowest.host} ${(slowest.elapsedMs / 1000).toFixed(1)} s` : '';
  return `[${done}/${total}] ${parts.join(', ')}${slow}`;
}

/** After the summary: which hosts did not succeed, as folded sets (`failed: build[03,07] (2)`). */
export function hostSetLines(results: readonly { host: string; state: FinalState }[]): string[] {
  return (['failed', 'unreachable', 'interrupted', 'skipped'] as const)
    .map((state) => [state, results.filter((result) => result.state === state).map((result) => result.host)] as const)
    .filter(([, hosts]) => hosts.length > 0)
    .map(([state, hosts]) => `${state}: ${formatHostSet(hosts)}`);
}
