/**
 * Gathering (`-b`, as `clush -b` does): hosts whose results are the same are one group. Two results
 * are the same when the host state, the error and, server by server, the step, outcome, nickname,
 * arch and releases agree; PIDs, ports, durations and the host's own name in messages do not count.
 */
import type { ErrorCode } from '../../errors.js';
import type { FinalState } from './fan-out.js';
import type { HostResult } from './fleet-run.js';

export interface GatheredServer {
  step: 'start' | 'stop' | 'status' | 'skip';
  outcome: string;
  /** Empty when the server has no nickname of its own (its PID stands in for one). */
  nickname: string;
  arch: string;
  releases: string[];
  error?: string;
}

export interface GatheredError {
  code: ErrorCode;
  /** The hosts' common message; where each named itself, its name reads `<host>` (and `<address>`). */
  message: string;
}

export interface ResultGroup {
  /** In the order of the results. */
  hosts: string[];
  state: FinalState;
  errors: GatheredError[];
  servers: GatheredServer[];
  messages: string[];
}

const HOST_PLACEHOLDER = '<host>';
const ADDRESS_PLACEHOLDER = '<address>';

/** Replaces NAME where it stands as a whole word of a host name, not inside another (h1 in sha1). */
function replaceName(text: string, name: string, placeholder: string): string {
  if (name === '') return text;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(?<![A-Za-z0-9.-])${escaped}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])`, 'g'), placeholder);
}

function generic(text: string, result: HostResult): string {
  return replaceName(replaceName(text, result.host, HOST_PLACEHOLDER), result.address, ADDRESS_PLACEHOLDER);
}

/** GENERALIZE: messages with the host's own name replaced, to compare them across hosts. */
function shape(result: HostResult, generalize = true): Omit<ResultGroup, 'hosts'> {
  const message = (text: string) => (generalize ? generic(text, result) : text);
  const errors: GatheredError[] = [];
  const servers: GatheredServer[] = [];
  const messages: string[] = [];
  if (result.error) errors.push({ code: result.error.code, message: message(result.error.message) });
  for (const step of result.report?.steps ?? []) {
    if (step.kind === 'error') errors.push({ code: step.error.code, message: message(step.error.message) });
    else if (step.kind === 'none-running') messages.push('No managed stap-server is running');
    else {
      const pid = 'pid' in step && step.pid !== undefined ? String(step.pid) : '';
      const error = 'error' in step && step.error ? message(step.error.message) : undefined;
      servers.push({
        step: step.kind,
        outcome: step.kind === 'skip' ? 'not-running' : step.outcome,
        nickname: step.spec.nickname === pid ? '' : step.spec.nickname,
        arch: step.spec.arch,
        releases: step.spec.releases,
        ...(error !== undefined && { error }),
      });
    }
  }
  return { state: result.state, errors, servers, messages };
}

/**
 * Groups in the order of their first host; every host is in exactly one group. A group of one
 * host keeps its messages as they were.
 */
export function gatherResults(results: readonly HostResult[]): ResultGroup[] {
  const groups = new Map<string, { first: HostResult; hosts: string[]; same: Omit<ResultGroup, 'hosts'> }>();
  for (const result of results) {
    const same = shape(result);
    const key = JSON.stringify(same);
    const group = groups.get(key);
    if (group) group.hosts.push(result.host);
    else groups.set(key, { first: result, hosts: [result.host], same });
  }
  return [...groups.values()].map(({ first, hosts, same }) => ({ hosts, ...(hosts.length === 1 ? shape(first, false) : same) }));
}
