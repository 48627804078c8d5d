import { StapctlError } from '../errors.js';
import { valueProblem, type ServerConfig, type ValueKind } from './config-file.js';
import type { Action } from './report.js';
import { emptySpec, type ServerSpec } from './server-spec.js';

/**
 * From the command line's options, in their order, to the servers an action is about. Pure: what
 * the host knows (running servers, configs, releases) comes in through PlanContext.
 */

export type ServerFlag = 'a' | 'r' | 'u' | 'I' | 'R' | 'B' | 'D' | 'n' | 'p';
export type DistributedFlag = 'port' | 'log' | 'ssl' | 'max-threads' | 'max-request-size' | 'max-compressed-request';

export type OptionToken = { flag: ServerFlag; value: string } | { flag: 'i' } | { flag: DistributedFlag; value: string };

export interface PlanContext {
  action: Action;
  /** The default ARCH. */
  hostArch: string;
  /** `uname -r`: the release of a conf.d server without RELEASE, as the stock load_server_config. */
  runningRelease: string;
  /** The entries of /lib/modules, sorted. */
  installedReleases: string[];
  /** STAP_USER of the global config, else `stap-server`. */
  defaultUser: string;
  /** LOG_FILE as seen inside the root: what status files record. */
  defaultLog: string;
  /** The managed servers, from the status files. */
  running: { pid: number; spec: ServerSpec }[];
  /** The conf.d configs, in glob order. */
  configs: ServerConfig[];
  /** The contents of TREE/include/config/kernel.release, or undefined when it cannot be read. */
  kernelReleaseOf(buildTree: string): string | undefined;
}

export interface PlannedServer {
  spec: ServerSpec;
  /**
   * options: built from the defaults and the options; running: a managed server named by -n or
   * -p; config: a conf.d config (named by -n, or all of them); new-nickname: -n with a nickname
   * nothing has, on a start-like action.
   */
  origin: 'options' | 'running' | 'config' | 'new-nickname';
  /**
   * The managed server the user named (origin running). Distributed options (--port ...) may
   * have changed `spec` from what that server records; the PID still says which server was meant.
   */
  pid?: number;
  /** -n named a nickname nothing has, on stop or status: the engine reports it and fails. */
  unknownNickname?: string;
}

export interface Plan {
  servers: PlannedServer[];
  /** The command line named a server (-a -r -u -I -R -B -D -i -n -p); else the action's defaults apply. */
  explicit: boolean;
  /** When not empty, `servers` is empty: nothing should be acted on. */
  errors: StapctlError[];
}

const DISTRIBUTED: Record<DistributedFlag, { field: DistributedField; kind: ValueKind }> = {
  port: { field: 'port', kind: 'port' },
  log: { field: 'log', kind: 'absolute-path' },
  ssl: { field: 'ssl', kind: 'absolute-path' },
  'max-threads': { field: 'maxThreads', kind: 'count' },
  'max-request-size': { field: 'maxRequestSize', kind: 'count' },
  'max-compressed-request': { field: 'maxCompressedRequest', kind: 'count' },
};
type DistributedField = 'port' | 'log' | 'ssl' | 'maxThreads' | 'maxRequestSize' | 'maxCompressedRequest';

function isDistributed(token: OptionToken): token is { flag: DistributedFlag; value: string } {
  return Object.hasOwn(DISTRIBUTED, token.flag);
}

const VALUE_KINDS: Record<ServerFlag, ValueKind> = {
  a: 'text',
  r: 'list-item',
  u: 'text',
  I: 'list-item',
  R: 'text',
  B: 'list-item',
  D: 'list-item',
  n: 'text',
  p: 'text',
};

/**
 * The problem with one option's value, whatever host it is for: the controller checks every
 * option with this before it contacts any host, and the planner before it plans.
 */
