/**
 * A ServerSpec is one stap-serverd configuration: what the stock script keeps in its shell
 * variables ARCH, RELEASE, ... and writes to `<pid>.stat`. Empty string means "not set", as there.
 */
export interface ServerSpec {
  arch: string;
  /** Kernel releases or build-tree paths, one `-r` each. */
  releases: string[];
  runtime: string;
  defines: string[];
  includes: string[];
  builds: string[];
  user: string;
  nickname: string;
  log: string;
  port: string;
  ssl: string;
  maxThreads: string;
  maxRequestSize: string;
  maxCompressedRequest: string;
}

/** A server stapctl manages: the PID of its status file and the configuration that file records. */
export interface ManagedServer {
  pid: number;
  spec: ServerSpec;
}

export function emptySpec(): ServerSpec {
  return {
    arch: '',
    releases: [],
    runtime: '',
    defines: [],
    includes: [],
    builds: [],
    user: '',
    nickname: '',
    log: '',
    port: '',
    ssl: '',
    maxThreads: '',
    maxRequestSize: '',
    maxCompressedRequest: '',
  };
}

/** The stock script's quote_for_cmd: only backslash and double quote are escaped. */
export function quoteForCmd(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * The stock script's echo_server_options: the exact text that follows `Starting stap-server `,
 * `Stopping stap-server ` and `stap-server ` in its output, so that output compares line for line.
 */
export function formatServerOptions(spec: ServerSpec): string {
  const q = (value: string) => `"${quoteForCmd(value)}"`;
  const parts = [`-a ${q(spec.arch)}`];
  for (const release of spec.releases) parts.push(`-r ${q(release)}`);
  if (spec.runtime) parts.push(`-R ${q(spec.runtime)}`);
  for (const define of spec.defines) parts.push(`-D ${q(define)}`);
  for (const include of spec.includes) parts.push(`-I ${q(include)}`);
  for (const build of spec.builds) parts.push(`-B ${q(build)}`);
  parts.push(`-u ${q(spec.user)}`);
  if (spec.nickname) parts.push(`-n ${q(spec.nickname)}`);
  parts.push(`--log ${q(spec.log)}`);
  if (spec.port) parts.push(`--port ${q(spec.port)}`);
  if (spec.ssl) parts.push(`--ssl ${q(spec.ssl)}`);
  if (spec.maxThreads) parts.push(`--max-threads ${q(spec.maxThreads)}`);
  if (spec.maxRequestSize) parts.push(`--max-request-size ${q(spec.maxRequestSize)}`);
  if (spec.maxCompressedRequest) parts.push(`--max-compressed-request ${q(spec.maxCompressedRequest)}`);
  return parts.join(' ');
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((item, index) => item === b[index]);

/**
 * Whether a running server serves the configuration asked for. Nicknames do not take part: the
 * stock script compares configurations, not names. Unlike the stock script, whole lists are
 * compared, not their first elements.
 */
export function sameConfiguration(a: ServerSpec, b: ServerSpec): boolean {
  return (
    a.arch === b.arch &&
    sameList(a.releases, b.releases) &&
    a.runtime === b.runtime &&
    sameList(a.defines, b.defines) &&
    sameList(a.includes, b.includes) &&
    sameList(a.builds, b.builds) &&
    a.user === b.user &&
    a.log === b.log &&
    a.port === b.port &&
    a.ssl === b.ssl &&
    a.maxThreads === b.maxThreads &&
    a.maxRequestSize === b.maxRequestSize &&
    a.maxCompressedRequest === b.maxCompressedRequest
  );
}
