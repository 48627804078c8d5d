/**
 * ~/.ssh/config as ssh reads it, for the settings fleet mode honours: HostName, User, Port,
 * IdentityFile, IdentitiesOnly, ProxyJump, ProxyCommand, UserKnownHostsFile, StrictHostKeyChecking,
 * ConnectTimeout, HostKeyAlias.
 * The `ssh-config` package tokenises each line (quoting, `=` separators); sections, Include and
 * "first value wins" are applied here, where every directive still knows its file and line.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { isMissingFile, StapctlError } from '../../errors.js';
import { parsePort, PORT_RANGE } from '../../port.js';
import { patternListMatches, wildcardMatches } from './known-hosts.js';

export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';

export interface SshHostConfig {
  hostName: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly: boolean;
  proxyJump?: string;
  userKnownHostsFiles?: string[];
  strictHostKeyChecking?: HostKeyPolicy;
  /** ConnectTimeout, in milliseconds. */
  connectTimeoutMs?: number;
  /** The command whose stdin and stdout carry the connection, %-tokens expanded (run by `sh -c`). */
  proxyCommand?: string;
  hostKeyAlias?: string;
  /** Sections that could not be evaluated, such as `Match exec` (we never run commands from it). */
  warnings: string[];
}

export interface ResolveContext {
  /** Top-level files in ssh's order: the user's ~/.ssh/config first, then /etc/ssh/ssh_config. */
  files: readonly string[];
  home: string;
  localUser: string;
  /** Settings that beat the config file, as `ssh -o` does: the inventory's host, user and port. */
  overrides?: { hostName?: string; user?: string; port?: number };
}

export interface ConfigDirective {
  param: string;
  args: string[];
  /** The line after the keyword, untouched: ProxyCommand goes to the shell as ssh gives it. */
  rest: string;
  file: string;
  line: number;
}

/** OpenSSH's READCONF_MAX_DEPTH. */
const MAX_INCLUDE_DEPTH = 16;

/** Tokenises one file into directives with their line numbers; a line ssh-config rejects is an error. */
function parseSshConfigText(text: string, file: string): ConfigDirective[] {
  const directives: ConfigDirective[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.trim().startsWith('#')) return;
    let parsed: SSHConfig;
    try {
      parsed = SSHConfig.parse(raw);
    } catch (error) {
      throw invalid(`${(error as Error).message}: ${raw.trim()}`, file, line);
    }
    const first = parsed[0];
    if (first === undefined || first.type !== SSHConfig.DIRECTIVE) return;
    const args = typeof first.value === 'string' ? [first.value] : first.value.map((part) => part.val);
    const param = first.param.trim().toLowerCase();
    if (args.length === 0 || args.every((arg) => arg === '')) {
      throw invalid(`${first.param.trim()} needs a value`, file, line);
    }
    const rest = raw.trim().replace(/^\S+?(\s*=\s*|\s+)/, '');
    directives.push({ param, args, rest, file, line });
  });
  return directives;
}

/** Reads a file; a missing one is an empty config, as it is for ssh. */
export type ReadConfigFile = (file: string) => string | undefined;

export const readConfigFile: ReadConfigFile = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (isMissingFile(error)) return undefined;
    throw new StapctlError('SSH_CONFIG_INVALID', `cannot read ${file}: ${(error as Error).message}`, { file, cause: error });
  }
};

/** Each file read and tokenised once, however many hosts are resolved against it (a fleet run: all). */
export class SshConfigFiles {
  private readonly loaded = new Map<string, ConfigDirective[] | undefined>();

  constructor(private readonly read: ReadConfigFile = readConfigFile) {}

  directives(file: string): ConfigDirective[] | undefined {
    if (!this.loaded.has(file)) {
      const text = this.read(file);
      this.loaded.set(file, text === undefined ? undefined : parseSshConfigText(text, file));
    }
    return this.loaded.get(file);
  }
}

/** What the config files say about one host: the first value of each directive, and every IdentityFile. */
interface CollectedDirectives {
  values: Map<string, ConfigDirective>;
  identityFiles: ConfigDirective[];
  /** Sections that could not be evaluated (`Match exec`): each is ignored, and the user told. */
  warnings: string[];
}

