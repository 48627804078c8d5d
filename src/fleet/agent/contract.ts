/**
 * The controller-agent contract, whole: the request and response schema (both ends validate
 * with it), where the agent is cached on a host and how that cache is checked, the one fixed
 * launcher command and its exit codes, the PID report and the kill command, `become` as a
 * wrapper around the launcher, and `runAgent`, which runs one request on a connected host.
 * Nothing user-supplied is ever part of the remote command: the request travels on stdin.
 *
 * The agent bundle imports this module, so it imports zod/mini (40 kB, not zod's 750 kB) and
 * only types from the SSH transport: ssh2 must stay out of the bundle.
 */
import { createHash } from 'node:crypto';
import type { Script } from 'node:vm';
import * as z from 'zod/mini';
import { compileCommonJs, WRAPPER_HEAD, WRAPPER_TAIL } from '../../commonjs-script.js';
import { StapctlError, type ErrorCode, type SerializedError } from '../../errors.js';
import { sanitizeDeep, stripTerminalEscapes } from '../../sanitize.js';
import type { ServiceRequest } from '../../service/engine.js';
import type { ApplyReport, ApplyRequest } from '../../provision/apply.js';
import type { TrustReport, TrustRequest } from '../../provision/client-trust.js';
import type { EndpointReport } from '../../provision/endpoint-facts.js';
import { ACTIONS, type ActionReport } from '../../service/report.js';
import { VERSION } from '../../version.js';
import type { ExecOptions, ExecResult, SshSession } from '../ssh/transport.js';

export const AGENT_PROTOCOL = 1;

// ---- The schema ----------------------------------------------------------------------------

/**
 * Each part of the schema is built on its first use, not at load: the agent, loaded on every
 * host for every run, needs only the request's part, and building the whole schema cost ~4 ms of
 * CPU at each load; the controller needs only the answers'.
 */
function lazily<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

const common = lazily(() => {
  const text = z.string();
  const count = z.int().check(z.nonnegative());
  const errorCode = z.custom<ErrorCode>((value) => typeof value === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(value), 'not an error code');
  const serializedError = z.object({
    code: errorCode,
    message: text,
    hint: z.optional(text),
    file: z.optional(text),
    line: z.optional(count),
    column: z.optional(count),
    host: z.optional(text),
    detail: z.optional(text),
  });
  const texts = z.array(text);
  const serverSpec = z.object({
    arch: text,
    releases: texts,
    runtime: text,
    defines: texts,
    includes: texts,
    builds: texts,
    user: text,
    nickname: text,
    log: text,
    port: text,
    ssl: text,
    maxThreads: text,
    maxRequestSize: text,
    maxCompressedRequest: text,
  });
  const pid = z.int().check(z.positive());
  const port = z.int().check(z.gte(0), z.lte(65_535));
  return { text, texts, count, pid, port, serializedError, serverSpec };
});

const requestSchemas = lazily(() => {
  const { text, texts, count, serverSpec } = common();
  const optionToken = z.union([
    z.object({ flag: z.literal('i') }),
    z.object({
      flag: z.enum(['a', 'r', 'u', 'I', 'R', 'B', 'D', 'n', 'p', 'port', 'log', 'ssl', 'max-threads', 'max-request-size', 'max-compressed-request']),
      value: text,
    }),
  ]);
  const serviceRequest = z.object({
    action: z.enum(ACTIONS),
    tokens: z.array(optionToken),
    configFile: z.optional(text),
    keepTemp: z.optional(z.boolean()),
    usePassword: z.optional(z.boolean()),
    root: z.optional(text),
    serverUser: z.optional(text),
    startTimeoutMs: z.optional(count),
    stopTimeoutMs: z.optional(count),
  });
  // The provisioning requests: apply with the host's declared servers, its endpoint facts, trust.
  const provisionTask = z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('apply'), servers: z.array(serverSpec), check: z.boolean(), root: z.optional(text), serverUser: z.optional(text) }),
    z.object({ kind: z.literal('endpoints'), root: z.optional(text) }),
    z.object({
      kind: z.literal('trust'),
      certificates: texts,
      revoke: z.boolean(),
      servers: z.optional(z.array(z.object({ host: text, fingerprints: texts }))),
      root: z.optional(text),
    }),
  ]);
  // Typed as the request's type, so that the schema and the type cannot drift apart unnoticed.
  const service: z.ZodMiniType<AgentRequest> = z.object({ protocol: z.literal(AGENT_PROTOCOL), request: serviceRequest });
  const provision: z.ZodMiniType<AgentRequest> = z.object({ protocol: z.literal(AGENT_PROTOCOL), request: provisionTask });
  return { service, provision };
});

