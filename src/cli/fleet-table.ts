/**
 * The fleet's views of per-host results: the table, the progress line and the JSON document.
 * Pure: results in, text out.
 */
import Table from 'cli-table3';
import type { SerializedError } from '../errors.js';
import type { FinalState, Progress } from '../fleet/run/fan-out.js';
import type { HostResult } from '../fleet/run/fleet-run.js';
import { cellText } from '../sanitize.js';
import type { Step } from '../service/report.js';
import { reportToJson, type ReportJson } from './service-json.js';

export interface Style {
  color: boolean;
  verbose: boolean;
}

const COLORS: Record<FinalState, number> = { ok: 32, failed: 31, 'not-running': 33, unreachable: 35, interrupted: 36 };

function paint(text: string, code: number, style: Style): string {
  return style.color ? `\u001b[${code}m${text}\u001b[39m` : text;
}

export function renderFleetTable(results: readonly HostResult[], style: Style): string {
  const table = new Table({
    head: ['host', 'result', 'server', 'release', 'arch', 'pid', 'port', 'state', 'error'],
    style: { head: style.color ? ['bold'] : [], border: [], compact: true },
    wordWrap: true,
  });
  for (const result of results) {
    const rows = serverRows(result.report?.steps ?? []);
    const hostCells = [cellText(result.host), paint(result.state, COLORS[result.state], style)];
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

interface ServerRow {
  /** nickname, release, arch, pid, port, state */
  cells: string[];
  error: string;
}

function serverRows(steps: readonly Step[]): ServerRow[] {
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

function hostError(result: HostResult, verbose: boolean): string {
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
  parts.push(`${counts.unreachable} unreachable`, `${counts.running} running`);
  if (counts.interrupted > 0) parts.push(`${counts.interrupted} interrupted`);
  const slowest = progress.running[0];
  const slow = slowest && slowest.elapsedMs >= 2000 ? `; slowest ${slowest.host} ${(slowest.elapsedMs / 1000).toFixed(1)} s` : '';
  return `[${done}/${total}] ${parts.join(', ')}${slow}`;
}

export interface FleetJson {
  action: string;
  exitCode: number;
  summary: string;
  counts: Record<FinalState, number>;
  hosts: {
    host: string;
    address: string;
    state: FinalState;
    durationMs: number;
    hostname?: string;
    error?: SerializedError;
    warnings: string[];
    result?: ReportJson;
  }[];
}

export function fleetJson(action: string, results: readonly HostResult[], exitCode: number, summary: string): FleetJson {
  const counts: Record<FinalState, number> = { ok: 0, failed: 0, 'not-running': 0, unreachable: 0, interrupted: 0 };
  for (const result of results) counts[result.state] += 1;
  return {
    action,
    exitCode,
    summary,
    counts,
    hosts: results.map((result) => ({
      host: result.host,
      address: result.address,
      state: result.state,
      durationMs: Math.round(result.durationMs),
      ...(result.hostname !== undefined && { hostname: result.hostname }),
      ...(result.error && { error: result.error }),
      warnings: result.warnings,
      ...(result.report && { result: reportToJson(result.report) }),
    })),
  };
}
