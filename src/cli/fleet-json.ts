/** The fleet run as one JSON document (`--json`, `--output json`): what CI reads of a run. */
import type { SerializedError } from '../errors.js';
import { countStates, FINAL_STATES, type FinalState } from '../fleet/run/fan-out.js';
import type { HostResult } from '../fleet/run/fleet-run.js';
import type { ResultGroup } from '../fleet/run/gather.js';
import { foldHosts } from '../fleet/targets/host-fold.js';
import { reportToJson, type ReportJson } from './service-json.js';

/** Where the hosts to retry were written, and the command that retries them. */
export interface RetryHint {
  file: string;
  command: string;
}

export interface FleetJson {
  action: string;
  exitCode: number;
  summary: string;
  counts: Record<FinalState, number>;
  /** The hosts in each state other than ok, folded (`build[03,07]`). */
  hostSets: Partial<Record<FinalState, string[]>>;
  retry?: RetryHint;
  /** With --gather: the hosts of each group of equal results. */
  groups?: (ResultGroup & { hostSet: string[] })[];
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

export interface FleetJsonExtras {
  retry?: RetryHint;
  groups?: readonly ResultGroup[];
}

export function fleetJson(action: string, results: readonly HostResult[], exitCode: number, summary: string, extras: FleetJsonExtras = {}): FleetJson {
  const hostSets: Partial<Record<FinalState, string[]>> = {};
  for (const state of FINAL_STATES) {
    const hosts = results.filter((result) => result.state === state).map((result) => result.host);
    if (state !== 'ok' && hosts.length > 0) hostSets[state] = foldHosts(hosts);
  }
  return {
    action,
    exitCode,
    summary,
    counts: countStates(FINAL_STATES, results),
    hostSets,
    ...(extras.retry && { retry: extras.retry }),
    ...(extras.groups && { groups: extras.groups.map((group) => ({ ...group, hostSet: foldHosts(group.hosts) })) }),
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
