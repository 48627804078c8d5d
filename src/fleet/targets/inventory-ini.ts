/**
 * Ansible's INI inventory, read as its `ini` inventory plugin reads it: hosts before any section
 * are ungrouped; `[group]` lists hosts (`name[:port] [key=value ...]`, ranges expanded, the line
 * split as shlex splits it, `#` starting a comment); `[group:vars]` holds `key=value` lines;
 * `[group:children]` names child groups, each of which must have a section of its own (or come
 * from an earlier source), as must a group with `[group:vars]`. Values are Python literals where they parse as one
 * (`22` is a number, `'22'` a string, `True` a boolean), text otherwise, as `ast.literal_eval` decides.
 */
import type { InventoryBuilder } from './inventory-model.js';
import { inventoryError, LOCATED_VARIABLES, variableLayer, type Location, type WrittenVariable } from './inventory-variables.js';
import { splitPort } from './inventory-yaml.js';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const STATES = new Set(['hosts', 'vars', 'children']);

export function readIniInventory(file: string, text: string, builder: InventoryBuilder): void {
  let group = 'ungrouped';
  let state = 'hosts';
  // Groups named before any [group] or [group:children] section declares them, as Ansible tracks them.
  const undeclared = new Map<string, { at: Location; message: string }>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const column = raw.length - raw.trimStart().length + 1;
    const at: Location = { file, line: index + 1, column };
    const section = SECTION.exec(line);
    if (section !== null) {
      group = section[1] ?? '';
      state = section[2] ?? 'hosts';
      if (!STATES.has(state)) throw inventoryError(at, `section [${group}:${state}] has an unknown type "${state}"`, 'use [group], [group:vars] or [group:children]');
      if (state !== 'vars') undeclared.delete(group);
      else if (!builder.hasGroup(group)) undeclared.set(group, { at, message: `section [${group}:vars] is for a group that no section declares` });
      builder.group(group, at);
      return;
    }
    if (line.startsWith('[')) throw inventoryError(at, `invalid section "${line}"`, 'write sections as [group], [group:vars] or [group:children]');
    if (state === 'hosts') readHostLine(line, at, group, builder);
    else if (state === 'vars') readVarsLine(line, at, group, builder);
    else {
      const child = withoutComment(line).trim();
      if (!builder.hasGroup(child)) undeclared.set(child, { at, message: `section [${group}:children] names "${child}", which no section declares` });
      builder.child(group, child, at);
    }
  });
  const [first] = undeclared.values();
  if (first !== undefined) throw inventoryError(first.at, first.message, 'add a [group] section for it, as Ansible requires');
}

function variable(name: string, value: unknown, at: Location): WrittenVariable {
  const place = { line: at.line ?? 1, column: at.column ?? 1 };
  return { name, value, at, ...(LOCATED_VARIABLES.has(name) && { located: { file: at.file, value, positions: { '': place } } }) };
}

function readHostLine(line: string, at: Location, group: string, builder: InventoryBuilder): void {
  const [pattern = '', ...assignments] = shlexSplit(line, at);
  const { pattern: hosts, port } = splitPort(pattern);
  const variables: WrittenVariable[] = [];
  if (port !== undefined) variables.push(variable('ansible_port', Number(port), at));
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    if (equals <= 0) throw inventoryError(at, `expected key=value after the host name, got "${assignment}"`, 'write host variables as name=value');
    variables.push(variable(assignment.slice(0, equals), pythonLiteral(assignment.slice(equals + 1)), at));
  }
  builder.hosts(hosts, group, at, variables.length === 0 ? [] : [variableLayer(variables)]);
}

function readVarsLine(line: string, at: Location, group: string, builder: InventoryBuilder): void {
  const equals = line.indexOf('=');
  if (equals <= 0) throw inventoryError(at, `expected key=value in [${group}:vars], got "${line}"`);
  const name = line.slice(0, equals).trim();
  builder.groupVars(group, variableLayer([variable(name, pythonLiteral(line.slice(equals + 1).trim()), at)]));
}

function withoutComment(line: string): string {
  const hash = line.indexOf('#');
  return hash === -1 ? line : line.slice(0, hash);
}

/** Python's shlex.split(line, comments=True): blanks split, quotes group, a backslash escapes, `#` ends the line. */
export function shlexSplit(line: string, at: Location): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let index = 0; index < line.length; index += 1) {
    const char = line.charAt(index);
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && /["\\$`\n]/.test(line.charAt(index + 1))) word += line.charAt(++index);
      else word += char;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (char === '#') {
      break;
    } else {
      inWord = true;
      if (char === '"' || char === "'") quote = char;
      else if (char === '\\') word += line.charAt(++index);
      else word += char;
    }
  }
  if (quote !== undefined) throw inventoryError(at, `no closing quotation (${quote})`, 'close the quote, or escape it with a backslash');
  if (inWord) words.push(word);
  return words;
}

/**
 * The value Python's ast.literal_eval gives TEXT (numbers, strings, True/False/None, lists,
 * tuples, dicts of those), or TEXT itself when it is not a literal, as the ini plugin does.
 */
export function pythonLiteral(text: string): unknown {
  const reader = new LiteralReader(text.trim());
  try {
    const value = reader.value();
    return reader.atEnd() ? value : text;
  } catch {
    return text;
  }
}

class LiteralReader {
  private index = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    this.skipBlanks();
    return this.index >= this.text.length;
  }

  private skipBlanks(): void {
    while (/\s/.test(this.text.charAt(this.index))) this.index += 1;
  }

  private fail(): never {
    throw new Error('not a literal');
  }

  value(depth = 0): unknown {
    if (depth > 32) this.fail();
    this.skipBlanks();
    const char = this.text.charAt(this.index);
    if (char === '"' || char === "'") return this.string(char);
    if (char === '[' || char === '(') return this.list(char === '[' ? ']' : ')', depth);
    if (char === '{') return this.dict(depth);
    const word = /^(?:[+-]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|True|False|None)/.exec(this.text.slice(this.index))?.[0];
    if (word === undefined) this.fail();
    this.index += word.length;
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    return Number(word.replace(/_/g, ''));
  }

  private string(quote: string): string {
    let result = '';
    for (this.index += 1; this.index < this.text.length; this.index += 1) {
      const char = this.text.charAt(this.index);
      if (char === quote) {
        this.index += 1;
        return result;
      }
      if (char === '\\') {
        const next = this.text.charAt(++this.index);
        result += ({ n: '\n', t: '\t', r: '\r', '0': '\0' } as Record<string, string>)[next] ?? next;
      } else {
        result += char;
      }
    }
    return this.fail();
  }

  private list(close: string, depth: number): unknown[] {
    const items: unknown[] = [];
    this.index += 1;
    for (;;) {
      this.skipBlanks();
      if (this.text.charAt(this.index) === close) {
        this.index += 1;
        return items;
      }
      items.push(this.value(depth + 1));
      this.skipBlanks();
      if (this.text.charAt(this.index) === ',') this.index += 1;
      else if (this.text.charAt(this.index) !== close) this.fail();
    }
  }

  private dict(depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.index += 1;
    for (;;) {
      this.skipBlanks();
      if (this.text.charAt(this.index) === '}') {
        this.index += 1;
        return result;
      }
      const key = this.value(depth + 1);
      this.skipBlanks();
      if (this.text.charAt(this.index) !== ':') this.fail();
      this.index += 1;
      result[String(key)] = this.value(depth + 1);
      this.skipBlanks();
      if (this.text.charAt(this.index) === ',') this.index += 1;
      else if (this.text.charAt(this.index) !== '}') this.fail();
    }
  }
}