/** ssh's rule "the first of ProxyJump and ProxyCommand wins": they are one setting, two spellings. */
const PROXY_DIRECTIVES = new Set(['proxyjump', 'proxycommand']);

/**
 * Walks the config files in ssh's order, following Include, and keeps the first value of each
 * directive in the sections (Host, Match) that apply to HOST.
 */
function collectDirectives(host: string, context: ResolveContext, files: SshConfigFiles): CollectedDirectives {
  const collected: CollectedDirectives = { values: new Map(), identityFiles: [], warnings: [] };
  const { values } = collected;
  const overrides = context.overrides ?? {};

  const apply = (directive: ConfigDirective): void => {
    if (directive.param === 'identityfile') collected.identityFiles.push(directive);
    else if (PROXY_DIRECTIVES.has(directive.param) && [...PROXY_DIRECTIVES].some((param) => values.has(param))) return;
    else if (!values.has(directive.param)) values.set(directive.param, directive);
  };

  const sectionMatches = (directive: ConfigDirective): boolean => {
    if (directive.param === 'host') return patternListMatches(directive.args.join(','), host.toLowerCase());
    const outcome = evaluateMatch(directive, {
      host: currentHostName(host, values, overrides).toLowerCase(),
      originalHost: host.toLowerCase(),
      user: overrides.user ?? values.get('user')?.args[0] ?? context.localUser,
      localUser: context.localUser,
    });
    if (outcome.warning !== undefined) collected.warnings.push(outcome.warning);
    return outcome.matches;
  };

  const walk = (file: string, baseDir: string, depth: number, startActive: boolean): void => {
    const directives = files.directives(file);
    if (directives === undefined) return;
    let active = startActive;
    for (const directive of directives) {
      if (directive.param === 'host' || directive.param === 'match') {
        active = startActive && sectionMatches(directive);
      } else if (directive.param === 'include') {
        // ssh parses an Include in an inactive section without applying it; skipping it is the same.
        if (!active) continue;
        if (depth >= MAX_INCLUDE_DEPTH) {
          throw invalid(`Include nested deeper than ${MAX_INCLUDE_DEPTH} levels`, directive.file, directive.line);
        }
        for (const pattern of directive.args) {
          const expanded = expandTilde(pattern, context.home);
          const absolute = isAbsolute(expanded) ? expanded : join(baseDir, expanded);
          for (const included of expandGlob(absolute)) walk(included, baseDir, depth + 1, true);
        }
      } else if (active) {
        apply(directive);
      }
    }
  };

  context.files.forEach((file) => walk(file, dirnameOf(file), 0, true));
  return collected;
}

/** ssh expands %h (the name given) and %% in HostName, so `HostName %h.lab` works. */
function currentHostName(host: string, values: ReadonlyMap<string, ConfigDirective>, overrides: NonNullable<ResolveContext['overrides']>): string {
  return overrides.hostName ?? values.get('hostname')?.args[0]?.replace(/%([h%])/g, (_, token: string) => (token === 'h' ? host : '%')) ?? host;
}

