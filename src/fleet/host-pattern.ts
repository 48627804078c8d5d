/**
 * Host patterns: the `-H SPEC` grammar and the bracket ranges shared with the inventory.
 *
 * Brackets mean one of two things, decided by what they hold:
 * - a **range** when they hold only digits and `-`, `:`, `,`, `/` (`[01-20]`, `[01:20]`, `[7,9-10]`,
 *   `[0-10/2]`, `[01:50:2]`) or exactly two letters around a colon (`[a:f]`, Ansible's letter range).
 *   Ranges are expanded before anything else, as ClusterShell, pdsh and Ansible do.
 * - a glob **character class** otherwise (`[abc]`, `[a-c]`, `[!0-9]`).
 * So `[0-9]` is a range 0..9, which names the same hosts as the character class would.
 */
import { StapctlError } from '../errors.js';
import type { HostEntry, Inventory } from './inventory.js';

/** No pattern may name more hosts than this: a typo such as `n[1-1000000]` fails fast instead. */
export const MAX_EXPANSION = 100_000;

type PatternPart = { kind: 'text'; text: string } | { kind: 'range'; values: string[] };

interface ParsedPattern {
  parts: PatternPart[];
  /** True when the pattern holds `*`, `?` or a character class after range expansion. */
  isGlob: boolean;
}

function invalid(pattern: string, column: number, problem: string, hint: string): StapctlError {
  return new StapctlError('HOST_PATTERN_INVALID', `invalid host pattern "${pattern}" at column ${column}: ${problem}`, {
    hint,
    column,
  });
}

const NUMERIC_RANGE_CONTENT = /^[0-9,:/-]+$/;
const LETTER_RANGE_CONTENT = /^([a-z]):([a-z])$|^([A-Z]):([A-Z])$/;
// N, N-M, N-M/STEP (ClusterShell), N:M, N:M:STEP (Ansible)
const NUMERIC_TERM = /^(\d+)(?:-(\d+)(?:\/(\d+))?|:(\d+)(?::(\d+))?)?$/;

