/**
 * The views of `endpoints`: every running server as host, address, port, arch, releases and
 * certificate fingerprint (a table or JSON), or the `--use-server=ADDR:PORT,...` argument a
 * `stap` client takes. Pure: results in, text out.
 */
import Table from 'cli-table3';
import type { ServerEndpoint } from '../provision/endpoint-facts.js';
import { hostPort } from '../port.js';

export interface EndpointRow extends Omit<ServerEndpoint, 'certificate'> {
  host: string;
  /** The address the controller reached the host at: what a client on the same network uses. */
  address: string;
}

export interface EndpointFilter {
  arch?: string;
  release?: string;
}

export function filterEndpoints<R extends EndpointRow>(rows: readonly R[], filter: EndpointFilter): R[] {
  return rows.filter((row) => (filter.arch === undefined || row.arch === filter.arch) && (filter.release === undefined || row.releases.includes(filter.release)));
}

/** `--use-server=ADDR:PORT,...`, IPv6 addresses in brackets; empty when no server matches. */
export function useServerArgument(rows: readonly EndpointRow[]): string {
  if (rows.length === 0) return '';
  const endpoint = (row: EndpointRow) => hostPort(row.address, row.port);
  return `--use-server=${rows.map(endpoint).join(',')}`;
}

export function renderEndpointTable(rows: readonly EndpointRow[]): string {
  const table = new Table({
    head: ['host', 'address', 'port', 'server', 'arch', 'releases', 'certificate (SHA-256)'],
    style: { head: [], border: [], compact: true },
  });
  for (const row of rows) {
    table.push([row.host, row.address, String(row.port), row.nickname, row.arch, row.releases.join(' ') || '(running kernel)', row.fingerprint ?? 'unreadable']);
  }
  return table.toString();
}
