/**
 * Inventories and variable files in YAML (and JSON, which YAML reads): Ansible's YAML inventory
 * (`all:` with `hosts:`, `children:` and `vars:`), the `--list` JSON of dynamic inventory scripts and
 * of `ansible-inventory --list`, and group_vars/host_vars files. Read from the syntax tree rather
 * than from plain objects, so that every error and every variable names its `file:line:column`.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { StapctlError } from '../../errors.js';
import type { InventoryBuilder } from './inventory-model.js';
import {
  inventoryError,
  LOCATED_VARIABLES,
  variableLayer,
  type LocatedValue,
  type Location,
  type VarLayer,
  type WrittenVariable,
} from './inventory-variables.js';

export interface Entry {
  name: string;
  keyNode: Node;
  value: Node | null;
}

/**
 * How many entries `<<` merge keys may copy in one file. Each mapping's entries are computed once,
 * so merges are cheap; the count stops a file built to make them expensive anyway.
 */
const MAX_MERGED_ENTRIES = 10_000;

/** One parsed YAML text, with the places of its nodes and the safe ways to walk them. */
export class YamlText {
  private readonly lines = new LineCounter();
  private readonly doc: Document;
  private readonly entriesOf = new WeakMap<Node, Entry[]>();
  private mergedEntries = 0;

  constructor(
    readonly file: string,
    text: string,
  ) {
    // YAML 1.1 and merge keys, because Ansible reads inventories with PyYAML: `become: yes` is true.
    this.doc = parseDocument(text, { lineCounter: this.lines, version: '1.1', merge: true, prettyErrors: false, uniqueKeys: false });
    const syntax = this.doc.errors[0];
    if (syntax !== undefined) {
      throw inventoryError(this.at(syntax.pos[0]), `YAML syntax: ${syntax.message}`, 'check the indentation and the quoting around this place');
    }
  }

  get root(): Node | null {
    return this.deref(this.doc.contents);
  }

  at(offset: number | undefined): Location {
    if (offset === undefined) return { file: this.file };
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }

  where(node: Node | null | undefined): Location {
    return this.at(node?.range?.[0]);
  }

  error(node: Node | null | undefined, message: string, hint?: string): StapctlError {
    return inventoryError(this.where(node), message, hint);
  }

  deref(node: unknown): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.deref(node.resolve(this.doc));
    return node as Node;
  }

  isNull(node: Node | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  /**
   * The entries of a mapping, with `<<` merge keys applied (explicit keys win) and duplicate
   * keys refused: YAML parsers silently keep the last one, which loses hosts.
   */
  entries(node: Node, what: string): Entry[] {
    const known = this.entriesOf.get(node);
    if (known !== undefined) return known;
    const entries = this.mapEntries(node, what);
    this.entriesOf.set(node, entries);
    return entries;
  }

  private mapEntries(node: Node, what: string): Entry[] {
    if (!isMap(node)) {
      throw this.error(node, `${what} must be a mapping`, 'write one "name:" per line, indented below, not a list');
    }
    const explicit = new Map<string, Entry>();
    const merged = new Map<string, Entry>();
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const keyNode = this.deref(pair.key);
      const value = this.deref(pair.value);
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
        for (const source of isSeq(value) ? value.items : [value]) {
          const sourceNode = this.deref(source);
          if (sourceNode === null) continue;
          const copied = this.entries(sourceNode, 'a "<<" merge');
          this.mergedEntries += copied.length;
          if (this.mergedEntries > MAX_MERGED_ENTRIES) {
            throw this.error(keyNode, `"<<" merge keys copy more than ${MAX_MERGED_ENTRIES} entries`, 'write the entries out, or merge fewer times');
          }
          for (const entry of copied) if (!merged.has(entry.name)) merged.set(entry.name, entry);
        }
        continue;
      }
      const name = this.keyName(keyNode, pair, what);
      const previous = explicit.get(name);
      if (previous !== undefined) {
        throw this.error(keyNode, `duplicate key "${name}" in ${what} (first at line ${this.where(previous.keyNode).line})`, 'merge the two entries into one');
      }
      explicit.set(name, { name, keyNode: keyNode ?? node, value });
    }
    return [...[...merged.values()].filter((entry) => !explicit.has(entry.name)), ...explicit.values()];
  }

  private keyName(keyNode: Node | null, pair: Pair<unknown, unknown>, what: string): string {
    if (!isScalar(keyNode)) throw this.error(keyNode ?? this.deref(pair.value), `keys in ${what} must be plain names`);
    // The source text keeps `010` and `1.10` as written instead of as the numbers YAML reads.
    const name = typeof keyNode.value === 'string' ? keyNode.value : (keyNode.source ?? String(keyNode.value));
    if (keyNode.value === null || name === '') throw this.error(keyNode, `empty key in ${what}`);
    return name;
  }

  /** A value as plain data; the yaml library's alias limit stops an alias bomb here. */
  toJS(node: Node): unknown {
    try {
      return node.toJS(this.doc);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      throw this.error(node, `this value cannot be read: ${error.message}`, 'use fewer aliases (*name) in variables');
    }
  }

  /** The items of a sequence, dereferenced. */
  items(node: Node, what: string): (Node | null)[] {
    if (!isSeq(node)) throw this.error(node, `${what} must be a list`);
    return node.items.map((item) => this.deref(item));
  }

  /** A scalar's text, for names written in lists. */
  text(node: Node | null, what: string): string {
    if (!isScalar(node) || node.value === null || typeof node.value === 'object') throw this.error(node, `${what} must be a name`);
    return typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
  }

  /** The variables of a mapping, checked where they are written. */
  variables(node: Node, what: string): VarLayer {
    const written: WrittenVariable[] = this.entries(node, what).map((entry) => {
      const value = entry.value === null ? null : this.toJS(entry.value);
      const place = entry.value ?? entry.keyNode;
      return {
        name: entry.name,
        value,
        at: this.where(place),
        ...(LOCATED_VARIABLES.has(entry.name) && { located: this.located(place, value) }),
      };
    });
    return variableLayer(written);
  }

  private located(node: Node, value: unknown): LocatedValue {
    const positions: LocatedValue['positions'] = {};
    const mark = (current: Node | null, path: string) => {
      const { line, column } = this.where(current);
      if (line !== undefined && column !== undefined) positions[path] = { line, column };
    };
    const walk = (current: Node | null, path: string) => {
      mark(current, path);
      const prefix = path === '' ? '' : `${path}.`;
      if (isSeq(current)) current.items.forEach((item, index) => walk(this.deref(item), `${prefix}${index}`));
      if (!isMap(current)) return;
      for (const pair of current.items as Pair<unknown, unknown>[]) {
        const key = this.deref(pair.key);
        if (!isScalar(key)) continue;
        mark(key, `${prefix}${String(key.value)}:key`);
        walk(this.deref(pair.value), `${prefix}${String(key.value)}`);
      }
    };
    walk(node, '');
    return { file: this.file, value, positions };
  }
}

