/**
 * The stock initscript's text view of an ActionReport: stdout line for line as
 * /usr/bin/stap-server prints it, and everything the stock script does not say on stderr.
 * Both are cleaned for the terminal: the server log tail and values read from status files are
 * text the server account could have written.
 */
import type { ErrorCode, SerializedError } from '../errors.js';
import { stripTerminalEscapes } from '../sanitize.js';
import type { ActionReport, Step } from '../service/report.js';
import { formatServerOptions } from '../service/server-spec.js';

/** Errors the stock script reports on stdout, in the words of their message: so does this view. */
const STOCK_STDOUT_ERRORS: ReadonlySet<ErrorCode> = new Set(['NO_SUCH_PID']);

export interface RenderedText {
  stdout: string;
  stderr: string;
}

export function renderServiceText(report: ActionReport): RenderedText {
  const chunks = report.steps.map(stepText).filter((chunk): chunk is string => chunk !== undefined);
  // Each chunk ends without a newline ("OK" is printed with echo -n); the stock script puts an
  // echo between servers and one at the very end, except status, which prints whole lines.
  // A run that failed before acting (a bad config file, bad options) prints nothing on stdout.
  const failedEarly = chunks.length === 0 && report.steps.some((step) => step.kind === 'error');
  const stdout = chunks.length > 0 || (report.action !== 'status' && !failedEarly) ? chunks.join('\n') + '\n' : '';
  const stderr = report.steps.flatMap(stepDiagnostics).concat(report.warnings.map((warning) => `stapctl: warning: ${warning}`));
  return { stdout: stripTerminalEscapes(stdout), stderr: stripTerminalEscapes(stderr.map((line) => line + '\n').join('')) };
}

function stepText(step: Step): string | undefined {
  switch (step.kind) {
    case 'start':
      return `Starting stap-server ${formatServerOptions(step.spec)}\n${step.outcome === 'failed' ? 'FAILED' : 'OK'}`;
    case 'stop':
      if (step.outcome === 'unknown-nickname') return `No configuration found for the nickname '${step.spec.nickname}'\nFAILED`;
      return `Stopping stap-server ${formatServerOptions(step.spec)}\n${step.outcome === 'failed' ? 'FAILED' : 'OK'}`;
    case 'status':
      switch (step.outcome) {
        case 'running':
          return `stap-server ${formatServerOptions(step.spec)} running as PID ${step.pid}`;
        case 'dead':
          return `stap-server ${formatServerOptions(step.spec)} started as PID ${step.pid} is no longer running`;
        case 'not-running':
          return `stap-server ${formatServerOptions(step.spec)} is not running`;
        case 'unknown-nickname':
          return `No configuration found for the nickname '${step.spec.nickname}'`;
      }
      return undefined;
    case 'skip':
      return `stap-server ${formatServerOptions(step.spec)} is not running\nOK`;
    case 'none-running':
      switch (step.action) {
        case 'stop':
          return 'Stopping stap-server: OK';
        case 'status':
          return 'No managed stap-server is running';
        case 'condrestart':
          // The stock script prints "No managed stap-server is runningOK" (a missing newline).
          return 'No managed stap-server is running\nOK';
      }
      return undefined;
    case 'error':
      return STOCK_STDOUT_ERRORS.has(step.error.code) ? step.error.message : undefined;
  }
}

function stepDiagnostics(step: Step): string[] {
  switch (step.kind) {
    case 'error':
      if (STOCK_STDOUT_ERRORS.has(step.error.code)) return step.error.hint ? [`stapctl: hint: ${step.error.hint}`] : [];
      return errorLines(step.error);
    case 'start':
      if (step.outcome !== 'failed' || !step.error) return [];
      return [
        ...errorLines({ ...step.error, detail: undefined }),
        ...(step.logTail?.length ? ['stapctl: last lines of the server log:', ...step.logTail.map((line) => `  ${line}`)] : []),
      ];
    case 'stop':
      return step.outcome === 'failed' && step.error ? errorLines(step.error) : [];
    default:
      return [];
  }
}

export function errorLines(error: SerializedError): string[] {
  const at = error.file === undefined ? '' : [error.file, error.line, error.column].filter((part) => part !== undefined).join(':') + ': ';
  const host = error.host === undefined ? '' : `${error.host}: `;
  const lines = [`stapctl: ${host}${at}${error.message}`];
  if (error.hint) lines.push(`  hint: ${error.hint}`);
  return lines;
}
