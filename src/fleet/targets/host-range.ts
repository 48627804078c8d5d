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

export function expandParts(pattern: string, parts: PatternPart[]): string[] {
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
export function compileGlob(glob: string, offset = 0): (name: string) => boolean {
  const expanded = expandParts(glob, parsePattern(glob, offset).parts);
  const regex = new RegExp(`^(?:${expanded.map(globSource).join('|')})$`, 'u');
  return (name) => regex.test(name);
}

export function matchGlob(glob: string, name: string): boolean {
  return compileGlob(glob)(name);
}
