/**
 * `-H '~regex'` as Ansible reads it (Python's `re.match`: anchored at the start of the name, not
 * at the end), run by a Thompson automaton instead of a backtracking engine: Node has no RE2, and
 * a pattern such as `(a+)+b` would make V8's engine spin for minutes on a long name. The time is
 * at most the name's length times the pattern's size, whatever the pattern.
 *
 * Supported: literals and escapes, `.`, classes (`[a-z]`, `[^0-9]`, `\d \w \s \D \W \S`), groups
 * `(...)`, `(?:...)`, `(?P<name>...)`, `|`, `* + ?`, `{n} {n,} {n,m}` (lazy forms too), `^`, `$`.
 * Backreferences and lookarounds need backtracking and are refused.
 */
import { invalid } from './host-range.js';

type Node =
  | { kind: 'char'; test: (char: string) => boolean }
  | { kind: 'start' | 'end' }
  | { kind: 'sequence'; items: Node[] }
  | { kind: 'choice'; options: Node[] }
  | { kind: 'repeat'; item: Node; min: number; max: number | undefined };

/** Past this many automaton states a pattern is refused (`(a{1000}){1000}` would need a million). */
const MAX_STATES = 20_000;

class RegexParser {
  private index = 0;

  constructor(
    private readonly pattern: string,
    private readonly spec: string,
    private readonly offset: number,
  ) {}

  fail(problem: string, hint = 'stapctl runs ~regex without backtracking: use literals, classes, groups, |, *, +, ?, {n,m}, ^ and $'): never {
    throw invalid(this.spec, this.offset + this.index + 1, problem, hint);
  }

  parse(): Node {
    const node = this.choice(0);
    if (this.index < this.pattern.length) this.fail('")" without a "("');
    return node;
  }

  private peek(): string {
    return this.pattern.charAt(this.index);
  }

  private choice(depth: number): Node {
    if (depth > 100) this.fail('groups nest too deeply');
    const options = [this.sequence(depth)];
    while (this.peek() === '|') {
      this.index += 1;
      options.push(this.sequence(depth));
    }
    return options.length === 1 ? (options[0] as Node) : { kind: 'choice', options };
  }

  private sequence(depth: number): Node {
    const items: Node[] = [];
    while (this.index < this.pattern.length && this.peek() !== '|' && this.peek() !== ')') items.push(this.quantified(depth));
    return { kind: 'sequence', items };
  }

  private quantified(depth: number): Node {
    let node = this.atom(depth);
    for (;;) {
      const char = this.peek();
      let bounds: [number, number | undefined] | undefined;
      if (char === '*') bounds = [0, undefined];
      else if (char === '+') bounds = [1, undefined];
      else if (char === '?') bounds = [0, 1];
      else if (char === '{') bounds = this.braces();
      if (bounds === undefined) return node;
      if (node.kind === 'start' || node.kind === 'end') this.fail('nothing to repeat');
      this.index += char === '{' ? 0 : 1;
      if (this.peek() === '?') this.index += 1;
      else if (this.peek() === '+') this.fail('possessive quantifiers are not supported');
      node = { kind: 'repeat', item: node, min: bounds[0], max: bounds[1] };
    }
  }

  /** `{n}`, `{n,}`, `{n,m}`, `{,m}`; anything else is a literal `{`, as in Python. */
  private braces(): [number, number | undefined] | undefined {
    const match = /^\{(\d*)(,?)(\d*)\}/.exec(this.pattern.slice(this.index));
    if (match === null || (match[1] === '' && match[3] === '')) return undefined;
    const min = match[1] === '' ? 0 : Number(match[1]);
    const max = match[2] === '' ? min : match[3] === '' ? undefined : Number(match[3]);
    if (max !== undefined && max < min) this.fail(`{${min},${max}} goes down`);
    if (min > 1000 || (max ?? 0) > 1000) this.fail('a repeat count above 1000');
    this.index += match[0].length;
    return [min, max];
  }

  private atom(depth: number): Node {
    const char = this.peek();
    this.index += 1;
    if (char === '(') return this.group(depth);
    if (char === '^') return { kind: 'start' };
    if (char === '$') return { kind: 'end' };
    if (char === '.') return { kind: 'char', test: (candidate) => candidate !== '\n' };
    if (char === '[') return this.characterClass();
    if (char === '\\') return this.escape();
    if (char === '*' || char === '+' || char === '?') this.fail('nothing to repeat');
    return { kind: 'char', test: (candidate) => candidate === char };
  }

  private group(depth: number): Node {
    if (this.peek() === '?') {
      const named = /^\?P<[A-Za-z_]\w*>/.exec(this.pattern.slice(this.index));
      if (this.pattern.startsWith('?:', this.index)) this.index += 2;
      else if (named !== null) this.index += named[0].length;
      else this.fail('lookarounds, flags and other (?...) groups are not supported');
    }
    const node = this.choice(depth + 1);
    if (this.peek() !== ')') this.fail('"(" is never closed', 'close the group with ")"');
    this.index += 1;
    return node;
  }

