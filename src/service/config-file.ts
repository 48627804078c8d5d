import { join } from 'node:path';
import { isMissingFile, StapctlError, type ErrorCode } from '../errors.js';
import { localFiles, unlessNotInSnapshot, type HostFiles } from './host-files.js';
import { parsePort, PORT_RANGE } from '../port.js';
import { emptySpec, type ServerSpec } from './server-spec.js';
import { byteOrder } from './system.js';

/**
 * The global config (/etc/sysconfig/stap-server) and the server configs (conf.d/*.conf) are
 * written as bash fragments. They are read here as data, never executed: the shell forms that
 * assign values are understood, every form that would run or expand something is refused.
 */

export interface ConfigContext {
  /** The home directory of `user`, or of the invoking user when undefined; for `~` and `~user`. */
  homeOf(user?: string): string | undefined;
}

const GLOBAL_KEYS = ['CONFIG_PATH', 'STAT_PATH', 'LOG_FILE', 'STAP_USER'] as const;
type GlobalKey = (typeof GLOBAL_KEYS)[number];

const SERVER_KEYS = [
  'ARCH',
  'RELEASE',
  'BUILD',
  'INCLUDE',
  'DEFINE',
  'RUNTIME',
  'USER',
  'NICKNAME',
  'LOG',
  'PORT',
  'SSL',
  'MAXTHREADS',
  'MAXREQSIZE',
  'MAXCOMPRESSEDREQ',
] as const;
type ServerKey = (typeof SERVER_KEYS)[number];

export type ListKey = 'RELEASE' | 'BUILD' | 'INCLUDE' | 'DEFINE';
export type ScalarKey = Exclude<ServerKey, ListKey>;

export const LIST_FIELDS = {
  RELEASE: 'releases',
  BUILD: 'builds',
  INCLUDE: 'includes',
  DEFINE: 'defines',
} as const satisfies Record<ListKey, keyof ServerSpec>;

export const SCALAR_FIELDS = {
  ARCH: 'arch',
  RUNTIME: 'runtime',
  USER: 'user',
  NICKNAME: 'nickname',
  LOG: 'log',
  PORT: 'port',
  SSL: 'ssl',
  MAXTHREADS: 'maxThreads',
  MAXREQSIZE: 'maxRequestSize',
  MAXCOMPRESSEDREQ: 'maxCompressedRequest',
} as const satisfies Record<ScalarKey, keyof ServerSpec>;

export function isListKey(key: string): key is ListKey {
  return Object.hasOwn(LIST_FIELDS, key);
}

export function isScalarKey(key: string): key is ScalarKey {
  return Object.hasOwn(SCALAR_FIELDS, key);
}

/** In the initscript's README, `INCLUDE="/mytapsets /yourtapsets"` and `BUILD='V1=A V2=B'` mean one item per word. */
const SPLIT_KEYS: ReadonlySet<ListKey> = new Set(['INCLUDE', 'BUILD']);

// ---------------------------------------------------------------------------------------------
// Values

/** What a value must look like; shared by config files and command-line options. */
export type ValueKind = 'text' | 'port' | 'count' | 'absolute-path' | 'list-item';

/** Why `value` is not acceptable as `kind`, or undefined when it is. */
export function valueProblem(kind: ValueKind, value: string): string | undefined {
  // Status files are line based: a newline would end the value and forge the next setting.
  if (/[\n\r]/.test(value)) return 'may not contain a line break';
  // A NUL cannot be an argument, and ESC and the like would reach terminals through status files.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) return 'may not contain a control character';
  switch (kind) {
    case 'text':
      return undefined;
    case 'port':
      return parsePort(value) === undefined ? `must be a port number from ${PORT_RANGE.replace('-', ' to ')}` : undefined;
    case 'count':
      return /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))
        ? undefined
        : 'must be a whole number (0 or more)';
    case 'absolute-path':
      return value.startsWith('/') ? undefined : 'must be an absolute path';
    case 'list-item':
      // `KEY+=` and `KEY+=()` mean "add nothing" in a status file, so such an item would vanish.
      return value === '' || value === '()' ? 'may not be empty or "()"' : undefined;
  }
}

const SCALAR_KINDS: Record<ScalarKey, ValueKind> = {
  ARCH: 'text',
  RUNTIME: 'text',
  USER: 'text',
  NICKNAME: 'text',
  LOG: 'absolute-path',
  PORT: 'port',
  SSL: 'absolute-path',
  MAXTHREADS: 'count',
  MAXREQSIZE: 'count',
  MAXCOMPRESSEDREQ: 'count',
};

// ---------------------------------------------------------------------------------------------
// One line of shell

/** A line's own problem; turned into a StapctlError that names file and line by the caller. */
class LineProblem {
  constructor(
    readonly code: ErrorCode,
    readonly reason: string | undefined,
    readonly hint: string,
  ) {}
}

