/**
 * Host ranges and globs: the lowest grammar of host names, shared by `-H` patterns and the inventory.
 * It imports nothing from the inventory.
 *
 * Brackets mean one of two things, decided by what they hold:
 * - a **range** when they hold only digits and `-`, `:`, `,`, `/` (`[01-20]`, `[01:20]`, `[7,9-10]`,
 *   `[0-10/2]`, `[01:50:2]`) or exactly two letters around a colon (`[a:f]`, Ansible's letter range).
 *   Ranges are expanded before anything else, as ClusterShell, pdsh and Ansible do.
 * - a glob **character class** otherwise (`[abc]`, `[a-c]`, `[!0-9]`).
 * So `[0-9]` is a range 0..9, which names the same hosts as the character class would.
 */
import { StapctlError } from '../../errors.js';

/** No pattern may name more hosts than this: a typo such as `n[1-1000000]` fails fast instead. */
export const MAX_EXPANSION = 100_000;

/** No run may name more hosts than this, all inventories and patterns together. */
export const MAX_HOSTS_PER_RUN = 100_000;

/**
 * The host names one run has expanded so far. Inventories and `-H` share one, so that twenty
 * lines of `g[1-99999]` stop at the line that crosses the cap instead of building two million hosts.
 */
export class HostBudget {
  private used = 0;

  constructor(readonly limit = MAX_HOSTS_PER_RUN) {}

  /** Counts COUNT more names; throws HOST_PATTERN_INVALID naming PATTERN when the run would exceed the cap. */
  take(count: number, pattern: string): void {
    this.used += count;
    if (this.used > this.limit) {
      throw new StapctlError('HOST_PATTERN_INVALID', `"${pattern}" brings the hosts of this run past ${this.limit}`, {
        hint: 'narrow the ranges, or split the inventory or the run',
      });
    }
  }
}

type PatternPart = { kind: 'text'; text: string } | { kind: 'range'; values: string[] };

interface ParsedPattern {
  parts: PatternPart[];
  /** True when the pattern holds `*`, `?` or a character class after range expansion. */
  isGlob: boolean;
}

