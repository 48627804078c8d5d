/**
 * The stock initscript's server options, written once: the command line declares its options from
 * these tables, and the planner checks and applies each option by them.
 */
import { StapctlError } from '../errors.js';
import { valueProblem, type ValueKind } from './config-file.js';
import type { ServerSpec } from './server-spec.js';

/** Options that describe a server, in command-line order: -r -I -B -D add, -a -R -u replace, -n -p name one. */
export type ServerFlag = 'a' | 'r' | 'u' | 'I' | 'R' | 'B' | 'D' | 'n' | 'p';
/** Options applied in turn to each server named: the first --port to the first server, ... */
export type DistributedFlag = 'port' | 'log' | 'ssl' | 'max-threads' | 'max-request-size' | 'max-compressed-request';

export type OptionToken = { flag: ServerFlag; value: string } | { flag: 'i' } | { flag: DistributedFlag; value: string };

interface OptionDefinition {
  /** The name of the value in the help text. */
  value: string;
  kind: ValueKind;
  help: string;
}

export const SERVER_OPTIONS: Readonly<Record<ServerFlag, OptionDefinition>> = {
  a: { value: 'arch', kind: 'text', help: "target architecture of the server (default: the host's)" },
  r: { value: 'release', kind: 'list-item', help: 'kernel release, or the absolute path of a kernel build tree (default: the running kernel)' },
  u: { value: 'user', kind: 'text', help: 'user that runs the server, a member of group stap-server (default: STAP_USER, else stap-server)' },
  I: { value: 'path', kind: 'list-item', help: 'an additional tapset search path' },
  R: { value: 'path', kind: 'text', help: 'location of the systemtap runtime' },
  B: { value: 'options', kind: 'list-item', help: 'an option for make when building modules' },
  D: { value: 'name[=value]', kind: 'list-item', help: 'a macro definition for building modules' },
  n: { value: 'nickname', kind: 'text', help: 'a server by nickname: running, else configured in conf.d, else (start) a new one' },
  p: { value: 'pid', kind: 'text', help: 'a running managed server by process id' },
};

/** -i, which takes no value: one server per release in /lib/modules. */
export const EACH_RELEASE_HELP = 'one server for each kernel release installed in /lib/modules';

type DistributedField = 'port' | 'log' | 'ssl' | 'maxThreads' | 'maxRequestSize' | 'maxCompressedRequest';

export const DISTRIBUTED_OPTIONS: Readonly<Record<DistributedFlag, OptionDefinition & { field: DistributedField & keyof ServerSpec }>> = {
  port: { value: 'port', field: 'port', kind: 'port', help: 'network port of the server (default: random)' },
  log: { value: 'path', field: 'log', kind: 'absolute-path', help: 'log file of the server (default: LOG_FILE, /var/log/stap-server/log)' },
  ssl: { value: 'path', field: 'ssl', kind: 'absolute-path', help: 'certificate database of the server' },
  'max-threads': { value: 'threads', field: 'maxThreads', kind: 'count', help: 'maximum worker threads (default: number of processors; 0: main thread)' },
  'max-request-size': { value: 'size', field: 'maxRequestSize', kind: 'count', help: 'maximum uncompressed request size in bytes (default 50000)' },
  'max-compressed-request': { value: 'size', field: 'maxCompressedRequest', kind: 'count', help: 'maximum compressed request size in bytes (default 5000)' },
};

export function isDistributed(token: OptionToken): token is { flag: DistributedFlag; value: string } {
  return Object.hasOwn(DISTRIBUTED_OPTIONS, token.flag);
}

/**
 * The problem with one option's value, whatever host it is for: the controller checks every
 * option with this before it contacts any host, and the planner before it plans.
 */
export function tokenProblem(token: OptionToken): StapctlError | undefined {
  if (token.flag === 'i') return undefined;
  if (isDistributed(token)) {
    const problem = valueProblem(DISTRIBUTED_OPTIONS[token.flag].kind, token.value);
    return problem === undefined ? undefined : usage(`--${token.flag} ${problem}, got "${token.value}"`, `give --${token.flag} a valid value`);
  }
  const { flag, value } = token as { flag: ServerFlag; value: string };
  const problem = valueProblem(SERVER_OPTIONS[flag].kind, value) ?? (value === '' && flag !== 'R' ? 'needs a value' : undefined);
  return problem === undefined ? undefined : usage(`-${flag} ${problem}, got "${value}"`, `give -${flag} a non-empty value on one line`);
}

const usage = (message: string, hint: string) => new StapctlError('USAGE', message, { hint });
