import type { SerializedError } from '../errors.js';
import type { ServerSpec } from './server-spec.js';

export type Action =
  | 'start'
  | 'stop'
  | 'restart'
  | 'condrestart'
  | 'try-restart'
  | 'force-reload'
  | 'status'
  | 'reload';

export const ACTIONS: readonly Action[] = [
  'start',
  'stop',
  'restart',
  'condrestart',
  'try-restart',
  'force-reload',
  'status',
  'reload',
];

/**
 * One thing the engine did or found, in the order it happened. The text view renders each step
 * as the stock script's lines; the JSON and fleet views serialise the same steps.
 */
export type Step =
  | StartStep
  | StopStep
  | StatusStep
  | SkipStep
  | NoneRunningStep
  | ErrorStep;

export interface StartStep {
  kind: 'start';
  /** As requested: the nickname is empty unless one was asked for. */
  spec: ServerSpec;
  outcome: 'started' | 'already-running' | 'failed';
  pid?: number;
  port?: number;
  error?: SerializedError;
  /** The last lines of the server's log when it failed. */
  logTail?: string[];
}

export interface StopStep {
  kind: 'stop';
  /** As recorded in the status file when the server was found, else as requested. */
  spec: ServerSpec;
  outcome: 'stopped' | 'killed' | 'not-running' | 'failed' | 'unknown-nickname';
  pid?: number;
  error?: SerializedError;
}

export interface StatusStep {
  kind: 'status';
  spec: ServerSpec;
  outcome: 'running' | 'dead' | 'not-running' | 'unknown-nickname';
  pid?: number;
  port?: number;
}

/** condrestart of a server that is not running: nothing is done. */
export interface SkipStep {
  kind: 'skip';
  spec: ServerSpec;
}

/** `stop`, `status` or `condrestart` with no server named and none managed. */
export interface NoneRunningStep {
  kind: 'none-running';
  action: 'stop' | 'status' | 'condrestart';
}

/** A problem that is not one server's outcome: a bad config line, an unusable status file. */
export interface ErrorStep {
  kind: 'error';
  error: SerializedError;
}

export interface ActionReport {
  action: Action;
  steps: Step[];
  /** The stock script's exit code for this run (status: 0 running, 1 dead, 3 not running). */
  exitCode: number;
  /** Warnings that are not errors, such as a stop that had to escalate to SIGKILL. */
  warnings: string[];
}