const syntax = (reason: string | undefined, hint: string) => new LineProblem('CONFIG_SYNTAX', reason, hint);

const UNSAFE_HINT =
  'config files are read as data and never executed; put a literal $ or ` inside single quotes';

/** One `KEY=value`, `KEY+=value` or `KEY=(a b)` line. */
interface Assignment {
  key: string;
  append: boolean;
  /** True for the `(a b)` form. */
  array: boolean;
  values: string[];
}

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }
  skipBlanks(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos += 1;
  }
}

const isBlank = (ch: string | undefined) => ch === ' ' || ch === '\t';

/**
 * Any `$` outside single quotes, escaped or not followed by a name: bash expands more forms than
 * a reader can list (`$VAR`, `${..}`, `$(..)`, `$[..]` arithmetic, whose array subscripts run
 * commands), and a literal `$` costs only a pair of quotes.
 */
function refuseDollar(cursor: Cursor): never {
  const next = cursor.peek(1);
  const what =
    next === '(' ? '"$(" would run a command' : next === '[' ? '"$[" would evaluate arithmetic' : next !== undefined && /[A-Za-z0-9_{@*#?$!-]/.test(next) ? `"$${next}" would expand a variable` : '"$" outside single quotes';
  throw new LineProblem('CONFIG_UNSAFE', what, UNSAFE_HINT);
}

/** `~` or `~user` at the start of an unquoted word, up to the first `/`. */
function readTilde(cursor: Cursor, ctx: ConfigContext, inArray: boolean): string {
  let end = cursor.pos + 1;
  const { text } = cursor;
  while (end < text.length && text[end] !== '/' && !isBlank(text[end]) && !(inArray && text[end] === ')')) {
    end += 1;
  }
  const name = text.slice(cursor.pos + 1, end);
  // As in bash, a quoted or escaped tilde prefix is not expanded.
  if (!/^[A-Za-z0-9._-]*$/.test(name)) return '';
  const home = ctx.homeOf(name === '' ? undefined : name);
  if (home === undefined) {
    throw syntax(
      name === '' ? 'no home directory to expand "~" to' : `no user "${name}" to expand "~${name}"`,
      'write the absolute path instead',
    );
  }
  cursor.pos = end;
  return home;
}

function readSingleQuoted(cursor: Cursor): string {
  const close = cursor.text.indexOf("'", cursor.pos + 1);
  if (close < 0) throw syntax('unterminated single quote', 'close the quote on the same line; values may not span lines');
  const value = cursor.text.slice(cursor.pos + 1, close);
  cursor.pos = close + 1;
  return value;
}

function readDoubleQuoted(cursor: Cursor): string {
  let out = '';
  cursor.pos += 1;
  for (;;) {
    const ch = cursor.peek();
    if (ch === undefined) {
      throw syntax('unterminated double quote', 'close the quote on the same line; values may not span lines');
    }
    if (ch === '"') {
      cursor.pos += 1;
      return out;
    }
    if (ch === '\\') {
      const next = cursor.peek(1);
      if (next !== undefined && '$`"\\'.includes(next)) {
        out += next;
        cursor.pos += 2;
      } else {
        out += ch;
        cursor.pos += 1;
      }
      continue;
    }
    if (ch === '`') throw new LineProblem('CONFIG_UNSAFE', '"`" would run a command', UNSAFE_HINT);
    if (ch === '$') refuseDollar(cursor);
    out += ch;
    cursor.pos += 1;
  }
}

/** One shell word; stops at an unquoted blank, the end of the line or, in an array, `)`. */
function readWord(cursor: Cursor, ctx: ConfigContext, inArray: boolean): string {
  let out = cursor.peek() === '~' ? readTilde(cursor, ctx, inArray) : '';
  while (!cursor.done) {
    const ch = cursor.peek() as string;
    if (isBlank(ch) || (inArray && ch === ')')) break;
    if (ch === "'") {
      out += readSingleQuoted(cursor);
    } else if (ch === '"') {
      out += readDoubleQuoted(cursor);
    } else if (ch === '\\') {
      const next = cursor.peek(1);
      if (next === undefined) throw syntax('line ends in a backslash', 'values may not span lines');
      out += next;
      cursor.pos += 2;
    } else if (ch === '`') {
      throw new LineProblem('CONFIG_UNSAFE', '"`" would run a command', UNSAFE_HINT);
    } else if (ch === '$') {
      refuseDollar(cursor);
    } else if (';&|<>()'.includes(ch)) {
      throw syntax(`unquoted "${ch}"`, `quote the value, e.g. KEY='a${ch}b'`);
    } else if (inArray && '*?[{'.includes(ch)) {
      // bash would expand these in an array (globs, braces); we do not guess.
      throw syntax(`unquoted "${ch}" in a list`, `quote the item, e.g. KEY=('a${ch}b')`);
    } else {
      out += ch;
      cursor.pos += 1;
    }
  }
  return out;
}

function expectLineEnd(cursor: Cursor, reason: string, hint: string): void {
  cursor.skipBlanks();
  if (!cursor.done && cursor.peek() !== '#') throw syntax(reason, hint);
}

// A control character is no part of any value: a NUL would end an argument, ESC would reach terminals.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** The assignment on a line, or undefined for a blank or comment line. Throws LineProblem. */
function parseLine(line: string, ctx: ConfigContext): Assignment | undefined {
  if (line.endsWith('\r')) throw syntax('line ends in a carriage return', 'convert the file to Unix line endings (dos2unix)');
  const control = CONTROL_CHARACTER.exec(line);
  if (control) {
    const code = (control[0].codePointAt(0) ?? 0).toString(16).padStart(4, '0');
    throw syntax(`control character U+${code} at column ${control.index + 1}`, 'config files are text: remove the character (cat -A shows it)');
  }
  const cursor = new Cursor(line);
  cursor.skipBlanks();
  if (cursor.done || cursor.peek() === '#') return undefined;
  const head = /^([A-Za-z_][A-Za-z0-9_]*)(\+?=)/.exec(line.slice(cursor.pos));
  if (!head) throw syntax(undefined, 'write KEY=value, with no blanks around "="');
  const key = head[1] as string;
  const append = head[2] === '+=';
  cursor.pos += head[0].length;

  if (cursor.peek() !== '(') {
    const value = readWord(cursor, ctx, false);
    expectLineEnd(cursor, 'unquoted blank in the value', `quote the value, e.g. ${key}="a b"`);
    return { key, append, array: false, values: [value] };
  }

  cursor.pos += 1;
  const values: string[] = [];
  for (;;) {
    cursor.skipBlanks();
    if (cursor.done || cursor.peek() === '#') throw syntax('missing ")"', 'close the list on the same line');
    if (cursor.peek() === ')') {
      cursor.pos += 1;
      break;
    }
    values.push(readWord(cursor, ctx, true));
  }
  if (!cursor.done && !isBlank(cursor.peek())) throw syntax('text after ")"', `write ${key}=(a b) with nothing after ")"`);
  expectLineEnd(cursor, 'text after ")"', `write ${key}=(a b) with nothing after ")"`);
  return { key, append, array: true, values };
}

function lineError(problem: LineProblem, line: string, file: string, lineNumber: number): StapctlError {
  // A control character is shown as its code: the message names it, so it must survive printing.
  const shown = line.replace(new RegExp(CONTROL_CHARACTER.source, 'g'), (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
  const message = `invalid line "${shown}"${problem.reason === undefined ? '' : `: ${problem.reason}`}`;
  return new StapctlError(problem.code, message, { file, line: lineNumber, hint: problem.hint });
}

/** Each assignment of `text` with its line number; line problems are collected, not thrown. */
function parseAssignments(
  text: string,
  file: string,
  ctx: ConfigContext,
  apply: (assignment: Assignment) => void,
): StapctlError[] {
  const errors: StapctlError[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, index) => {
    try {
      const assignment = parseLine(line, ctx);
      if (assignment) apply(assignment);
    } catch (problem) {
      if (!(problem instanceof LineProblem)) throw problem;
      errors.push(lineError(problem, line, file, index + 1));
    }
  });
  return errors;
}

function scalarValue(assignment: Assignment, kind: ValueKind): string {
  const { key } = assignment;
  if (assignment.array) throw syntax(`${key} takes one value, not a list`, `write ${key}=value`);
  if (assignment.append) throw syntax(`${key} is not a list; "+=" does not apply`, `write ${key}=value`);
  const value = assignment.values[0] as string;
  const problem = value === '' ? undefined : valueProblem(kind, value);
  if (problem !== undefined) throw syntax(`${key} ${problem}, got "${value}"`, `fix the value of ${key}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The global config

/** Settings of a global config; an empty value leaves the default, as in the stock script. */
export interface GlobalConfig {
  configPath?: string;
  statPath?: string;
  logFile?: string;
  stapUser?: string;
}

const GLOBAL_FIELDS = {
  CONFIG_PATH: ['configPath', 'absolute-path'],
  STAT_PATH: ['statPath', 'absolute-path'],
  LOG_FILE: ['logFile', 'absolute-path'],
  STAP_USER: ['stapUser', 'text'],
} as const satisfies Record<GlobalKey, readonly [keyof GlobalConfig, ValueKind]>;

/**
 * The settings of the valid lines and an error for each bad line. The caller decides whether a
 * config with errors is used at all (the stock script exits on the first bad line).
 */
export function parseGlobalConfig(
  text: string,
  file: string,
  ctx: ConfigContext,
): { config: GlobalConfig; errors: StapctlError[] } {
  const config: GlobalConfig = {};
  const errors = parseAssignments(text, file, ctx, (assignment) => {
    const { key } = assignment;
    if (!Object.hasOwn(GLOBAL_FIELDS, key)) {
      throw syntax(`unknown setting ${key}`, `the global config may set ${GLOBAL_KEYS.join(', ')}`);
    }
    const [field, kind] = GLOBAL_FIELDS[key as GlobalKey];
    const value = scalarValue(assignment, kind);
    if (value === '') delete config[field];
    else config[field] = value;
  });
  return { config, errors };
}

// ---------------------------------------------------------------------------------------------
// Server configs

/** One conf.d file. Settings it leaves out are '' or [] in `spec`; defaults are the planner's. */
export interface ServerConfig {
  file: string;
  spec: ServerSpec;
}

function applyServerAssignment(spec: ServerSpec, assignment: Assignment): void {
  const { key } = assignment;
  if (isScalarKey(key)) {
    spec[SCALAR_FIELDS[key]] = scalarValue(assignment, SCALAR_KINDS[key]);
    return;
  }
  if (!isListKey(key)) {
    throw syntax(`unknown setting ${key}`, `a server config may set ${SERVER_KEYS.join(', ')}`);
  }
  const items = assignment.array
    ? assignment.values
    : SPLIT_KEYS.has(key)
      ? (assignment.values[0] as string).split(/[ \t]+/).filter((word) => word !== '')
      : (assignment.values[0] as string) === ''
        ? []
        : assignment.values;
  for (const item of items) {
    const problem = valueProblem('list-item', item);
    if (problem !== undefined) throw syntax(`an item of ${key} ${problem}`, `remove the empty item from ${key}`);
  }
  const field = LIST_FIELDS[key];
  // In place: copying the list on every `KEY+=` line made a long file quadratic.
  if (!assignment.append) spec[field] = [];
  for (const item of items) spec[field].push(item);
}

/** A server config, or no config and every error when any line is bad (that server is skipped). */
export function parseServerConfig(
  text: string,
  file: string,
  ctx: ConfigContext,
): { config?: ServerConfig; errors: StapctlError[] } {
  const spec = emptySpec();
  const errors = parseAssignments(text, file, ctx, (assignment) => applyServerAssignment(spec, assignment));
  return errors.length > 0 ? { errors } : { config: { file, spec }, errors };
}

// ---------------------------------------------------------------------------------------------
// Reading the files

function unreadable(file: string, error: unknown): StapctlError {
  return new StapctlError('CONFIG_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
    file,
    hint: 'check that the file exists and is readable by root',
    cause: error,
  });
}

/**
 * A global config file. A missing file is an empty config (as the stock script's `[ -f ]`)
 * unless `required`, which the file named by `-c` is: a mistyped name should not pass silently.
 */
export function loadGlobalConfig(
  file: string,
  ctx: ConfigContext,
  options: { required?: boolean } = {},
  host: HostFiles = localFiles,
): { config: GlobalConfig; errors: StapctlError[] } {
  let text: string;
  try {
    text = host.readText(file);
  } catch (error) {
    unlessNotInSnapshot(error);
    if (isMissingFile(error) && !options.required) return { config: {}, errors: [] };
    return { config: {}, errors: [unreadable(file, error)] };
  }
  return parseGlobalConfig(text, file, ctx);
}

/** The `*.conf` files of `dir` in glob order; a missing directory holds none. */
export function loadServerConfigs(dir: string, ctx: ConfigContext, host: HostFiles = localFiles): { configs: ServerConfig[]; errors: StapctlError[] } {
  let names: string[];
  try {
    names = host.list(dir);
  } catch (error) {
    unlessNotInSnapshot(error);
    if (isMissingFile(error)) return { configs: [], errors: [] };
    return { configs: [], errors: [unreadable(dir, error)] };
  }
  const configs: ServerConfig[] = [];
  const errors: StapctlError[] = [];
  for (const name of names.filter((n) => n.endsWith('.conf') && !n.startsWith('.')).sort(byteOrder)) {
    const file = join(dir, name);
    let text: string;
    try {
      // The stock script's `[ -f "$f" ]`: regular files, through symlinks.
      if (host.kind(file) !== 'file') continue;
      text = host.readText(file);
    } catch (error) {
      unlessNotInSnapshot(error);
      if (isMissingFile(error)) continue;
      errors.push(unreadable(file, error));
      continue;
    }
    const parsed = parseServerConfig(text, file, ctx);
    if (parsed.config) configs.push(parsed.config);
    errors.push(...parsed.errors);
  }
  return { configs, errors };
}