function parseBound(text: string): number {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/**
 * The values of a numeric range: each term keeps the zero padding of its first bound, so
 * `[01-10]` gives 01..10 and `[7,9-10]` gives 7, 9, 10.
 */
function numericRange(pattern: string, content: string, contentColumn: number): string[] {
  const values: string[] = [];
  let termColumn = contentColumn;
  for (const term of content.split(',')) {
    const fail = (problem: string, hint: string) => invalid(pattern, termColumn, problem, hint);
    const match = NUMERIC_TERM.exec(term);
    if (match === null) {
      throw fail(
        term === '' ? 'empty range term' : `"${term}" is not a range`,
        'write ranges as [01-20], [01:20], [1-9/2] or lists such as [7,9-10]',
      );
    }
    const [, firstText = '', dashLast, dashStep, colonLast, colonStep] = match;
    const lastText = dashLast ?? colonLast ?? firstText;
    const first = parseBound(firstText);
    const last = parseBound(lastText);
    const step = parseBound(dashStep ?? colonStep ?? '1');
    if (Number.isNaN(first) || Number.isNaN(last) || Number.isNaN(step)) {
      throw fail(`"${term}" has a bound too large to count`, 'use bounds below 2^53');
    }
    if (last < first) {
      throw fail(`range ${term} goes down`, `write the smaller bound first, e.g. [${lastText}-${firstText}]`);
    }
    if (step === 0) throw fail(`range ${term} has a step of 0`, 'use a step of 1 or more');
    const count = Math.floor((last - first) / step) + 1;
    if (values.length + count > MAX_EXPANSION) {
      throw fail(`range ${term} names more than ${MAX_EXPANSION} hosts`, 'narrow the range');
    }
    for (let value = first; value <= last; value += step) {
      values.push(String(value).padStart(firstText.length, '0'));
    }
    termColumn += term.length + 1;
  }
  return values;
}

function letterRange(pattern: string, first: string, last: string, column: number): string[] {
  const from = first.charCodeAt(0);
  const to = last.charCodeAt(0);
  if (to < from) {
    throw invalid(pattern, column, `range ${first}:${last} goes down`, `write the smaller letter first, e.g. [${last}:${first}]`);
  }
  return Array.from({ length: to - from + 1 }, (_, index) => String.fromCharCode(from + index));
}

/** `offset` is where PATTERN starts inside a longer text, so that columns point into that text. */
function parsePattern(pattern: string, offset = 0): ParsedPattern {
  const parts: PatternPart[] = [];
  let text = '';
  let isGlob = false;
  let index = 0;
  while (index < pattern.length) {
    const char = pattern.charAt(index);
    const column = offset + index + 1;
    if (char === ']') {
      throw invalid(pattern, column, '"]" without a "["', 'remove the "]" or add the "[" that opens it');
    }
    if (char !== '[') {
      if (char === '*' || char === '?') isGlob = true;
      text += char;
      index += 1;
      continue;
    }
    const close = pattern.indexOf(']', index + 1);
    const nested = pattern.indexOf('[', index + 1);
    if (close === -1) {
      throw invalid(pattern, column, '"[" is never closed', 'close the range with "]", e.g. build[01-20]');
    }
    if (nested !== -1 && nested < close) {
      throw invalid(pattern, offset + nested + 1, 'brackets cannot nest', 'close each range before opening the next');
    }
    const content = pattern.slice(index + 1, close);
    if (content === '') {
      throw invalid(pattern, column, 'empty brackets', 'put a range inside, e.g. build[01-20]');
    }
    const letters = LETTER_RANGE_CONTENT.exec(content);
    if (NUMERIC_RANGE_CONTENT.test(content) || letters !== null) {
      if (text !== '') parts.push({ kind: 'text', text });
      text = '';
      const values =
        letters === null
          ? numericRange(pattern, content, column + 1)
          : letterRange(pattern, letters[1] ?? letters[3] ?? '', letters[2] ?? letters[4] ?? '', column);
      parts.push({ kind: 'range', values });
    } else {
      checkCharacterClass(pattern, content, column);
      isGlob = true;
      text += `[${content}]`;
    }
    index = close + 1;
  }
  if (text !== '') parts.push({ kind: 'text', text });
  return { parts, isGlob };
}

function characterClassSource(content: string): string {
  const negated = content.startsWith('!') || content.startsWith('^');
  const body = (negated ? content.slice(1) : content).replace(/[\\\]^[]/g, '\\$&');
  return `[${negated ? '^' : ''}${body}]`;
}

function checkCharacterClass(pattern: string, content: string, column: number): void {
  try {
    new RegExp(characterClassSource(content), 'u');
  } catch {
    throw invalid(pattern, column, `[${content}] is not a valid character class`, 'write classes as [abc] or [a-c], smaller bound first');
  }
}

function countExpansion(pattern: string, parts: PatternPart[]): void {
  let total = 1;
  for (const part of parts) {
    if (part.kind === 'range') total *= part.values.length;
    if (total > MAX_EXPANSION) {
      throw new StapctlError('HOST_PATTERN_INVALID', `host pattern "${pattern}" names more than ${MAX_EXPANSION} hosts`, {
        hint: 'narrow the ranges or split the run',
      });
    }
  }
}

function expandParts(pattern: string, parts: PatternPart[]): string[] {
  countExpansion(pattern, parts);
  // The leftmost range varies slowest: rack[1-2]-n[1-2] gives rack1-n1, rack1-n2, rack2-n1, ...
  let names = [''];
  for (const part of parts) {
    const values = part.kind === 'text' ? [part.text] : part.values;
    names = names.flatMap((prefix) => values.map((value) => prefix + value));
  }
  return [...new Set(names)];
}

/**
 * Expands the bracket ranges of PATTERN into host names, in order and without duplicates:
 * `build[01-03]` -> build01, build02, build03. Character classes are left in place for globs.
 */
export function expandRange(pattern: string): string[] {
  return expandParts(pattern, parsePattern(pattern).parts);
}

/** True when PATTERN matches by glob (`*`, `?` or a character class) rather than naming hosts. */
export function isGlob(pattern: string): boolean {
  return parsePattern(pattern).isGlob;
}

function globSource(glob: string): string {
  let source = '';
  let index = 0;
  while (index < glob.length) {
    const char = glob.charAt(index);
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      // expandParts left only character classes in brackets, and parsePattern checked them.
      const close = glob.indexOf(']', index + 1);
      source += characterClassSource(glob.slice(index + 1, close));
      index = close;
    } else source += char.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    index += 1;
  }
  return source;
}

