/** The data view of an ActionReport: what `--json` prints and what the agent sends back. */
import type { SerializedError } from '../errors.js';
import type { ActionReport, Step } from '../service/report.js';
import type { ServerSpec } from '../service/server-spec.js';

export interface ServerJson {
  step: 'start' | 'stop' | 'status' | 'skip';
  outcome: string;
  pid: number | null;
  port: number | null;
  nickname: string;
  arch: string;
  releases: string[];
  user: string;
  log: string;
  options: Omit<ServerSpec, 'nickname' | 'arch' | 'releases' | 'user' | 'log'>;
  error?: SerializedError;
  logTail?: string[];
}

export interface ReportJson {
  action: string;
  exitCode: number;
  servers: ServerJson[];
  messages: string[];
  errors: SerializedError[];
  warnings: string[];
}

export function reportToJson(report: ActionReport): ReportJson {
  const servers: ServerJson[] = [];
  const messages: string[] = [];
  const errors: SerializedError[] = [];
  for (const step of report.steps) {
    if (step.kind === 'error') errors.push(step.error);
    else if (step.kind === 'none-running') messages.push('No managed stap-server is running');
    else servers.push(serverJson(step));
  }
  return { action: report.action, exitCode: report.exitCode, servers, messages, errors, warnings: report.warnings };
}

function serverJson(step: Exclude<Step, { kind: 'error' | 'none-running' }>): ServerJson {
  const { nickname, arch, releases, user, log, ...options } = step.spec;
  const pid = 'pid' in step && step.pid !== undefined ? step.pid : null;
  const port = 'port' in step && step.port !== undefined ? step.port : null;
  return {
    step: step.kind,
    outcome: step.kind === 'skip' ? 'not-running' : step.outcome,
    pid,
    port,
    nickname: nickname || (pid === null ? '' : String(pid)),
    arch,
    releases,
    user,
    log,
    options,
    ...('error' in step && step.error && { error: step.error }),
    ...(step.kind === 'start' && step.logTail && { logTail: step.logTail }),
  };
}