const actionReportSchema = lazily(() => {
  const { texts, pid, port, serializedError, serverSpec } = common();
  const step = z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('start'),
      spec: serverSpec,
      outcome: z.enum(['started', 'already-running', 'failed']),
      pid: z.optional(pid),
      port: z.optional(port),
      error: z.optional(serializedError),
      logTail: z.optional(texts),
    }),
    z.object({
      kind: z.literal('stop'),
      spec: serverSpec,
      outcome: z.enum(['stopped', 'killed', 'not-running', 'failed', 'unknown-nickname']),
      pid: z.optional(pid),
      error: z.optional(serializedError),
    }),
    z.object({
      kind: z.literal('status'),
      spec: serverSpec,
      outcome: z.enum(['running', 'dead', 'not-running', 'unknown-nickname']),
      pid: z.optional(pid),
      port: z.optional(port),
    }),
    z.object({ kind: z.literal('skip'), spec: serverSpec }),
    z.object({ kind: z.literal('none-running'), action: z.enum(['stop', 'status', 'condrestart']) }),
    z.object({ kind: z.literal('error'), error: serializedError }),
  ]);
  return z.object({ action: z.enum(ACTIONS), steps: z.array(step), exitCode: z.int().check(z.gte(0), z.lte(255)), warnings: texts });
});

const provisionReportSchemas = lazily(() => {
  const { text, texts, count, pid, port, serializedError } = common();
  const applyReport = z.object({
    check: z.boolean(),
    servers: z.array(
      z.object({
        nickname: text,
        file: text,
        change: z.enum(['added', 'changed', 'removed', 'unchanged', 'conflict']),
        action: z.enum(['start', 'restart', 'stop', 'none']),
        before: z.optional(text),
        after: z.optional(text),
        outcome: z.enum(['planned', 'done', 'failed']),
        pid: z.optional(pid),
        port: z.optional(port),
        error: z.optional(serializedError),
      }),
    ),
    changed: z.boolean(),
    exitCode: count,
    errors: z.array(serializedError),
    warnings: texts,
  });
  const endpointReport = z.object({
    endpoints: z.array(
      z.object({ nickname: text, pid, port, arch: text, releases: texts, certificate: z.optional(text), fingerprint: z.optional(text) }),
    ),
    exitCode: count,
    errors: z.array(serializedError),
  });
  const trustReport = z.object({ database: text, changed: texts, trusted: texts, exitCode: count, errors: z.array(serializedError) });
  return { applyReport, endpointReport, trustReport };
});

const responseSchemas = lazily(() => {
  const { text, serializedError } = common();
  const { applyReport, endpointReport, trustReport } = provisionReportSchemas();
  const header = { protocol: z.literal(AGENT_PROTOCOL), version: text, hostname: text };
  // Typed as the engine's types, so that the schema and the types cannot drift apart unnoticed.
  const report: z.ZodMiniType<Extract<AgentResponse, { report: unknown }>> = z.object({ ...header, report: actionReportSchema() });
  const error: z.ZodMiniType<Extract<AgentResponse, { error: unknown }>> = z.object({ ...header, error: serializedError });
  const apply: z.ZodMiniType<Extract<AgentResponse, { apply: unknown }>> = z.object({ ...header, apply: applyReport });
  const endpoints: z.ZodMiniType<Extract<AgentResponse, { endpoints: unknown }>> = z.object({ ...header, endpoints: endpointReport });
  const trust: z.ZodMiniType<Extract<AgentResponse, { trust: unknown }>> = z.object({ ...header, trust: trustReport });
  return { report, error, apply, endpoints, trust };
});

