/**
 * How a run of stapctl ends, decided in one place (as ClusterShell's CLI/Error.py
 * handle_generic_error): every error code leads to one outcome, every outcome has one exit code,
 * and when a run has several outcomes one order says which decides. Local mode keeps the stock
 * initscript's codes (LSB: 1 failed or dead, 2 usage, 3 not running); fleet mode adds 4.
 */
import type { ErrorCode } from './errors.js';

/** How a run, a host or a server ended, from the least to the most severe. */
export const OUTCOMES = ['ok', 'drift', 'unsupported', 'not-running', 'failed', 'usage', 'unreachable', 'internal', 'interrupted'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const EXIT_CODE: Readonly<Record<Outcome, number>> = {
  ok: 0,
  /** apply --check: something would change on some host (CI's drift signal); any error outranks it. */
  drift: 5,
  /** reload, which the stock script does not implement either (LSB 3: unimplemented). */
  unsupported: 3,
  /** status: a named server is not running, or none is managed (LSB 3). */
  'not-running': 3,
  /** An action failed; status: a managed server died (its status file was left behind). */
  failed: 1,
  /** Bad options or arguments, an unusable inventory or host pattern: nothing was done. */
  usage: 2,
  /** Fleet: a host could not be reached (connection, authentication, host key). */
  unreachable: 4,
  /** A bug: an error that is not a StapctlError reached the top (sysexits' EX_SOFTWARE). */
  internal: 70,
  /** Fleet: SIGINT, SIGTERM or SIGHUP stopped the run (128 + SIGINT, as a shell reports Ctrl-C). */
  interrupted: 130,
};

const OUTCOME_OF_ERROR: Readonly<Record<ErrorCode, Outcome>> = {
  USAGE: 'usage',
  NO_SUCH_RELEASE_TREE: 'usage',
  NO_LIB_MODULES: 'usage',
  // As the stock script: a -p that names no managed server exits 1, not 2.
  NO_SUCH_PID: 'failed',
  UNKNOWN_NICKNAME: 'failed',
  CONFIG_SYNTAX: 'failed',
  CONFIG_UNSAFE: 'failed',
  CONFIG_UNREADABLE: 'failed',
  // apply: a declared server's file name is taken by a file stapctl does not manage.
  CONFIG_CONFLICT: 'failed',
  STATUS_FILE_INVALID: 'failed',
  STATUS_UNREADABLE: 'failed',
  STATUS_FILE_UNTRUSTED: 'failed',
  UNSAFE_PATH: 'failed',
  NO_SUCH_USER: 'failed',
  USER_NOT_IN_GROUP: 'failed',
  ROOT_USER_REFUSED: 'failed',
  NO_SUCH_GROUP: 'failed',
  SERVER_START_FAILED: 'failed',
  SERVER_STOP_FAILED: 'failed',
  CERT_FAILED: 'failed',
  TRUST_FAILED: 'failed',
  LOCK_TIMEOUT: 'failed',
  LOCK_FAILED: 'failed',
  PERMISSION_DENIED: 'failed',
  LOG_UNWRITABLE: 'failed',
  INVENTORY_INVALID: 'usage',
  INVENTORY_NOT_FOUND: 'usage',
  HOST_PATTERN_INVALID: 'usage',
  NO_HOSTS_MATCHED: 'usage',
  HOST_LIST_UNREADABLE: 'usage',
  CONFIG_INVALID: 'usage',
  // Only ever a warning: the run's results stand without their retry file.
  RETRY_FILE_UNWRITABLE: 'failed',
  SSH_CONFIG_INVALID: 'unreachable',
  // --transport openssh without an ssh client: said once, before any host is contacted.
  SSH_CLIENT_MISSING: 'usage',
  CONNECT_FAILED: 'unreachable',
  CONNECT_TIMEOUT: 'unreachable',
  AUTH_FAILED: 'unreachable',
  KEY_PASSPHRASE_REQUIRED: 'unreachable',
  IDENTITY_UNREADABLE: 'unreachable',
  HOST_KEY_UNKNOWN: 'unreachable',
  HOST_KEY_MISMATCH: 'unreachable',
  HOST_KEY_REVOKED: 'unreachable',
  KNOWN_HOSTS_UNREADABLE: 'unreachable',
  NO_NODE_ON_HOST: 'failed',
  AGENT_FAILED: 'failed',
  // The agent was asked something it does not understand: the agent process exits 2; on the
  // controller the host failed.
  AGENT_PROTOCOL: 'usage',
  HOST_TIMEOUT: 'failed',
  AGENT_CACHE_UNSAFE: 'failed',
  OUTPUT_TOO_LARGE: 'failed',
  INTERRUPTED: 'interrupted',
  INTERNAL: 'internal',
};

export function outcomeOf(error: { code: ErrorCode }): Outcome {
  return OUTCOME_OF_ERROR[error.code];
}

export function exitCodeOf(error: { code: ErrorCode }): number {
  return EXIT_CODE[outcomeOf(error)];
}

/** The outcome that decides a run with several: a failure outranks a server that is not running. */
export function worstOutcome(outcomes: Iterable<Outcome>): Outcome {
  let worst: Outcome = 'ok';
  for (const outcome of outcomes) if (OUTCOMES.indexOf(outcome) > OUTCOMES.indexOf(worst)) worst = outcome;
  return worst;
}