/** Ansible accepts `name:port` keys; colons inside brackets belong to a range, and IPv6 holds several. */
export function splitPort(key: string): { pattern: string; port?: string } {
  const outsideBrackets = key.replace(/\[[^\]]*\]/g, (range) => '_'.repeat(range.length));
  const match = /^([^:]+):(\d+)$/.exec(outsideBrackets);
  if (match === null) return { pattern: key };
  return { pattern: key.slice(0, match[1]?.length), port: match[2] };
}

const GROUP_KEYS = new Set(['hosts', 'children', 'vars']);

/** Ansible's YAML inventory: top-level keys are groups, each with hosts:, children: and vars:. */
export function readYamlInventory(yaml: YamlText, builder: InventoryBuilder): void {
  const root = yaml.root;
  if (yaml.isNull(root)) return;
  if (root === null || !isMap(root)) throw yaml.error(root, 'the top level must be a mapping of group names', 'start the file with "all:"');
  for (const entry of yaml.entries(root, 'the top level')) readGroup(yaml, builder, entry, entry.name === 'all' ? undefined : 'all');
}

function readGroup(yaml: YamlText, builder: InventoryBuilder, { name, keyNode, value }: Entry, parent: string | undefined): void {
  const at = yaml.where(keyNode);
  builder.group(name, at);
  if (parent !== undefined) builder.child(parent, name, at);
  if (yaml.isNull(value)) return;
  if (value === null || !isMap(value)) throw yaml.error(value, `group "${name}" must be a mapping with hosts:, children: or vars:`);
  for (const entry of yaml.entries(value, `group "${name}"`)) {
    if (!GROUP_KEYS.has(entry.name)) {
      throw yaml.error(
        entry.keyNode,
        `unknown key "${entry.name}" in group "${name}": a group holds only hosts:, children: and vars:`,
        'indent host names under hosts: and variables under vars:',
      );
    }
    const body = entry.value;
    if (body === null || yaml.isNull(body)) continue;
    if (entry.name === 'vars') builder.groupVars(name, yaml.variables(body, `the vars of group "${name}"`));
    if (entry.name === 'children') {
      for (const child of yaml.entries(body, `the children of group "${name}"`)) readGroup(yaml, builder, child, name);
    }
    if (entry.name === 'hosts') {
      for (const host of yaml.entries(body, `the hosts of group "${name}"`)) readHost(yaml, builder, host, name);
    }
  }
}