export type ProvisionTask = ({ kind: 'apply' } & ApplyRequest) | { kind: 'endpoints'; root?: string } | ({ kind: 'trust' } & TrustRequest);

export interface AgentRequest {
  protocol: typeof AGENT_PROTOCOL;
  request: ServiceRequest | ProvisionTask;
}

type ResponseHeader = { protocol: typeof AGENT_PROTOCOL; version: string; hostname: string };

export type AgentResponse = ResponseHeader &
  ({ report: ActionReport } | { error: SerializedError } | { apply: ApplyReport } | { endpoints: EndpointReport } | { trust: TrustReport });

/** The agent's side: the request it was given, or AGENT_PROTOCOL naming the first mismatch. */
export function parseAgentRequest(input: string): ServiceRequest | ProvisionTask {
  let data: unknown;
  try {
    data = JSON.parse(input);
  } catch {
    throw protocolError('the request is not JSON', 'the controller and the agent must be the same stapctl version');
  }
  // Chosen by key, as the answers are, so that a mismatch names the field.
  const request = typeof data === 'object' && data !== null && 'request' in data ? data.request : undefined;
  const isTask = typeof request === 'object' && request !== null && 'kind' in request;
  const schemas = requestSchemas();
  const parsed = (isTask ? schemas.provision : schemas.service).safeParse(data);
  if (!parsed.success) throw protocolError(`the request does not match the protocol: ${firstIssue(parsed.error)}`, 'the controller and the agent must be the same stapctl version');
  return parsed.data.request;
}

/**
 * The controller's side: a host's answer checked against the schema before anything reads it,
 * then cleaned of terminal escapes. Deep or huge junk fails the schema at its first wrong field,
 * so it never reaches the sanitizer.
 */
export function decodeAgentResponse(host: string, data: unknown, excerpt: string): AgentResponse {
  // Chosen by key rather than as a union, so that a mismatch names the field, not "invalid input".
  const has = (key: string) => typeof data === 'object' && data !== null && key in data;
  const schemas = responseSchemas();
  const schema = has('report') ? schemas.report : has('apply') ? schemas.apply : has('endpoints') ? schemas.endpoints : has('trust') ? schemas.trust : schemas.error;
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new StapctlError('AGENT_PROTOCOL', `the agent's answer does not match the protocol: ${firstIssue(parsed.error)}`, {
      host,
      detail: excerpt,
      hint: 'the host may run another stapctl version, or something else answers in its place',
    });
  }
  return sanitizeDeep(parsed.data);
}

function firstIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'unknown mismatch';
  const path = issue.path.map(String).join('.') || '(top level)';
  return stripTerminalEscapes(`${path}: ${issue.message}`).slice(0, 200);
}

function protocolError(message: string, hint: string): StapctlError {
  return new StapctlError('AGENT_PROTOCOL', message, { hint });
}

// ---- The bundle and its cache on a host ------------------------------------------------------

export interface AgentBundle {
  /**
   * What a host without the agent receives on the launcher's stdin and caches: the agent's script,
   * then the V8 code cache made of it by the build (none when there is none).
   */
  content: Buffer;
  /** How many bytes of content are the script; the code cache is the rest. */
  scriptLength: number;
  /** Where it is cached on a host, relative to the login user's home. */
  remotePath: string;
  /** SHA-256 of content, hex: the launcher runs a cached or received copy only if it has this hash. */
  sha256: string;
}

/**
 * A cache directory per version and content, so hosts never run a stale or foreign agent. The
 * code cache travels inside the checked bytes: a host runs only the cache the controller sent, as
 * it runs only the script it sent; nothing that the host itself wrote is compiled. A host whose
 * node is another V8 (version or flags) rejects the cache and compiles the script.
 */