/** The settings of one host from the collected directives: parsed, checked and %-expanded. */
function hostConfig(host: string, context: ResolveContext, collected: CollectedDirectives): SshHostConfig {
  const { values } = collected;
  const overrides = context.overrides ?? {};
  const user = overrides.user ?? values.get('user')?.args[0];
  const port = overrides.port ?? portOf(values.get('port'));
  const hostName = currentHostName(host, values, overrides);
  const tokens: TokenValues = { h: hostName, n: host, p: String(port ?? 22), r: user ?? context.localUser, u: context.localUser, d: context.home };
  const proxyJump = values.get('proxyjump')?.args[0];
  const proxyCommand = values.get('proxycommand');
  const knownHosts = values.get('userknownhostsfile');
  const strict = values.get('stricthostkeychecking');
  const connectTimeout = values.get('connecttimeout');
  const alias = values.get('hostkeyalias')?.args[0];
  return {
    hostName,
    ...(user !== undefined && { user }),
    ...(port !== undefined && { port }),
    identityFiles: collected.identityFiles
      .filter((directive) => directive.args[0]?.toLowerCase() !== 'none')
      .map((directive) => expandPath(directive.args[0] ?? '', tokens, context.home, directive)),
    identitiesOnly: parseYesNo(values.get('identitiesonly')) ?? false,
    ...(proxyJump !== undefined && proxyJump.toLowerCase() !== 'none' && { proxyJump }),
    ...(proxyCommand !== undefined && proxyCommand.rest.toLowerCase() !== 'none' && { proxyCommand: expandProxyCommand(proxyCommand, tokens) }),
    ...(knownHosts !== undefined &&
      knownHosts.args[0]?.toLowerCase() !== 'none' && {
        userKnownHostsFiles: knownHosts.args.map((file) => expandPath(file, tokens, context.home, knownHosts)),
      }),
    ...(strict !== undefined && { strictHostKeyChecking: parseStrict(strict) }),
    ...(connectTimeout !== undefined && { connectTimeoutMs: parseConnectTimeout(connectTimeout) }),
    ...(alias !== undefined && { hostKeyAlias: alias }),
    warnings: collected.warnings,
  };
}

export function resolveSshConfig(host: string, context: ResolveContext, files: SshConfigFiles = new SshConfigFiles()): SshHostConfig {
  return hostConfig(host, context, collectDirectives(host, context, files));
}

interface MatchSubject {
  host: string;
  originalHost: string;
  user: string;
  localUser: string;
}

/**
 * `Match` with the criteria that need no outside state. `exec`, `localnetwork` and `tagged` are
 * not evaluated (running a command from a config file is what stapctl never does): such a section
 * does not apply, and the caller is told. A single pass is made, so `final` holds and `canonical`
 * (no hostname canonicalisation here) does not.
 */
function evaluateMatch(directive: ConfigDirective, subject: MatchSubject): { matches: boolean; warning?: string } {
  const args = [...directive.args];
  let matches = true;
  while (args.length > 0) {
    const raw = (args.shift() ?? '').toLowerCase();
    const negated = raw.startsWith('!');
    const criterion = negated ? raw.slice(1) : raw;
    let result: boolean;
    if (criterion === 'all') result = true;
    else if (criterion === 'final') result = true;
    else if (criterion === 'canonical') result = false;
    else {
      const value = args.shift();
      if (value === undefined) throw invalid(`Match ${criterion} needs an argument`, directive.file, directive.line);
      switch (criterion) {
        case 'host':
          result = patternListMatches(value, subject.host);
          break;
        case 'originalhost':
          result = patternListMatches(value, subject.originalHost);
          break;
        case 'user':
          result = patternListMatches(value, subject.user);
          break;
        case 'localuser':
          result = patternListMatches(value, subject.localUser);
          break;
        case 'exec':
        case 'localnetwork':
        case 'tagged':
          return {
            matches: false,
            warning: `${directive.file}:${directive.line}: Match ${criterion} is not evaluated; the section is ignored`,
          };
        default:
          throw invalid(`unknown Match criterion "${criterion}"`, directive.file, directive.line);
      }
    }
    if (result === negated) matches = false;
  }
  return { matches };
}

interface TokenValues {
  h: string;
  n: string;
  p: string;
  r: string;
  u: string;
  d: string;
}

function expandPath(value: string, tokens: TokenValues, home: string, at: ConfigDirective): string {
  const expanded = value.replace(/%(.)/g, (whole, token: string) => {
    if (token === '%') return '%';
    if (token in tokens) return tokens[token as keyof TokenValues];
    throw invalid(`unknown token %${token} in "${value}" (known: %h %n %p %r %u %d %%)`, at.file, at.line);
  });
  return expandTilde(expanded, home);
}

/** `~` and `~/...` as ssh expands them in file names (ssh knows no `~user` there). */
export function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/** glob(3) as ssh uses it for Include: wildcards in any path component, results sorted. */
function expandGlob(path: string): string[] {
  const parts = path.split('/').filter((part) => part !== '');
  let matches = ['/'];
  for (const part of parts) {
    const wild = /[*?]/.test(part);
    matches = matches.flatMap((dir) => {
      if (!wild) return [join(dir, part)];
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return [];
      }
      return names
        .filter((name) => !name.startsWith('.') && wildcardMatches(part, name))
        .sort()
        .map((name) => join(dir, name));
    });
  }
  return matches;
}

