/**
 * From the command line's options, in their order, to the servers an action is about. Pure: what
 * the host knows (running servers, configs, releases) comes in through PlanContext.
 */
import { StapctlError } from '../errors.js';
import type { ServerConfig } from './config-file.js';
import type { Action } from './report.js';
import { DISTRIBUTED_OPTIONS, isDistributed, tokenProblem, type DistributedFlag, type OptionToken, type ServerFlag } from './server-options.js';
import { emptySpec, type ManagedServer, type ServerSpec } from './server-spec.js';

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
  running: readonly ManagedServer[];
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
    spec[DISTRIBUTED_OPTIONS[token.flag].field] = token.value;
    applied.add(token.flag);
  }
  return { spec, origin: 'options' };
}

/** The server being described by the options since the start or the last -i. */
interface Draft {
  spec: ServerSpec;
  origin: PlannedServer['origin'];
  pid?: number;
  unknownNickname?: string;
  /** A server-naming option was given for it, so it is emitted at the end. */
  named: boolean;
}

/** What planServers has built so far, walking the options in their order. */
interface Walk {
  readonly ctx: PlanContext;
  readonly errors: StapctlError[];
  readonly emitted: PlannedServer[];
  /** The values of each distributed option, in order: the i-th goes to the i-th server. */
  readonly distributed: Record<DistributedFlag, string[]>;
  draft: Draft;
  explicit: boolean;
}

export function planServers(tokens: readonly OptionToken[], ctx: PlanContext): Plan {
  // No option names no server. Said before the walk, whose first draft reads the host's arch:
  // the engine reads it (uname) only when a plan asks for it.
  if (tokens.length === 0) return { servers: [], explicit: false, errors: [] };
  const walk: Walk = {
    ctx,
    errors: [],
    emitted: [],
    distributed: { port: [], log: [], ssl: [], 'max-threads': [], 'max-request-size': [], 'max-compressed-request': [] },
    draft: freshDraft(ctx),
    explicit: false,
  };
  for (const token of tokens) takeToken(walk, token);
  if (walk.draft.named) walk.emitted.push(plannedFrom(walk.draft));
  distribute(walk.emitted, walk.distributed);
  const { errors, explicit } = walk;
  return { servers: errors.length > 0 ? [] : walk.emitted, explicit, errors };
}

const freshDraft = (ctx: PlanContext): Draft => ({ spec: freshSpec(ctx), origin: 'options', named: false });

/** One option: a bad value is recorded and skipped, so that every bad option is reported at once. */
function takeToken(walk: Walk, token: OptionToken): void {
  if (token.flag === 'i') {
    walk.explicit = true;
    eachInstalledRelease(walk);
    return;
  }
  const problem = tokenProblem(token);
  if (problem !== undefined) {
    walk.errors.push(problem);
    if (!isDistributed(token)) walk.explicit = true;
    return;
  }
  if (isDistributed(token)) {
    walk.distributed[token.flag].push(token.value);
    return;
  }
  walk.explicit = true;
  takeServerOption(walk, token.flag, token.value);
}

/** -i as the initscript's README means it: earlier -I -R -B -D -u apply to each server, earlier -a does not. */
function eachInstalledRelease(walk: Walk): void {
  const { ctx, draft } = walk;
  if (ctx.installedReleases.length === 0) {
    walk.errors.push(
      new StapctlError('NO_LIB_MODULES', '-i found no kernel release in /lib/modules', {
        hint: 'install a kernel (its modules go to /lib/modules/RELEASE) or name releases with -r',
      }),
    );
  }
  for (const release of ctx.installedReleases) {
    const spec = freshSpec(ctx);
    spec.releases = [release];
    spec.user = draft.spec.user;
    spec.runtime = draft.spec.runtime;
    spec.includes = [...draft.spec.includes];
    spec.builds = [...draft.spec.builds];
    spec.defines = [...draft.spec.defines];
    walk.emitted.push({ spec, origin: 'options' });
  }
  walk.draft = freshDraft(ctx);
}

function takeServerOption(walk: Walk, flag: ServerFlag, value: string): void {
  switch (flag) {
    case 'a':
      return modify(walk.draft, (spec) => (spec.arch = value));
    case 'u':
      return modify(walk.draft, (spec) => (spec.user = value));
    case 'R':
      return modify(walk.draft, (spec) => (spec.runtime = value));
    case 'I':
      return modify(walk.draft, (spec) => spec.includes.push(value));
    case 'B':
      return modify(walk.draft, (spec) => spec.builds.push(value));
    case 'D':
      return modify(walk.draft, (spec) => spec.defines.push(value));
    case 'r':
      return addRelease(walk, value);
    case 'p':
      return byPid(walk, value);
    case 'n':
      walk.draft = byNickname(value, walk.draft, walk.ctx);
      return;
  }
}

/** A change to the configuration: a server found by -n or -p becomes a new one based on it. */
function modify(draft: Draft, change: (spec: ServerSpec) => void): void {
  if (draft.origin === 'running' || draft.origin === 'config') {
    draft.origin = 'options';
    draft.spec.nickname = '';
    delete draft.pid;
  }
  change(draft.spec);
  draft.named = true;
}

/** -r: a release name, or the path of a kernel build tree that says which release it is. */
function addRelease(walk: Walk, value: string): void {
  if (value.startsWith('/') && !walk.ctx.kernelReleaseOf(value)?.trim()) {
    walk.errors.push(
      new StapctlError('NO_SUCH_RELEASE_TREE', `Missing ${value}/include/config/kernel.release`, {
        hint: `-r with a path needs a configured kernel build tree; run 'make prepare' in ${value} or give a release name`,
      }),
    );
    return;
  }
  modify(walk.draft, (spec) => spec.releases.push(value));
}

/** -p: a managed server, by the PID of its status file. */
function byPid(walk: Walk, value: string): void {
  const pid = /^[1-9][0-9]*$/.test(value) ? Number(value) : undefined;
  const found = walk.ctx.running.find((entry) => entry.pid === pid);
  if (found === undefined) {
    walk.errors.push(
      new StapctlError('NO_SUCH_PID', `No stap-server running as pid ${value}`, {
        hint: "'stapctl status' lists the managed servers and their PIDs",
      }),
    );
    return;
  }
  walk.draft = { spec: cloneSpec(found.spec), origin: 'running', pid: found.pid, named: true };
}

function plannedFrom(draft: Draft): PlannedServer {
  return {
    spec: draft.spec,
    origin: draft.origin,
    ...(draft.pid !== undefined && { pid: draft.pid }),
    ...(draft.unknownNickname !== undefined && { unknownNickname: draft.unknownNickname }),
  };
}

/** The i-th value of each distributed option goes to the i-th server; servers past the end keep theirs. */
function distribute(servers: readonly PlannedServer[], distributed: Walk['distributed']): void {
  servers.forEach((server, index) => {
    for (const flag of Object.keys(distributed) as DistributedFlag[]) {
      const item = distributed[flag][index];
      if (item !== undefined) server.spec[DISTRIBUTED_OPTIONS[flag].field] = item;
    }
  });
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