  private escape(): Node {
    const char = this.peek();
    this.index += 1;
    if (char === '') this.fail('a "\\" at the end');
    if (/[1-9]/.test(char)) this.fail('backreferences are not supported');
    if (/[bBAZzG]/.test(char)) this.fail(`\\${char} is not supported`);
    if (/[dDwWsS]/.test(char)) return this.singleCharacter(`\\${char}`);
    if (/[ntrfv0]/.test(char)) return this.singleCharacter(`\\${char}`);
    if (/[A-Za-z0-9]/.test(char)) this.fail(`unknown escape \\${char}`);
    return { kind: 'char', test: (candidate) => candidate === char };
  }

  private characterClass(): Node {
    const start = this.index - 1;
    if (this.peek() === '^') this.index += 1;
    if (this.peek() === ']') this.index += 1;
    while (this.index < this.pattern.length && this.peek() !== ']') this.index += this.peek() === '\\' ? 2 : 1;
    if (this.index >= this.pattern.length) this.fail('"[" is never closed', 'close the class with "]"');
    this.index += 1;
    return this.singleCharacter(this.pattern.slice(start, this.index));
  }

  /** A pattern for one character; V8 cannot backtrack inside it, so it may do the class syntax. */
  private singleCharacter(source: string): Node {
    let regex: RegExp;
    try {
      regex = new RegExp(`^${source.replace(/^\[\]/, '[\\]').replace(/^\[\^\]/, '[^\\]')}$`, 'u');
    } catch {
      return this.fail(`${source} is not a valid class or escape`);
    }
    return { kind: 'char', test: (candidate) => regex.test(candidate) };
  }
}

type State =
  | { kind: 'char'; test: (char: string) => boolean; out: number }
  | { kind: 'split'; out: number; other: number }
  | { kind: 'start' | 'end'; out: number }
  | { kind: 'match' };

/** A Thompson automaton; states refer to each other by index, `out` set when the next fragment is known. */
class Automaton {
  readonly states: State[] = [];

  constructor(private readonly fail: (problem: string) => never) {}

  add(state: State): number {
    if (this.states.length >= MAX_STATES) this.fail(`the pattern needs more than ${MAX_STATES} states`);
    this.states.push(state);
    return this.states.length - 1;
  }

  /** Compiles NODE so that it continues at NEXT; returns its entry state. */
  compile(node: Node, next: number): number {
    switch (node.kind) {
      case 'char':
        return this.add({ kind: 'char', test: node.test, out: next });
      case 'start':
      case 'end':
        return this.add({ kind: node.kind, out: next });
      case 'sequence':
        return node.items.reduceRight((after, item) => this.compile(item, after), next);
      case 'choice':
        return node.options
          .slice(0, -1)
          .reduceRight((other, option) => this.add({ kind: 'split', out: this.compile(option, next), other }), this.compile(node.options.at(-1) as Node, next));
      case 'repeat':
        return this.repeat(node, next);
    }
  }

  private repeat(node: Extract<Node, { kind: 'repeat' }>, next: number): number {
    let entry = next;
    if (node.max === undefined) {
      const loop = this.add({ kind: 'split', out: -1, other: next });
      (this.states[loop] as { out: number }).out = this.compile(node.item, loop);
      entry = loop;
    } else {
      for (let count = node.max; count > node.min; count -= 1) entry = this.add({ kind: 'split', out: this.compile(node.item, entry), other: next });
    }
    for (let count = 0; count < node.min; count += 1) entry = this.compile(node.item, entry);
    return entry;
  }
}

/**
 * Compiles `~PATTERN` (without the `~`) into a name matcher with `re.match` semantics. SPEC and
 * OFFSET place errors in the whole `-H` value.
 */
export function compileRegex(pattern: string, spec: string, offset: number): (name: string) => boolean {
  const parser = new RegexParser(pattern, spec, offset);
  const automaton = new Automaton((problem) => parser.fail(problem));
  const match = automaton.add({ kind: 'match' });
  const start = automaton.compile(parser.parse(), match);
  const { states } = automaton;
  const seen = new Int32Array(states.length);
  let generation = 0;

  /** Adds STATE and the states it reaches without reading a character at POSITION of NAME. */
  const close = (entries: number[], position: number, name: string[]): number[] => {
    generation += 1;
    const found: number[] = [];
    const pending = [...entries];
    for (let state = pending.pop(); state !== undefined; state = pending.pop()) {
      if (seen[state] === generation) continue;
      seen[state] = generation;
      const current = states[state] as State;
      if (current.kind === 'split') pending.push(current.other, current.out);
      else if (current.kind === 'start') {
        if (position === 0) pending.push(current.out);
      } else if (current.kind === 'end') {
        if (position === name.length) pending.push(current.out);
      } else found.push(state);
    }
    return found;
  };

  return (text) => {
    const name = [...text];
    let current = close([start], 0, name);
    for (let position = 0; ; position += 1) {
      if (current.some((state) => states[state]?.kind === 'match')) return true;
      const char = name[position];
      if (char === undefined) return false;
      const next: number[] = [];
      for (const state of current) {
        const entry = states[state] as State;
        if (entry.kind === 'char' && entry.test(char)) next.push(entry.out);
      }
      if (next.length === 0) return false;
      current = close(next, position + 1, name);
    }
  };
}