function dirnameOf(file: string): string {
  const slash = file.lastIndexOf('/');
  return slash <= 0 ? '/' : file.slice(0, slash);
}

function portOf(directive: ConfigDirective | undefined): number | undefined {
  if (directive === undefined) return undefined;
  const text = directive.args[0] ?? '';
  const port = parsePort(text);
  if (port === undefined) throw invalid(`Port must be ${PORT_RANGE}, got "${text}"`, directive.file, directive.line);
  return port;
}

function parseYesNo(directive: ConfigDirective | undefined): boolean | undefined {
  if (directive === undefined) return undefined;
  const text = (directive.args[0] ?? '').toLowerCase();
  if (text === 'yes') return true;
  if (text === 'no') return false;
  throw invalid(`${directive.param} must be yes or no, got "${directive.args[0]}"`, directive.file, directive.line);
}

/** ProxyCommand knows %h %n %p %r and %%, as ssh_config(5) says; the rest of the line is the command. */
function expandProxyCommand(directive: ConfigDirective, tokens: TokenValues): string {
  return directive.rest.replace(/%(.)/g, (_, token: string) => {
    if (token === '%') return '%';
    if (token === 'h' || token === 'n' || token === 'p' || token === 'r') return tokens[token];
    throw invalid(`unknown token %${token} in ProxyCommand (known: %h %n %p %r %%)`, directive.file, directive.line);
  });
}

function parseConnectTimeout(directive: ConfigDirective): number {
  const text = directive.args[0] ?? '';
  if (!/^\d+$/.test(text) || Number(text) === 0) {
    throw invalid(`ConnectTimeout must be a positive number of seconds, got "${text}"`, directive.file, directive.line);
  }
  return Number(text) * 1000;
}

/** `ask` cannot prompt in a fleet run, so it is as strict as `yes`. */
function parseStrict(directive: ConfigDirective): HostKeyPolicy {
  const text = (directive.args[0] ?? '').toLowerCase();
  if (text === 'yes' || text === 'ask') return 'strict';
  if (text === 'accept-new') return 'accept-new';
  if (text === 'no' || text === 'off') return 'off';
  throw invalid(`StrictHostKeyChecking must be yes, ask, accept-new, no or off, got "${directive.args[0]}"`, directive.file, directive.line);
}

export interface JumpHost {
  user?: string;
  host: string;
  port?: number;
}

/** `[user@]host[:port]` hops, comma-separated, first hop first; `ssh://` URIs as ssh accepts them. */
export function parseProxyJump(value: string, at?: { file: string; line: number }): JumpHost[] {
  return value.split(',').map((hop) => {
    const text = hop.trim().replace(/^ssh:\/\//, '');
    const match = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(text);
    if (match === null) {
      throw new StapctlError('SSH_CONFIG_INVALID', `invalid ProxyJump hop "${hop}"`, {
        hint: 'use [user@]host[:port], several hops separated by commas',
        ...at,
      });
    }
    const [, user, host = '', portText] = match;
    const port = portText === undefined ? undefined : parsePort(portText);
    if (portText !== undefined && port === undefined) {
      throw new StapctlError('SSH_CONFIG_INVALID', `invalid ProxyJump hop "${hop}": the port must be ${PORT_RANGE}`, {
        hint: 'use [user@]host[:port], several hops separated by commas',
        ...at,
      });
    }
    return {
      ...(user !== undefined && { user }),
      host: host.replace(/^\[(.*)\]$/, '$1'),
      ...(port !== undefined && { port }),
    };
  });
}

function invalid(message: string, file: string, line: number): StapctlError {
  return new StapctlError('SSH_CONFIG_INVALID', message, {
    file,
    line,
    hint: 'fix this line of the ssh config (see ssh_config(5)); `ssh -G HOST` shows how ssh reads it',
  });
}