/** Compiles GLOB (ranges expanded first, then `*`, `?`, `[...]`) into a whole-name matcher. */
function compileGlob(glob: string, offset = 0): (name: string) => boolean {
  const expanded = expandParts(glob, parsePattern(glob, offset).parts);
  const regex = new RegExp(`^(?:${expanded.map(globSource).join('|')})$`, 'u');
  return (name) => regex.test(name);
}

export function matchGlob(glob: string, name: string): boolean {
  return compileGlob(glob)(name);
}

// ---------------------------------------------------------------------------------------------
// -H SPEC

export interface ResolvedTarget {
  /** The selected hosts in first-seen order, each with its connection settings. */
  hosts: HostEntry[];
  /** Names in `hosts` that no inventory defines: they connect with the defaults and ~/.ssh/config. */
  adHoc: string[];
}

export interface TargetSources {
  /** The inventory that group and host names and globs refer to (`--inventory` or the default). */
  inventory: Inventory;
  /**
   * Loads a SPEC term that names an inventory file. Only terms that look like paths (they hold a
   * `/` or end in `.yaml`/`.yml`) are files, so that a host name is never read from disk.
   */
  loadInventoryFile: (path: string) => Inventory;
}

export interface SpecTerm {
  text: string;
  exclude: boolean;
  /** 0-based offset of `text` in the whole SPEC, for error columns. */
  offset: number;
}

/** Splits SPEC at the commas that are outside brackets, so `n[7,9-10],web` is two terms. */
export function splitSpec(spec: string): SpecTerm[] {
  const terms: SpecTerm[] = [];
  let depth = 0;
  let start = 0;
  const push = (end: number) => {
    const raw = spec.slice(start, end);
    let offset = start + raw.length - raw.trimStart().length;
    let text = raw.trim();
    const exclude = text.startsWith('!');
    if (exclude) {
      const afterBang = text.slice(1);
      text = afterBang.trimStart();
      offset += 1 + afterBang.length - text.length;
    }
    if (text === '') {
      throw invalid(
        spec,
        offset + 1,
        exclude ? '"!" without a pattern' : 'empty term',
        'separate hosts, groups and patterns with single commas, e.g. web,db,!db03',
      );
    }
    terms.push({ text, exclude, offset });
  };
  for (let index = 0; index < spec.length; index += 1) {
    const char = spec.charAt(index);
    if (char === '[') depth += 1;
    else if (char === ']') depth = Math.max(0, depth - 1);
    else if (char === ',' && depth === 0) {
      push(index);
      start = index + 1;
    }
  }
  push(spec.length);
  return terms;
}

function looksLikeInventoryFile(term: string): boolean {
  // A "/" inside brackets is a range step (n[0-10/2]), not a directory.
  const outsideBrackets = term.replace(/\[[^\]]*\]/g, '');
  return outsideBrackets.includes('/') || /\.ya?ml$/.test(term);
}

// Letters, digits and the punctuation of host names, IPv6 addresses and patterns.
const PATTERN_CHARACTER = /[A-Za-z0-9._:%*?[\]!^,/-]/;

function checkCharacters(spec: string, term: SpecTerm): void {
  for (let index = 0; index < term.text.length; index += 1) {
    const char = term.text.charAt(index);
    if (PATTERN_CHARACTER.test(char)) continue;
    const hint =
      char === '@'
        ? 'set the user with ansible_user in the inventory or User in ~/.ssh/config'
        : char === '&'
          ? 'intersections are not supported: list the hosts, or exclude with !PATTERN'
          : 'host names hold letters, digits, ".", "-", "_" and ":"';
    throw invalid(spec, term.offset + index + 1, `unexpected character "${char}"`, hint);
  }
}

function adHocHost(name: string): HostEntry {
  return { name, address: name, become: false, groups: [], vars: {} };
}

/**
 * The hosts a glob term matches among the inventory's hosts (by host name or group name) and
 * EXTRA_NAMES, or undefined when the term is not a glob.
 */