export function tokenProblem(token: OptionToken): StapctlError | undefined {
  if (token.flag === 'i') return undefined;
  if (isDistributed(token)) {
    const problem = valueProblem(DISTRIBUTED[token.flag].kind, token.value);
    return problem === undefined ? undefined : usage(`--${token.flag} ${problem}, got "${token.value}"`, `give --${token.flag} a valid value`);
  }
  const flag = token.flag as ServerFlag;
  const { value } = token as { value: string };
  const problem = valueProblem(VALUE_KINDS[flag], value) ?? (value === '' && flag !== 'R' ? 'needs a value' : undefined);
  return problem === undefined ? undefined : usage(`-${flag} ${problem}, got "${value}"`, `give -${flag} a non-empty value on one line`);
}

/** Actions that start what they name; an unknown -n nickname then names a new server. */
const START_LIKE: ReadonlySet<Action> = new Set(['start', 'restart', 'force-reload', 'condrestart', 'try-restart']);

const cloneSpec = (spec: ServerSpec): ServerSpec => ({
  ...spec,
  releases: [...spec.releases],
  defines: [...spec.defines],
  includes: [...spec.includes],
  builds: [...spec.builds],
});

function freshSpec(ctx: PlanContext): ServerSpec {
  return { ...emptySpec(), arch: ctx.hostArch, user: ctx.defaultUser, log: ctx.defaultLog };
}

/** A conf.d config with the stock load_server_config defaults; its NICKNAME is kept. */
function withConfigDefaults(config: ServerConfig, ctx: PlanContext): ServerSpec {
  const spec = cloneSpec(config.spec);
  if (spec.arch === '') spec.arch = ctx.hostArch;
  if (spec.releases.length === 0) spec.releases = [ctx.runningRelease];
  if (spec.user === '') spec.user = ctx.defaultUser;
  if (spec.log === '') spec.log = ctx.defaultLog;
  return spec;
}

/** The servers of conf.d, for an action that names none. */
export function configuredServers(ctx: PlanContext): PlannedServer[] {
  return ctx.configs.map((config) => ({ spec: withConfigDefaults(config, ctx), origin: 'config' }));
}

/**
 * The one server `start` runs when none is named and none configured: host arch, the default
 * kernel, default user and log, and the first item of each distributed option
 * (`stapctl start --port 5000` starts it on port 5000, as the stock script does).
 */
export function defaultServer(ctx: PlanContext, tokens: readonly OptionToken[] = []): PlannedServer {
  const spec = freshSpec(ctx);
  const applied = new Set<DistributedFlag>();
  for (const token of tokens) {
    if (!isDistributed(token) || applied.has(token.flag)) continue;
    spec[DISTRIBUTED[token.flag].field] = token.value;
    applied.add(token.flag);
  }
  return { spec, origin: 'options' };
}

const usage = (message: string, hint: string) => new StapctlError('USAGE', message, { hint });

/** The server being described by the options since the start or the last -i. */
interface Draft {
  spec: ServerSpec;
  origin: PlannedServer['origin'];
  pid?: number;
  unknownNickname?: string;
  /** A server-naming option was given for it, so it is emitted at the end. */
  named: boolean;
}