export function agentBundle(bundle: Buffer, version = VERSION, codeCache: Buffer = Buffer.alloc(0)): AgentBundle {
  const script = agentScript(bundle);
  const content = Buffer.concat([script, codeCache]);
  const sha256 = createHash('sha256').update(content).digest('hex');
  return { content, scriptLength: script.length, remotePath: `${AGENT_CACHE_ROOT}/${version}-${sha256.slice(0, 12)}/agent`, sha256 };
}

/**
 * The bundle as the first stage compiles it: inside a function, where a `#!` line is no syntax,
 * so the line becomes a comment of the same length (dist/stapctl.cjs keeps it for Ansible).
 */
export function agentScript(bundle: Buffer): Buffer {
  if (bundle[0] !== 0x23 || bundle[1] !== 0x21) return bundle;
  return Buffer.concat([Buffer.from('//'), bundle.subarray(2)]);
}

/**
 * The agent's script compiled as the first stage compiles it, so that a code cache this makes
 * (createCachedData, by the build) is one the first stage's V8 accepts.
 */
export function compileAgentScript(script: Buffer, filename: string, cachedData?: Buffer): Script {
  return compileCommonJs(script.toString('utf8'), filename, cachedData);
}

/** Relative to the login user's home. This directory and everything below it is the user's, 0700. */
const AGENT_CACHE_ROOT = '.cache/stapctl';

// ---- The launcher ----------------------------------------------------------------------------

/** The launcher's exit code when a cache directory is unsafe (someone else's, a symlink, writable by others). */
export const CACHE_UNSAFE = 96;
/** The launcher's exit code when the bytes it received for the agent are not the bundle (hash, or too few). */
export const AGENT_MISSING = 97;
/** The launcher's exit code when the host has no node. */
export const NODE_MISSING = 98;

/**
 * The line the first stage writes on stderr when the host has no cached agent that checks out: the
 * controller then sends the bundle, and the request once more, on the same exec's stdin.
 */
export const AGENT_WANTED = 'stapctl-agent-wanted';

/**
 * The first stage, run by node on the host (`node -e`, argv: agent path, SHA-256, the login user's
 * uid or `-` when node runs as the login user, the script's length, the length of the whole
 * agent). It checks the two cache directories (real directories owned by the login user, writable
 * by nobody else) and reads the cached agent once through O_NOFOLLOW. When that is missing or is
 * not the bundle, it reads past the request's line on its stdin (sent first, for a cached agent),
 * asks for the bundle (AGENT_WANTED on stderr) and reads that many bytes, which the controller
 * sends followed by the request again, for the agent. It hashes the bytes, installs what it
 * received and compiles the same bytes, the script with the code cache that follows it, so
 * nothing swapped after the check can run. One exec and one node start, check (and install)
 * included. Double quotes only: it travels inside single quotes.
 */
