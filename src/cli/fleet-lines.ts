/**
 * The grep-friendly view: one `host: result` line per host (or, gathered, per group of hosts), so
 * that `grep failed`, `awk -F': '` and `diff` work on it. Pure: results in, text out.
 */
import type { HostResult } from '../fleet/run/fleet-run.js';
import type { ResultGroup } from '../fleet/run/gather.js';
import { formatHostSet } from '../fleet/targets/host-fold.js';
import { hostError, paintState, serverRows, type Style } from './fleet-table.js';

const NONE_RUNNING = 'No managed stap-server is running';

/** Messages may hold line breaks (remote stderr): a line of this view must stay one line. */
const oneLine = (text: string) => text.replace(/\s*\n\s*/g, '; ');

/** `h1: ok: running 6.1.0-a x86_64 pid 101 port 40001; running 6.1.0-b x86_64 pid 102 port 40002` */
export function renderFleetLines(results: readonly HostResult[], style: Style): string {
  return results
    .map((result) => {
      const servers = serverRows(result.report?.steps ?? []).map(({ cells, error }) => {
        const [nickname = '', release = '', arch = '', pid = '', port = ''] = cells;
        const state = cells[5] ?? '';
        const named = nickname !== '' && nickname !== pid ? ` nickname ${nickname}` : '';
        const at = [pid && `pid ${pid}`, port && `port ${port}`].filter(Boolean).join(' ');
        return [`${state} ${release} ${arch}${named}`, at, error && `(${error})`].filter(Boolean).join(' ');
      });
      const error = hostError(result, style.verbose);
      const none = result.report?.steps.some((step) => step.kind === 'none-running') ? NONE_RUNNING : '';
      const details = [error, none, ...servers].filter(Boolean).map(oneLine).join('; ');
      return `${result.host}: ${paintState(result.state, style)}${details ? `: ${details}` : ''}`;
    })
    .join('\n');
}

/** `-b`: `build[01-08,10] (9): ok: running 6.1.0-a x86_64` */
export function renderGatheredLines(groups: readonly ResultGroup[], style: Style): string {
  return groups
    .map((group) => {
      const servers = group.servers.map((server) => {
        const named = server.nickname ? ` nickname ${server.nickname}` : '';
        const release = server.releases.join(' ') || '(running kernel)';
        return `${server.outcome.replace(/-/g, ' ')} ${release} ${server.arch}${named}${server.error ? ` (${server.error})` : ''}`;
      });
      const details = [...group.errors.map((error) => error.message), ...group.messages, ...servers].map(oneLine).join('; ');
      return `${formatHostSet(group.hosts)}: ${paintState(group.state, style)}${details ? `: ${details}` : ''}`;
    })
    .join('\n');
}