export function planServers(tokens: readonly OptionToken[], ctx: PlanContext): Plan {
  const errors: StapctlError[] = [];
  const emitted: PlannedServer[] = [];
  const lists: Record<DistributedFlag, string[]> = {
    port: [],
    log: [],
    ssl: [],
    'max-threads': [],
    'max-request-size': [],
    'max-compressed-request': [],
  };
  const fresh = (): Draft => ({ spec: freshSpec(ctx), origin: 'options', named: false });
  let draft = fresh();
  let explicit = false;

  /** A change to the configuration: a server found by -n or -p becomes a new one based on it. */
  const modify = (change: (spec: ServerSpec) => void) => {
    if (draft.origin === 'running' || draft.origin === 'config') {
      draft.origin = 'options';
      draft.spec.nickname = '';
      delete draft.pid;
    }
    change(draft.spec);
    draft.named = true;
  };

  for (const token of tokens) {
    if (token.flag === 'i') {
      explicit = true;
      if (ctx.installedReleases.length === 0) {
        errors.push(
          new StapctlError('NO_LIB_MODULES', '-i found no kernel release in /lib/modules', {
            hint: 'install a kernel (its modules go to /lib/modules/RELEASE) or name releases with -r',
          }),
        );
      }
      // The seed's -i: earlier -I -R -B -D -u apply to each server, earlier -a does not.
      for (const release of ctx.installedReleases) {
        const spec = freshSpec(ctx);
        spec.releases = [release];
        spec.user = draft.spec.user;
        spec.runtime = draft.spec.runtime;
        spec.includes = [...draft.spec.includes];
        spec.builds = [...draft.spec.builds];
        spec.defines = [...draft.spec.defines];
        emitted.push({ spec, origin: 'options' });
      }
      draft = fresh();
      continue;
    }

    const problem = tokenProblem(token);
    if (problem !== undefined) {
      errors.push(problem);
      if (!isDistributed(token)) explicit = true;
      continue;
    }
    if (isDistributed(token)) {
      lists[token.flag].push(token.value);
      continue;
    }

    explicit = true;
    const { value } = token;
    const serverFlag = token.flag as ServerFlag;

    switch (serverFlag) {
      case 'a':
        modify((spec) => (spec.arch = value));
        break;
      case 'u':
        modify((spec) => (spec.user = value));
        break;
      case 'R':
        modify((spec) => (spec.runtime = value));
        break;
      case 'I':
        modify((spec) => spec.includes.push(value));
        break;
      case 'B':
        modify((spec) => spec.builds.push(value));
        break;
      case 'D':
        modify((spec) => spec.defines.push(value));
        break;
      case 'r': {
        if (value.startsWith('/') && !ctx.kernelReleaseOf(value)?.trim()) {
          errors.push(
            new StapctlError('NO_SUCH_RELEASE_TREE', `Missing ${value}/include/config/kernel.release`, {
              hint: `-r with a path needs a configured kernel build tree; run 'make prepare' in ${value} or give a release name`,
            }),
          );
          break;
        }
        modify((spec) => spec.releases.push(value));
        break;
      }
      case 'p': {
        const pid = /^[1-9][0-9]*$/.test(value) ? Number(value) : undefined;
        const found = ctx.running.find((entry) => entry.pid === pid);
        if (found === undefined) {
          errors.push(
            new StapctlError('NO_SUCH_PID', `No stap-server running as pid ${value}`, {
              hint: "'stapctl status' lists the managed servers and their PIDs",
            }),
          );
          break;
        }
        draft = { spec: cloneSpec(found.spec), origin: 'running', pid: found.pid, named: true };
        break;
      }
      case 'n':
        draft = byNickname(value, draft, ctx);
        break;
    }
  }

  if (draft.named) {
    emitted.push({
      spec: draft.spec,
      origin: draft.origin,
      ...(draft.pid !== undefined && { pid: draft.pid }),
      ...(draft.unknownNickname !== undefined && { unknownNickname: draft.unknownNickname }),
    });
  }

  emitted.forEach((server, index) => {
    for (const flag of Object.keys(lists) as DistributedFlag[]) {
      const item = lists[flag][index];
      if (item !== undefined) server.spec[DISTRIBUTED[flag].field] = item;
    }
  });

  return errors.length > 0 ? { servers: [], explicit, errors } : { servers: emitted, explicit, errors };
}

/** -n: a running server, else a conf.d config, else a new server (start-like) or an unknown one. */
function byNickname(nickname: string, draft: Draft, ctx: PlanContext): Draft {
  const running = ctx.running.find((entry) => entry.spec.nickname === nickname);
  if (running) return { spec: cloneSpec(running.spec), origin: 'running', pid: running.pid, named: true };
  const config = ctx.configs.find((candidate) => candidate.spec.nickname === nickname);
  if (config) return { spec: withConfigDefaults(config, ctx), origin: 'config', named: true };
  const spec = cloneSpec(draft.spec);
  spec.nickname = nickname;
  if (START_LIKE.has(ctx.action)) return { spec, origin: 'new-nickname', named: true };
  return { spec, origin: 'options', unknownNickname: nickname, named: true };
}