const BOOTSTRAP = [
  'const fs=require("fs"),path=require("path"),M=require("module"),C=require("crypto"),K=fs.constants;',
  'const [f,h,u,l,n]=process.argv.slice(1),uid=u==="-"?process.getuid():Number(u),N=Number(n),say=(w,m)=>fs.writeSync(2,"stapctl-"+w+" "+m+"\\n");',
  'const unsafe=(p,why)=>{say("cache-unsafe",p+": "+why);process.exit(96)};',
  // The launcher's sh made both directories: one that cannot be looked at now is not a cache to use.
  'let g;for(const d of [path.dirname(path.dirname(f)),path.dirname(f)]){let s;try{s=fs.lstatSync(d)}catch(e){unsafe(d,"cannot be checked ("+e.code+")")}',
  'if(!s.isDirectory())unsafe(d,"not a directory");if(s.uid!==uid)unsafe(d,"owned by uid "+s.uid);if(s.mode&18)unsafe(d,"writable by others");g=s.gid}',
  // A non-blocking stdin (EAGAIN) is waited on in 5 ms steps.
  'const rd=(b,o)=>{for(;;)try{return fs.readSync(0,b,o,b.length-o,null)}catch(e){if(e.code!=="EAGAIN")throw e;Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,5)}};',
  // Past the request's line, in reads of at most N bytes: what follows the line is the bundle's
  // start, and the request sent after the bundle stays on stdin for the agent.
  'const receive=()=>{const b=Buffer.alloc(N);let o=0;for(;;){const r=rd(b,0);if(r===0)return b.subarray(0,0);const e=b.subarray(0,r).indexOf(10);if(e>=0){o=b.copy(b,0,e+1,r);break}}',
  `fs.writeSync(2,"${AGENT_WANTED}\\n");while(o<N){const r=rd(b,o);if(r===0)break;o+=r}return b.subarray(0,o)};`,
  // Installing: a random name created exclusively (never through a planted file or symlink), 0600
  // and the login user's (with become, root writes it), then renamed over the final name. No fsync:
  // every run hashes the cached bytes before running them, so a file torn by a crash is only
  // installed again. A failed write (full disk, read-only home) removes what it created, says why
  // on stderr, and the agent still runs from the verified bytes in memory.
  'const install=b=>{const t=f+".tmp-"+C.randomBytes(8).toString("hex");let fd,made=false;try{fd=fs.openSync(t,K.O_WRONLY|K.O_CREAT|K.O_EXCL|K.O_NOFOLLOW,384);made=true;',
  'fs.writeFileSync(fd,b);fs.fchmodSync(fd,384);if(process.getuid()!==uid)fs.fchownSync(fd,uid,g);fs.closeSync(fd);fd=undefined;fs.renameSync(t,f)}catch(e){if(fd!==undefined)fs.closeSync(fd);',
  'if(made)try{fs.unlinkSync(t)}catch{}say("cache-unwritable",t+": "+(e.code||e.message))}};',
  'const sha=b=>C.createHash("sha256").update(b).digest("hex");let b;',
  'try{const fd=fs.openSync(f,K.O_RDONLY|K.O_NOFOLLOW),s=fs.fstatSync(fd);if(s.isFile()&&s.uid===uid)b=fs.readFileSync(fd);fs.closeSync(fd)}catch{}',
  'if(b===undefined||sha(b)!==h){b=receive();if(sha(b)!==h){say("agent-corrupt","the "+b.length+" bytes received are not the bundle");process.exit(97)}install(b)}',
  // The script, compiled as compileAgentScript does, with the code cache after it if there is one.
  `const L=Number(l),x=new (require("vm").Script)(${JSON.stringify(WRAPPER_HEAD)}+b.toString("utf8",0,L)+${JSON.stringify(WRAPPER_TAIL)},{filename:f,cachedData:b.length>L?b.subarray(L):undefined});`,
  'const m=new M(f,null);m.filename=f;m.paths=M._nodeModulePaths(path.dirname(f));process.argv.splice(1,5,f,"agent");x.runInThisContext().call(m.exports,m.exports,M.createRequire(f),m,f,path.dirname(f))',
].join('');

const NODE = 'n=$(command -v node || command -v nodejs)';

/**
 * Privilege escalation is a wrapper around the launcher's node (Mitogen's sudo.py shape), not a
 * branch inside it. `sudo -n` fails instead of asking for a password. The kill command goes
 * through the same wrapper.
 */
export type Become = (argv: string) => string;
export const sudo: Become = (argv) => `sudo -n -- ${argv}`;

/**
 * One exec per host and action: reports its PID, creates the cache directories (0700) when
 * missing, finds node and starts the first stage, which runs the cached agent if it checks out
 * and otherwise asks for the agent on the same exec (AGENT_WANTED). Its command line holds only
 * the fixed path, the hash and the lengths.
 */
