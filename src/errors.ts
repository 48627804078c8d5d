/**
 * Every error a user can act on is a StapctlError with a stable code. Anything else that reaches
 * the top level is a bug and is shown with its stack.
 */
export type ErrorCode =
  // usage and input
  | 'USAGE'
  | 'CONFIG_SYNTAX'
  | 'CONFIG_UNSAFE'
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_CONFLICT'
  | 'CONFIG_INVALID'
  | 'STATUS_FILE_INVALID'
  | 'STATUS_UNREADABLE'
  | 'STATUS_FILE_UNTRUSTED'
  | 'UNSAFE_PATH'
  | 'NO_SUCH_RELEASE_TREE'
  | 'NO_SUCH_PID'
  | 'UNKNOWN_NICKNAME'
  | 'NO_SUCH_USER'
  | 'USER_NOT_IN_GROUP'
  | 'ROOT_USER_REFUSED'
  | 'NO_LIB_MODULES'
  | 'NO_SUCH_GROUP'
  // running servers
  | 'SERVER_START_FAILED'
  | 'SERVER_STOP_FAILED'
  | 'CERT_FAILED'
  | 'TRUST_FAILED'
  | 'LOCK_TIMEOUT'
  | 'LOCK_FAILED'
  | 'PERMISSION_DENIED'
  | 'LOG_UNWRITABLE'
  // fleet
  | 'INVENTORY_INVALID'
  | 'INVENTORY_NOT_FOUND'
  | 'HOST_PATTERN_INVALID'
  | 'NO_HOSTS_MATCHED'
  | 'HOST_LIST_UNREADABLE'
  | 'RETRY_FILE_UNWRITABLE'
  | 'SSH_CONFIG_INVALID'
  | 'SSH_CLIENT_MISSING'
  | 'CONNECT_FAILED'
  | 'CONNECT_TIMEOUT'
  | 'AUTH_FAILED'
  | 'KEY_PASSPHRASE_REQUIRED'
  | 'IDENTITY_UNREADABLE'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_MISMATCH'
  | 'HOST_KEY_REVOKED'
  | 'KNOWN_HOSTS_UNREADABLE'
  | 'NO_NODE_ON_HOST'
  | 'AGENT_FAILED'
  | 'AGENT_PROTOCOL'
  | 'AGENT_CACHE_UNSAFE'
  | 'OUTPUT_TOO_LARGE'
  | 'HOST_TIMEOUT'
  | 'INTERRUPTED'
  // a bug, caught per host so that the other hosts' results are still shown
  | 'INTERNAL';

export interface ErrorDetails {
  /** What the user can do about it. */
  hint?: string;
  /** The file the error is in, with 1-based line and column when known. */
  file?: string;
  line?: number;
  column?: number;
  /** The fleet host the error happened on. */
  host?: string;
  /** Longer text for --verbose, such as remote stderr. */
  detail?: string;
  cause?: unknown;
}

export class StapctlError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly host?: string;
  readonly detail?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StapctlError';
    this.code = code;
    this.hint = details.hint;
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
    this.host = details.host;
    this.detail = details.detail;
  }

  /** `file:line:column: message`, the form editors and terminals make clickable. */
  get located(): string {
    if (this.file === undefined) return this.message;
    const at = [this.file, this.line, this.column].filter((part) => part !== undefined).join(':');
    return `${at}: ${this.message}`;
  }

  toJSON(): SerializedError {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint !== undefined && { hint: this.hint }),
      ...(this.file !== undefined && { file: this.file }),
      ...(this.line !== undefined && { line: this.line }),
      ...(this.column !== undefined && { column: this.column }),
      ...(this.host !== undefined && { host: this.host }),
      ...(this.detail !== undefined && { detail: this.detail }),
    };
  }
}

/** An error as data: what the agent sends and `--json` prints. */
export interface SerializedError extends Omit<ErrorDetails, 'cause'> {
  code: ErrorCode;
  message: string;
}

/**
 * A file-system error that only says nothing is there: the path does not exist (ENOENT), or a
 * directory on it is a file (ENOTDIR). For files that may be absent, as ssh treats its own.
 */
export function isMissingFile(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