export function invalid(pattern: string, column: number, problem: string, hint: string): StapctlError {
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
export function parsePattern(pattern: string, offset = 0): ParsedPattern {
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

export function expandParts(pattern: string, parts: PatternPart[], budget?: HostBudget): string[] {
  countExpansion(pattern, parts);
  budget?.take(parts.reduce((total, part) => total * (part.kind === 'range' ? part.values.length : 1), 1), pattern);
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
export function expandRange(pattern: string, budget?: HostBudget): string[] {
  return expandParts(pattern, parsePattern(pattern).parts, budget);
}

/** True when PATTERN matches by glob (`*`, `?` or a character class) rather than naming hosts. */
export function isGlob(pattern: string): boolean {
  return parsePattern(pattern).isGlob;
}

/** One step of a compiled glob: a single character, any run of characters, or one of a range's values. */
type GlobToken =
  | { kind: 'char'; test: (char: string) => boolean }
  | { kind: 'star' }
  | { kind: 'range'; values: string[] };

interface TrieNode {
  /** This node's state number in the compiled glob. */
  state: number;
  /** The index of the range token the node belongs to. */
  token: number;
  next: Map<string, TrieNode>;
  /** A range value ends here. */
  end: boolean;
}

/** Adds the trie of VALUES to NODES; the node at NODES[k] is state FIRST_STATE + k. */
function rangeTrie(values: string[], token: number, nodes: TrieNode[], firstState: number): TrieNode {
  const node = (): TrieNode => {
    const created = { state: firstState + nodes.length, token, next: new Map(), end: false };
    nodes.push(created);
    return created;
  };
  const root = node();
  for (const value of values) {
    let current = root;
    for (const char of value) {
      let child = current.next.get(char);
      if (child === undefined) {
        child = node();
        current.next.set(char, child);
      }
      current = child;
    }
    current.end = true;
  }
  return root;
}

function globTokens(parts: PatternPart[]): GlobToken[] {
  const tokens: GlobToken[] = [];
  for (const part of parts) {
    if (part.kind === 'range') {
      tokens.push({ kind: 'range', values: part.values });
      continue;
    }
    const chars = [...part.text];
    for (let index = 0; index < chars.length; index += 1) {
      const char = chars[index] ?? '';
      if (char === '*') {
        // `**` matches what `*` does; one star keeps the state set small.
        if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
      } else if (char === '?') {
        tokens.push({ kind: 'char', test: () => true });
      } else if (char === '[') {
        // parsePattern left only character classes in text brackets, and checked them.
        const close = chars.indexOf(']', index + 1);
        const regex = new RegExp(`^${characterClassSource(chars.slice(index + 1, close).join(''))}$`, 'u');
        tokens.push({ kind: 'char', test: (candidate) => regex.test(candidate) });
        index = close;
      } else {
        tokens.push({ kind: 'char', test: (candidate) => candidate === char });
      }
    }
  }
  return tokens;
}

/**
 * A glob as a nondeterministic automaton, run by following every way through it at once (a
 * Thompson simulation): the time is at most the name's length times the glob's size, so no pattern
 * such as `*a*a*a*a*b` can make it backtrack. States 0..tokens.length are "before token i"; each
 * range adds the nodes of a trie of its values, so a range is never expanded into alternatives.
 */
class GlobAutomaton {
  private readonly trieNodes: TrieNode[] = [];
  /** The trie root of each range token, by token index. */
  private readonly roots: (TrieNode | undefined)[] = [];
  private readonly closures: number[][] = [];
  private readonly seen: Int32Array;
  private generation = 0;

  constructor(private readonly tokens: GlobToken[]) {
    tokens.forEach((token, index) => {
      if (token.kind === 'range') this.roots[index] = rangeTrie(token.values, index, this.trieNodes, tokens.length + 1);
    });
    this.seen = new Int32Array(tokens.length + 1 + this.trieNodes.length);
  }

  /** The trie node that STATE is, if it is one (a negative index would make V8 look the array up as a dictionary). */
  private trieNode(state: number): TrieNode | undefined {
    return state > this.tokens.length ? this.trieNodes[state - this.tokens.length - 1] : undefined;
  }

  /** STATE and every state reachable from it without reading a character. */
  private closure(state: number): number[] {
    const known = this.closures[state];
    if (known !== undefined) return known;
    const found = [state];
    const token = this.tokens[state];
    const trie = this.trieNode(state);
    if (trie !== undefined) {
      if (trie.end) found.push(...this.closure(trie.token + 1));
    } else if (token?.kind === 'star') {
      found.push(...this.closure(state + 1));
    } else if (token?.kind === 'range') {
      const root = this.roots[state];
      if (root !== undefined) found.push(...this.closure(root.state));
    }
    this.closures[state] = found;
    return found;
  }

  private step(state: number, char: string): number | undefined {
    const trie = this.trieNode(state);
    if (trie !== undefined) return trie.next.get(char)?.state;
    const token = this.tokens[state];
    if (token?.kind === 'star') return state;
    if (token?.kind === 'char' && token.test(char)) return state + 1;
    return undefined;
  }

  private union(states: Iterable<number>): number[] {
    this.generation += 1;
    const result: number[] = [];
    for (const state of states) {
      for (const reached of this.closure(state)) {
        if (this.seen[reached] === this.generation) continue;
        this.seen[reached] = this.generation;
        result.push(reached);
      }
    }
    return result;
  }

  matches(name: string): boolean {
    let current = this.union([0]);
    for (const char of name) {
      const next: number[] = [];
      for (const state of current) {
        const reached = this.step(state, char);
        if (reached !== undefined) next.push(reached);
      }
      if (next.length === 0) return false;
      current = this.union(next);
    }
    return current.includes(this.tokens.length);
  }
}

/** Compiles GLOB (ranges, then `*`, `?`, `[...]`) into a whole-name matcher. */
export function compileGlob(glob: string, offset = 0): (name: string) => boolean {
  const automaton = new GlobAutomaton(globTokens(parsePattern(glob, offset).parts));
  return (name) => automaton.matches(name);
}

export function matchGlob(glob: string, name: string): boolean {
  return compileGlob(glob)(name);
}