export function launcherCommand(bundle: AgentBundle, become?: Become): string {
  if (!/^[\w./-]+$/.test(bundle.remotePath)) throw new Error(`unsafe agent path ${bundle.remotePath}`);
  if (!/^[0-9a-f]{64}$/.test(bundle.sha256)) throw new Error(`not a SHA-256: ${bundle.sha256}`);
  if (!Number.isSafeInteger(bundle.scriptLength) || bundle.scriptLength < 0) throw new Error(`not a length: ${bundle.scriptLength}`);
  const directory = bundle.remotePath.slice(0, bundle.remotePath.lastIndexOf('/'));
  // Without become node runs as the login user, so it is its own uid: no `id` process to start.
  const owner = become === undefined ? '-' : '"$(id -u)"';
  return [
    PID_REPORT,
    `d="$HOME/${directory}"`,
    `[ -d "$d" ] || (umask 077 && mkdir -p "$d") || exit ${CACHE_UNSAFE}`,
    NODE,
    `[ -n "$n" ] || { echo "node not found in PATH=$PATH" >&2; exit ${NODE_MISSING}; }`,
    `exec ${wrapped(`"$n" -e '${BOOTSTRAP}' "$HOME/${bundle.remotePath}" ${bundle.sha256} ${owner} ${bundle.scriptLength} ${bundle.content.length}`, become)}`,
  ].join('; ');
}

// ---- The PID report and the kill command -----------------------------------------------------

/**
 * The login shell reports its pid (sshd makes it a session leader: its pid is the process group)
 * on stderr before anything else, so that a timeout or an interrupt can kill the whole group.
 */
const PID_REPORT = "printf 'stapctl-pid %s\\n' \"$$\" >&2";
const PID_LINE = /(?:^|\n)(stapctl-pid (\d+)\n)/;

/** The marker is looked for anywhere, since a login script may print to stderr before it. */
export function reportedPid(stderr: Buffer): number | undefined {
  const match = PID_LINE.exec(stderr.toString('latin1'));
  return match === null ? undefined : Number(match[2]);
}

export function withoutPidReport(stderr: Buffer): Buffer {
  const match = PID_LINE.exec(stderr.toString('latin1'));
  if (match === null || match[1] === undefined) return stderr;
  const start = match.index + match[0].length - match[1].length;
  return Buffer.concat([stderr.subarray(0, start), stderr.subarray(start + match[1].length)]);
}

/**
 * Kills an agent's process group. With become the agent runs as root, so the kill goes through
 * sudo as well, and through the same node that ran the agent: a sudo rule that allows the login
 * user only node (what AGENT_FAILED's hint suggests) then covers it too. Without `--`: dash's
 * kill, the login shell of many users, refuses it.
 */
export function killCommand(processGroup: number, become?: Become): string {
  if (!Number.isInteger(processGroup) || processGroup <= 1) throw new Error(`not a process group: ${processGroup}`);
  if (become === undefined) return `kill -KILL -${processGroup}`;
  return `${NODE}; exec ${become(`"$n" -e 'process.kill(-Number(process.argv[1]), "SIGKILL")' ${processGroup}`)}`;
}

function wrapped(argv: string, become: Become | undefined): string {
  return become === undefined ? argv : become(argv);
}

// ---- One request on one host -----------------------------------------------------------------

/** Past this, a host's stdout or stderr is cut, its command stopped and the host failed. */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

export interface RunOptions {
  bundle: AgentBundle;
  become?: Become;
  /** The deadline of the whole host, as a time in ms (Date.now()). */
  deadline: number;
  signal?: AbortSignal;
  /** What the user should hear about although the host answered (the cache could not be written). */
  warn?: (message: string) => void;
}

/**
 * Runs one request on a connected host and decodes the answer: one exec of the launcher, the
 * request on its stdin as one line; when the host has no agent that checks out, the first stage
 * asks for it and the bundle follows on the same stdin, then the request again, for the agent.
 */
