/**
 * The views of `apply`: one table row per host and server (added, changed, removed, unchanged,
 * and what was done to the server), the conf.d changes as unified diffs, and the summary that
 * says whether anything changed. Pure: results in, text out.
 */
import Table from 'cli-table3';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import type { SerializedError } from '../errors.js';
import type { FinalState } from '../fleet/run/fan-out.js';
import type { ConfigChange } from '../provision/apply-plan.js';
import type { ApplyReport } from '../provision/apply.js';
import { posix } from 'node:path';

export interface HostApplyResult {
  host: string;
  state: FinalState;
  report?: ApplyReport;
  error?: SerializedError;
}

const ACTION_WORDS = {
  planned: { start: 'would start', restart: 'would restart', stop: 'would stop', none: '' },
  done: { start: 'started', restart: 'restarted', stop: 'stopped', none: '' },
  failed: { start: 'start failed', restart: 'restart failed', stop: 'stop failed', none: 'not applied' },
} as const;

export function renderApplyTable(results: readonly HostApplyResult[], verbose: boolean): string {
  const table = new Table({
    head: ['host', 'result', 'server', 'conf.d', 'server action', 'pid', 'port', 'error'],
    style: { head: [], border: [], compact: true },
    wordWrap: true,
  });
  for (const result of results) {
    const hostError = [result.error, ...(result.report?.errors ?? [])].filter((error) => error !== undefined).map((error) => message(error, verbose)).join('\n');
    const servers = result.report?.servers ?? [];
    if (servers.length === 0) {
      table.push([result.host, result.state, '', result.report ? 'nothing declared' : '', '', '', '', hostError]);
      continue;
    }
    servers.forEach((server, index) => {
      const errors = [index === 0 ? hostError : '', server.error ? message(server.error, verbose) : ''].filter(Boolean).join('\n');
      table.push([
        index === 0 ? result.host : '',
        index === 0 ? result.state : '',
        server.nickname,
        server.change,
        ACTION_WORDS[server.outcome][server.action],
        server.pid === undefined ? '' : String(server.pid),
        server.port === undefined ? '' : String(server.port),
        errors,
      ]);
    });
  }
  return table.toString();
}

function message(error: SerializedError, verbose: boolean): string {
  return verbose ? [error.message, error.hint && `hint: ${error.hint}`, error.detail].filter(Boolean).join('\n') : error.message;
}

/** Each conf.d change as a unified diff, headed by host and file (`a/h1/etc/stap-server/conf.d/x.conf`). */
export function renderApplyDiffs(results: readonly HostApplyResult[], confDir = '/etc/stap-server/conf.d'): string {
  const patches: string[] = [];
  for (const result of results) {
    for (const server of result.report?.servers ?? []) {
      if (server.change === 'unchanged' || server.change === 'conflict') continue;
      const file = posix.join(result.host, confDir, server.file);
      const from = server.change === 'added' ? '/dev/null' : `a/${file}`;
      const to = server.change === 'removed' ? '/dev/null' : `b/${file}`;
      const patch = createTwoFilesPatch(from, to, server.before ?? '', server.after ?? '', undefined, undefined, { headerOptions: FILE_HEADERS_ONLY });
      patches.push(patch);
    }
  }
  return patches.join('');
}

/** "servers: 2 added, 1 changed, 0 removed, 5 unchanged; 3 started, 1 restarted" or that nothing changed. */
export function applySummary(results: readonly HostApplyResult[], check: boolean): string {
  const counts: Record<ConfigChange, number> = { added: 0, changed: 0, removed: 0, unchanged: 0, conflict: 0 };
  const actions = { start: 0, restart: 0, stop: 0 };
  let changed = false;
  for (const result of results) {
    changed ||= result.report?.changed ?? false;
    for (const server of result.report?.servers ?? []) {
      counts[server.change] += 1;
      if (server.action !== 'none' && server.outcome !== 'failed') actions[server.action] += 1;
    }
  }
  const files = `${counts.added} added, ${counts.changed} changed, ${counts.removed} removed, ${counts.unchanged} unchanged${counts.conflict > 0 ? `, ${counts.conflict} in conflict` : ''}`;
  const verbs = check ? ['would start', 'would restart', 'would stop'] : ['started', 'restarted', 'stopped'];
  const done = [actions.start, actions.restart, actions.stop].map((count, index) => `${count} ${verbs[index]}`).join(', ');
  if (!changed) return `servers: ${files}; no changes${check ? ' needed' : ''}`;
  return `servers: ${files}; ${done}`;
}