function hostsMatchingGlob(term: SpecTerm, inventory: Inventory, extraNames: Iterable<string>): string[] | undefined {
  if (!parsePattern(term.text, term.offset).isGlob) return undefined;
  const matches = compileGlob(term.text, term.offset);
  const names = new Set<string>();
  for (const host of inventory.hosts.values()) {
    // Ansible's globs match group names too: `web*` selects the hosts of group webservers.
    if (matches(host.name) || host.groups.some(matches)) names.add(host.name);
  }
  for (const name of extraNames) if (matches(name)) names.add(name);
  if (names.size === 0 && !term.exclude) {
    throw new StapctlError('NO_HOSTS_MATCHED', `"${term.text}" matches no host or group in the inventory`, {
      hint: inventory.file === undefined ? 'pass --inventory FILE, or name the hosts' : `check the names in ${inventory.file}`,
    });
  }
  return [...names];
}

/**
 * Resolves `-H SPEC` to hosts, following Ansible's rules: terms are a group, a host, a glob, a
 * range, an inventory file or `!PATTERN`; includes keep first-seen order without duplicates; all
 * excludes apply after all includes; a SPEC of only excludes starts from every inventory host.
 * A name or range outside the inventory is an ad-hoc host, as with pssh. An exclude that removes
 * nothing is an error, because a typo there would act on a host the user meant to protect.
 */
export function resolveTargets(spec: string, sources: TargetSources): ResolvedTarget {
  const { inventory } = sources;
  const terms = splitSpec(spec);
  const selected = new Map<string, HostEntry>();
  const fileInventories = new Map<string, Inventory>();
  const loadFile = (path: string) => {
    const loaded = fileInventories.get(path) ?? sources.loadInventoryFile(path);
    fileInventories.set(path, loaded);
    return loaded;
  };

  const namesOf = (term: SpecTerm, extraNames: Iterable<string>): { names: string[]; from: Inventory }[] => {
    if (inventory.groups.has(term.text) || inventory.hosts.has(term.text)) {
      return [{ names: inventory.groups.get(term.text)?.hosts ?? [term.text], from: inventory }];
    }
    if (looksLikeInventoryFile(term.text)) {
      const loaded = loadFile(term.text);
      if (loaded.hosts.size === 0 && !term.exclude) {
        throw new StapctlError('NO_HOSTS_MATCHED', `inventory file ${term.text} defines no hosts`, {
          file: term.text,
          hint: 'add hosts under all: hosts:',
        });
      }
      return [{ names: [...loaded.hosts.keys()], from: loaded }];
    }
    checkCharacters(spec, term);
    const globbed = hostsMatchingGlob(term, inventory, extraNames);
    if (globbed !== undefined) return [{ names: globbed, from: inventory }];
    const expanded = expandParts(term.text, parsePattern(term.text, term.offset).parts);
    return expanded.map((name) => ({ names: inventory.groups.get(name)?.hosts ?? [name], from: inventory }));
  };

  const includes = terms.filter((term) => !term.exclude);
  const excludes = terms.filter((term) => term.exclude);
  if (includes.length === 0) {
    for (const host of inventory.hosts.values()) selected.set(host.name, host);
  }
  for (const term of includes) {
    for (const { names, from } of namesOf(term, [])) {
      for (const name of names) {
        if (!selected.has(name)) selected.set(name, from.hosts.get(name) ?? inventory.hosts.get(name) ?? adHocHost(name));
      }
    }
  }
  const included = [...selected.keys()];
  for (const term of excludes) {
    const removed = namesOf(term, included)
      .flatMap(({ names }) => names)
      .filter((name) => selected.has(name) || inventory.hosts.has(name));
    if (removed.length === 0) {
      throw new StapctlError('NO_HOSTS_MATCHED', `"!${term.text}" excludes nothing: no selected or inventory host matches it`, {
        hint: 'check the spelling of the excluded host, group or pattern',
      });
    }
    for (const name of removed) selected.delete(name);
  }
  if (selected.size === 0) {
    throw new StapctlError('NO_HOSTS_MATCHED', `"${spec}" selects no hosts`, {
      hint:
        inventory.file === undefined
          ? 'no inventory was found: pass --inventory FILE or set STAPCTL_INVENTORY, or name the hosts'
          : `name hosts, groups or patterns from ${inventory.file}; \`stapctl -H all hosts\` lists them`,
    });
  }
  const hosts = [...selected.values()];
  const known = (name: string) =>
    inventory.hosts.has(name) || [...fileInventories.values()].some((loaded) => loaded.hosts.has(name));
  return { hosts, adHoc: hosts.map((host) => host.name).filter((name) => !known(name)) };
}