export async function runAgent(session: SshSession, host: string, request: AgentRequest, options: RunOptions): Promise<AgentResponse> {
  const line = Buffer.from(`${JSON.stringify(request)}\n`);
  const result = await execLauncher(session, launcherCommand(options.bundle, options.become), { stdin: line, stdinOnRequest: { marker: AGENT_WANTED, data: Buffer.concat([options.bundle.content, line]) } }, options);
  if (result.code === AGENT_MISSING) {
    throw new StapctlError('AGENT_FAILED', 'the agent the host received does not check out (its SHA-256 differs), so it was not run', {
      host,
      detail: excerpt(stripTerminalEscapes(withoutPidReport(result.stderr).toString('utf8')).trim()),
      hint: "something between the login shell and node changes the launcher's stdin on this host (a login script reading stdin?)",
    });
  }
  const unwritable = /stapctl-cache-unwritable ([^\n]*)/.exec(stripTerminalEscapes(result.stderr.toString('utf8')))?.[1];
  if (unwritable !== undefined) options.warn?.(`the agent ran from memory: it could not be cached (${unwritable.slice(0, 200)}); the next run sends it again`);
  return decodeLauncherResult(host, result);
}

function execLauncher(session: SshSession, command: string, input: Pick<ExecOptions, 'stdin' | 'stdinOnRequest'>, options: RunOptions): Promise<ExecResult> {
  return session
    .exec(command, {
      ...input,
      timeoutMs: Math.max(1, options.deadline - Date.now()),
      maxOutputBytes: MAX_OUTPUT_BYTES,
      ...(options.signal && { signal: options.signal }),
      stopCommand: (stderr) => {
        const group = reportedPid(stderr);
        return group === undefined ? undefined : killCommand(group, options.become);
      },
    })
    .catch((error: unknown) => {
      // A stopped command's stderr is its detail: without the PID report, cleaned for a terminal.
      if (!(error instanceof StapctlError) || error.detail === undefined) throw error;
      const detail = excerpt(withoutPidReport(Buffer.from(error.detail)).toString('utf8').trim());
      throw new StapctlError(error.code, error.message, { ...error.toJSON(), ...(detail !== '' ? { detail } : { detail: undefined }), cause: error });
    });
}

function decodeLauncherResult(host: string, result: ExecResult): AgentResponse {
  const errText = stripTerminalEscapes(withoutPidReport(result.stderr).toString('utf8')).trim();
  if (result.code === NODE_MISSING) {
    throw new StapctlError('NO_NODE_ON_HOST', 'node is not installed on the host', { host, detail: errText, hint: 'install Node.js 18 or later (Debian: apt-get install nodejs)' });
  }
  if (result.code === CACHE_UNSAFE) {
    const line = /stapctl-cache-unsafe ([^\n]*)/.exec(errText)?.[1] ?? errText.slice(0, 200);
    throw new StapctlError('AGENT_CACHE_UNSAFE', `the agent cache on the host is unsafe: ${line}`, {
      host,
      hint: `the cache directories must be the login user's own, not symlinks, writable by nobody else: check ~/${AGENT_CACHE_ROOT}`,
    });
  }
  const text = result.stdout.toString('utf8').trim();
  let data: unknown;
  try {
    data = JSON.parse(text.slice(text.lastIndexOf('\n') + 1));
  } catch {
    const sudo = /sudo: (a password is required|a terminal is required)/.test(errText);
    throw new StapctlError('AGENT_FAILED', sudo ? 'sudo needs a password on this host' : `the agent failed (exit ${result.code ?? 'by signal'})`, {
      host,
      detail: excerpt(errText || text),
      hint: sudo ? 'allow the login user passwordless sudo for node, or log in as root' : 'run with --verbose for its output',
    });
  }
  return decodeAgentResponse(host, data, excerpt(text));
}

/** What --verbose shows of an answer that did not decode: short, and safe for a terminal. */
function excerpt(text: string): string {
  const head = stripTerminalEscapes(text.slice(0, 300));
  return text.length > 300 ? `${head}... (${text.length} characters)` : head;
}