function readHost(yaml: YamlText, builder: InventoryBuilder, { name: key, keyNode, value }: Entry, group: string): void {
  const { pattern, port } = splitPort(key);
  const at = yaml.where(keyNode);
  const layers: VarLayer[] = [];
  if (port !== undefined) layers.push(variableLayer([{ name: 'ansible_port', value: port, at }]));
  if (value !== null && !yaml.isNull(value)) layers.push(yaml.variables(value, `the variables of host "${key}"`));
  builder.hosts(pattern, group, at, layers);
}

/** A group_vars/ or host_vars/ file: one mapping of variables (empty is allowed). */
export function readVariablesFile(yaml: YamlText): VarLayer | undefined {
  const root = yaml.root;
  if (yaml.isNull(root)) return undefined;
  if (root === null || !isMap(root)) throw yaml.error(root, 'a variables file must be a mapping of variable names', 'write one "name: value" per line');
  return yaml.variables(root, 'the variables');
}

/**
 * True when the document is the JSON of a dynamic inventory (`--list`): a `_meta` key, or a group
 * whose hosts are a list (the YAML inventory writes them as a mapping).
 */
export function isListFormat(yaml: YamlText): boolean {
  const root = yaml.root;
  if (root === null || !isMap(root)) return false;
  return (root.items as Pair<unknown, unknown>[]).some((pair) => {
    const key = yaml.deref(pair.key);
    if (isScalar(key) && key.value === '_meta') return true;
    const value = yaml.deref(pair.value);
    if (isSeq(value)) return true;
    if (!isMap(value)) return false;
    return (value.items as Pair<unknown, unknown>[]).some((inner) => {
      const innerKey = yaml.deref(inner.key);
      return isScalar(innerKey) && (innerKey.value === 'hosts' || innerKey.value === 'children') && isSeq(yaml.deref(inner.value));
    });
  });
}

/**
 * The `--list` JSON of Ansible's dynamic inventory scripts and of `ansible-inventory --list`: each
 * group a list of hosts or `{hosts: [...], vars: {...}, children: [...]}`, and host variables in
 * `_meta.hostvars` (or, without `_meta`, from HOST_VARS, which runs the script's `--host NAME`).
 */
export function readListInventory(yaml: YamlText, builder: InventoryBuilder, hostVars?: (host: string) => YamlText): void {
  const root = yaml.root;
  if (root === null || !isMap(root)) throw yaml.error(root, 'the inventory JSON must be an object of groups', 'print {"group": {"hosts": [...]}, "_meta": {"hostvars": {}}}');
  let meta: Node | null = null;
  const named = new Set<string>();
  const addHost = (node: Node | null, group: string) => {
    for (const host of builder.hosts(yaml.text(node, 'a host'), group, yaml.where(node))) named.add(host);
  };
  for (const { name, keyNode, value } of yaml.entries(root, 'the inventory JSON')) {
    if (name === '_meta') {
      meta = value;
      continue;
    }
    const at = yaml.where(keyNode);
    builder.group(name, at);
    if (value === null || yaml.isNull(value)) continue;
    if (isSeq(value)) {
      for (const host of yaml.items(value, `the hosts of group "${name}"`)) addHost(host, name);
      continue;
    }
    for (const entry of yaml.entries(value, `group "${name}"`)) {
      if (entry.value === null || yaml.isNull(entry.value)) continue;
      if (entry.name === 'hosts') {
        for (const host of yaml.items(entry.value, `the hosts of group "${name}"`)) addHost(host, name);
      } else if (entry.name === 'children') {
        for (const child of yaml.items(entry.value, `the children of group "${name}"`)) builder.child(name, yaml.text(child, 'a group'), yaml.where(child));
      } else if (entry.name === 'vars') {
        builder.groupVars(name, yaml.variables(entry.value, `the vars of group "${name}"`));
      }
    }
  }
  readHostVars(yaml, builder, meta, named, hostVars);
}

function readHostVars(yaml: YamlText, builder: InventoryBuilder, meta: Node | null, named: Set<string>, hostVars?: (host: string) => YamlText): void {
  const perHost = meta === null || yaml.isNull(meta)
    ? undefined
    : yaml.entries(meta, '_meta').find((entry) => entry.name === 'hostvars')?.value;
  if (perHost === undefined && meta === null && hostVars !== undefined) {
    for (const host of named) {
      const layer = readVariablesFile(hostVars(host));
      if (layer !== undefined) builder.hostVars(host, layer, 'inventory');
    }
    return;
  }
  if (perHost === undefined || perHost === null || yaml.isNull(perHost)) return;
  for (const { name, keyNode, value } of yaml.entries(perHost, '_meta.hostvars')) {
    if (!builder.hasHost(name)) builder.hosts(name, 'all', yaml.where(keyNode));
    if (value !== null && !yaml.isNull(value)) builder.hostVars(name, yaml.variables(value, `the variables of host "${name}"`), 'inventory');
  }
}
