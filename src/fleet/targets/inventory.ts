/**
 * Ansible's YAML inventory (`all:` with `hosts:`, `children:` and `vars:`), so that existing
 * inventories work unchanged. Parsed from the YAML syntax tree rather than from plain objects so
 * that every error names the `file:line:column` of the node at fault.
 *
 * Variable precedence, lowest first, as Ansible resolves it: the groups of a host sorted by depth
 * below `all` (so `all` is lowest and a child overrides its parents), then by
 * `ansible_group_priority`, then by name; then the host's own variables, later definitions
 * overriding earlier ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { z } from 'zod';
import { isMissingFile, StapctlError } from '../../errors.js';
import { isPort, parsePort, PORT_RANGE } from '../../port.js';
import { expandRange, HostBudget } from './host-range.js';

export interface HostEntry {
  name: string;
  /** ansible_host or host; the name when neither is set. */
  address: string;
  /** ansible_port or port. */
  port?: number;
  /** ansible_user or user. */
  user?: string;
  /** ansible_ssh_private_key_file or identity. */
  identityFile?: string;
  /** become or ansible_become: run the agent through `sudo -n`. */
  become: boolean;
  /** stapctl_server_user: the user the compile servers run as on this host. */
  serverUser?: string;
  /** stapctl_root: the agent's --root, so several simulated hosts can share one machine. */
  root?: string;
  /** Every group the host is in, directly or through a child group, except `all`; lowest precedence first. */
  groups: string[];
  /** All variables after precedence, including the ones stapctl does not use. */
  vars: Record<string, unknown>;
  /**
   * Variables that are merged rather than overridden (stap_servers): every definition that
   * applies to the host, lowest precedence first, each with where its parts are in the file.
   */
  located?: Record<string, LocatedValue[]>;
}

/** A variable's value with the `line:column` of each of its parts, by path (`0.releases.1`). */
export interface LocatedValue {
  file: string;
  value: unknown;
  /** `path` for a value, `path:key` for the key that holds it; '' is the variable's own value. */
  positions: Record<string, { line: number; column: number }>;
}

/** Variables whose definitions the host keeps one by one, for a later check and merge. */
const LOCATED_VARIABLES: ReadonlySet<string> = new Set(['stap_servers']);

export interface InventoryGroup {
  name: string;
  /** Direct and descendant hosts, in the order they first appear in the file. */
  hosts: string[];
  /** Direct child groups, in the order they appear in the file. */
  children: string[];
}

export interface Inventory {
  file?: string;
  hosts: Map<string, HostEntry>;
  groups: Map<string, InventoryGroup>;
}

/** What `stapctl -H SPEC hosts` shows for one host, without connecting to it. */
export interface HostDescription {
  name: string;
  address: string;
  port?: number;
  user?: string;
  identity?: string;
  become: boolean;
  serverUser?: string;
  root?: string;
  groups: string[];
}

export function describeHost(host: HostEntry): HostDescription {
  return {
    name: host.name,
    address: host.address,
    ...(host.port !== undefined && { port: host.port }),
    ...(host.user !== undefined && { user: host.user }),
    ...(host.identityFile !== undefined && { identity: host.identityFile }),
    become: host.become,
    ...(host.serverUser !== undefined && { serverUser: host.serverUser }),
    ...(host.root !== undefined && { root: host.root }),
    groups: [...host.groups],
  };
}

export function emptyInventory(file?: string): Inventory {
  return {
    ...(file !== undefined && { file }),
    hosts: new Map(),
    groups: new Map([
      ['all', { name: 'all', hosts: [], children: ['ungrouped'] }],
      ['ungrouped', { name: 'ungrouped', hosts: [], children: [] }],
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// Variables stapctl understands. Anything else is kept in `vars` and otherwise ignored.

const TRUE_WORDS = new Set(['y', 'yes', 'on', '1', 'true', 't']);
const FALSE_WORDS = new Set(['n', 'no', 'off', '0', 'false', 'f']);

const port = z.union([
  z.number().refine(isPort),
  z.string().refine((text) => parsePort(text) !== undefined).transform(Number),
]);
// Ansible's boolean(): yes/no, on/off, true/false, 1/0, any case.
const flag = z.union([
  z.boolean(),
  z.literal(0).transform(() => false),
  z.literal(1).transform(() => true),
  z
    .string()
    .refine((word) => TRUE_WORDS.has(word.toLowerCase()) || FALSE_WORDS.has(word.toLowerCase()))
    .transform((word) => TRUE_WORDS.has(word.toLowerCase())),
]);
const word = z.string().regex(/^\S+$/);
const path = z.string().min(1);
const unixUser = z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/i);
const absolutePath = z.string().startsWith('/');

const knownVariables = {
  ansible_host: word,
  host: word,
  ansible_port: port,
  port,
  ansible_user: word,
  user: word,
  ansible_ssh_private_key_file: path,
  identity: path,
  ansible_become: flag,
  become: flag,
  stapctl_server_user: unixUser,
  stapctl_root: absolutePath,
  ansible_group_priority: z.number().int(),
} as const;

type KnownName = keyof typeof knownVariables;

const EXPECTED: Record<KnownName, string> = {
  ansible_host: 'a host name or address',
  host: 'a host name or address',
  ansible_port: PORT_RANGE,
  port: PORT_RANGE,
  ansible_user: 'a user name',
  user: 'a user name',
  ansible_ssh_private_key_file: 'a file path',
  identity: 'a file path',
  ansible_become: 'yes/no or true/false',
  become: 'yes/no or true/false',
  stapctl_server_user: 'a user name',
  stapctl_root: 'an absolute directory path',
  ansible_group_priority: 'an integer',
};

const variablesSchema = z.looseObject(
  Object.fromEntries(Object.entries(knownVariables).map(([name, schema]) => [name, schema.optional()])),
);

function isKnown(name: string): name is KnownName {
  return Object.hasOwn(knownVariables, name);
}

/** One `vars:` block or one host's variables: raw values for `vars`, checked values for settings. */
interface VarLayer {
  raw: Record<string, unknown>;
  known: Partial<Record<KnownName, unknown>>;
  located?: Record<string, LocatedValue>;
}

// ---------------------------------------------------------------------------------------------
// Walking the YAML tree

/** Ansible accepts `name:port` keys; colons inside brackets belong to a range, and IPv6 holds several. */
function splitPort(key: string): { pattern: string; port?: string } {
  const outsideBrackets = key.replace(/\[[^\]]*\]/g, (range) => '_'.repeat(range.length));
  const match = /^([^:]+):(\d+)$/.exec(outsideBrackets);
  if (match === null) return { pattern: key };
  return { pattern: key.slice(0, match[1]?.length), port: match[2] };
}

interface Entry {
  name: string;
  keyNode: Node;
  value: Node | null;
}

interface GroupDraft {
  name: string;
  keyNode: Node | null;
  directHosts: Set<string>;
  children: string[];
  /** Where each child was named under this group, for the error that refuses a loop. */
  childNodes: Map<string, Node>;
  parents: Set<string>;
  layers: VarLayer[];
}

interface HostDraft {
  name: string;
  keyNode: Node;
  layers: VarLayer[];
  directGroups: Set<string>;
}

const GROUP_NAME = /^[A-Za-z0-9_.-]+$/;
const HOST_NAME = /^[A-Za-z0-9._:%-]+$/;
const GROUP_KEYS = new Set(['hosts', 'children', 'vars']);

/**
 * How many entries `<<` merge keys may copy in one file. Each mapping's entries are computed once,
 * so merges are cheap; the count stops a file built to make them expensive anyway.
 */
const MAX_MERGED_ENTRIES = 10_000;

class InventoryParser {
  private readonly groups = new Map<string, GroupDraft>();
  private readonly hosts = new Map<string, HostDraft>();
  private readonly entriesOf = new WeakMap<Node, Entry[]>();
  private mergedEntries = 0;

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document,
    private readonly budget: HostBudget,
  ) {}

  error(node: Node | null | undefined, message: string, hint?: string): StapctlError {
    const offset = node?.range?.[0];
    const at = offset === undefined ? {} : this.position(offset);
    return new StapctlError('INVENTORY_INVALID', message, { file: this.file, ...at, ...(hint !== undefined && { hint }) });
  }

  position(offset: number): { line: number; column: number } {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  lineOf(node: Node): number | undefined {
    const offset = node.range?.[0];
    return offset === undefined ? undefined : this.position(offset).line;
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

  mapEntries(node: Node, what: string): Entry[] {
    if (!isMap(node)) {
      throw this.error(node, `${what} must be a mapping`, 'write one "name:" per line, indented below, not a list');
    }
    const explicit = new Map<string, Entry>();
    const merged = new Map<string, Entry>();
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const keyNode = this.deref(pair.key);
      const value = this.deref(pair.value);
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
        const sources = isSeq(value) ? value.items : [value];
        for (const source of sources) {
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
        throw this.error(
          keyNode,
          `duplicate key "${name}" in ${what} (first at line ${this.lineOf(previous.keyNode)})`,
          'merge the two entries into one',
        );
      }
      explicit.set(name, { name, keyNode: keyNode ?? node, value });
    }
    return [...[...merged.values()].filter((entry) => !explicit.has(entry.name)), ...explicit.values()];
  }

  keyName(keyNode: Node | null, pair: Pair<unknown, unknown>, what: string): string {
    if (!isScalar(keyNode)) throw this.error(keyNode ?? this.deref(pair.value), `keys in ${what} must be plain names`);
    // The source text keeps `010` and `1.10` as written instead of as the numbers YAML reads.
    const name = typeof keyNode.value === 'string' ? keyNode.value : (keyNode.source ?? String(keyNode.value));
    if (keyNode.value === null || name === '') throw this.error(keyNode, `empty key in ${what}`);
    return name;
  }

  parse(root: Node | null): void {
    this.group('all', null);
    if (this.isNull(root)) return;
    if (root === null || !isMap(root)) {
      throw this.error(root, 'the top level must be a mapping of group names', 'start the file with "all:"');
    }
    for (const entry of this.entries(root, 'the top level')) {
      this.defineGroup(entry, entry.name === 'all' ? undefined : 'all');
    }
  }

  group(name: string, keyNode: Node | null): GroupDraft {
    let draft = this.groups.get(name);
    if (draft === undefined) {
      draft = { name, keyNode, directHosts: new Set(), children: [], childNodes: new Map(), parents: new Set(), layers: [] };
      this.groups.set(name, draft);
    }
    draft.keyNode ??= keyNode;
    return draft;
  }

  defineGroup({ name, keyNode, value }: Entry, parent: string | undefined): void {
    if (!GROUP_NAME.test(name)) {
      throw this.error(keyNode, `group name "${name}" may only hold letters, digits, "_", "-" and "."`);
    }
    if (parent !== undefined && name === 'all') {
      throw this.error(keyNode, 'group "all" cannot be a child group', 'every group is already inside all');
    }
    const group = this.group(name, keyNode);
    if (parent !== undefined) {
      if (name === parent) throw this.error(keyNode, `group "${name}" cannot be a child of itself`);
      const parentDraft = this.group(parent, null);
      if (!parentDraft.childNodes.has(name)) {
        parentDraft.children.push(name);
        parentDraft.childNodes.set(name, keyNode);
      }
      group.parents.add(parent);
    }
    if (this.isNull(value)) return;
    if (value === null || !isMap(value)) {
      throw this.error(value, `group "${name}" must be a mapping with hosts:, children: or vars:`);
    }
    for (const entry of this.entries(value, `group "${name}"`)) {
      if (!GROUP_KEYS.has(entry.name)) {
        throw this.error(
          entry.keyNode,
          `unknown key "${entry.name}" in group "${name}": a group holds only hosts:, children: and vars:`,
          'indent host names under hosts: and variables under vars:',
        );
      }
      const body = entry.value;
      if (body === null || this.isNull(body)) continue;
      if (entry.name === 'vars') group.layers.push(this.variables(body, `the vars of group "${name}"`));
      if (entry.name === 'children') {
        for (const child of this.entries(body, `the children of group "${name}"`)) this.defineGroup(child, name);
      }
      if (entry.name === 'hosts') {
        for (const host of this.entries(body, `the hosts of group "${name}"`)) this.defineHosts(host, group);
      }
    }
  }

  defineHosts({ name: key, keyNode, value }: Entry, group: GroupDraft): void {
    const { pattern, port } = splitPort(key);
    let names: string[];
    try {
      names = expandRange(pattern, this.budget);
    } catch (error) {
      const reason = error instanceof StapctlError ? error.message : String(error);
      throw this.error(keyNode, reason, error instanceof StapctlError ? error.hint : undefined);
    }
    const layers: VarLayer[] = [];
    if (port !== undefined) layers.push(this.checkedLayer({ ansible_port: port }, () => keyNode));
    if (value !== null && !this.isNull(value)) layers.push(this.variables(value, `the variables of host "${key}"`));
    for (const name of names) {
      const bad = [...name].find((char) => !HOST_NAME.test(char));
      if (bad !== undefined) {
        throw this.error(keyNode, `host name "${name}" holds "${bad}"`, 'host names hold letters, digits, ".", "-", "_" and ":"');
      }
      let host = this.hosts.get(name);
      if (host === undefined) {
        host = { name, keyNode, layers: [], directGroups: new Set() };
        this.hosts.set(name, host);
      }
      host.layers.push(...layers);
      host.directGroups.add(group.name);
      group.directHosts.add(name);
    }
  }

  variables(node: Node, what: string): VarLayer {
    const entries = this.entries(node, what);
    const raw: Record<string, unknown> = {};
    const nodes = new Map<string, Node>();
    const located: Record<string, LocatedValue> = {};
    for (const entry of entries) {
      raw[entry.name] = entry.value === null ? null : this.toJS(entry.value);
      nodes.set(entry.name, entry.value ?? entry.keyNode);
      if (LOCATED_VARIABLES.has(entry.name)) located[entry.name] = this.located(entry.value ?? entry.keyNode, raw[entry.name]);
    }
    return { ...this.checkedLayer(raw, (name) => nodes.get(name) ?? node), located };
  }

  located(node: Node, value: unknown): LocatedValue {
    const positions: LocatedValue['positions'] = {};
    const at = (current: Node | null, path: string) => {
      const offset = current?.range?.[0];
      if (offset !== undefined) positions[path] = this.position(offset);
    };
    const walk = (current: Node | null, path: string) => {
      at(current, path);
      const prefix = path === '' ? '' : `${path}.`;
      if (isSeq(current)) current.items.forEach((item, index) => walk(this.deref(item), `${prefix}${index}`));
      if (!isMap(current)) return;
      for (const pair of current.items as Pair<unknown, unknown>[]) {
        const key = this.deref(pair.key);
        if (!isScalar(key)) continue;
        at(key, `${prefix}${String(key.value)}:key`);
        walk(this.deref(pair.value), `${prefix}${String(key.value)}`);
      }
    };
    walk(node, '');
    return { file: this.file, value, positions };
  }

  /** A variable's value as plain data; the yaml library's alias limit stops an alias bomb here. */
  toJS(node: Node): unknown {
    try {
      return node.toJS(this.doc);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      throw this.error(node, `this value cannot be read: ${error.message}`, 'use fewer aliases (*name) in variables');
    }
  }

  checkedLayer(raw: Record<string, unknown>, nodeOf: (name: string) => Node): VarLayer {
    for (const [name, value] of Object.entries(raw)) {
      if (isKnown(name) && typeof value === 'string' && value.includes('{{')) {
        throw this.error(nodeOf(name), `${name} uses a Jinja template, which stapctl does not evaluate`, 'write the value itself');
      }
    }
    const checked = variablesSchema.safeParse(raw);
    if (!checked.success) {
      const name = String(checked.error.issues[0]?.path[0]);
      const expected = isKnown(name) ? EXPECTED[name] : 'valid';
      throw this.error(nodeOf(name), `${name} must be ${expected}, got ${JSON.stringify(raw[name]) ?? 'nothing'}`);
    }
    const known: Partial<Record<KnownName, unknown>> = {};
    for (const [name, value] of Object.entries(checked.data)) {
      if (isKnown(name) && value !== undefined) known[name] = value;
    }
    return { raw, known };
  }

  build(): Inventory {
    for (const host of this.hosts.values()) {
      const group = this.groups.get(host.name);
      if (group !== undefined) {
        const groupLine = group.keyNode === null ? undefined : this.lineOf(group.keyNode);
        throw this.error(
          host.keyNode,
          `host "${host.name}" has the same name as a group${groupLine === undefined ? '' : ` (line ${groupLine})`}`,
          'rename one of them: -H could not tell them apart',
        );
      }
    }
    const ungrouped = this.group('ungrouped', null);
    if (!this.groups.get('all')?.children.includes('ungrouped')) this.groups.get('all')?.children.push('ungrouped');
    ungrouped.parents.add('all');
    for (const draft of this.groups.values()) {
      if (draft.name !== 'all' && draft.parents.size === 0) draft.parents.add('all');
    }
    const depth = this.depths(this.topologicalOrder());
    const priorities = new Map<string, number>();
    for (const draft of this.groups.values()) {
      const set = draft.layers.findLast((layer) => layer.known.ansible_group_priority !== undefined);
      priorities.set(draft.name, (set?.known.ansible_group_priority as number | undefined) ?? 1);
    }
    const priority = (name: string) => priorities.get(name) ?? 1;

    // Hosts listed in the same groups share one walk up the ancestry.
    const byDirectGroups = new Map<string, string[]>();
    const memberships = new Map<string, string[]>();
    for (const host of this.hosts.values()) {
      const direct = [...host.directGroups].filter((name) => name !== 'all');
      const key = direct.join('\n');
      let sorted = byDirectGroups.get(key);
      if (sorted === undefined) {
        sorted = [...this.ancestry(direct.length === 0 ? ['ungrouped'] : direct)].sort(
          (a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || priority(a) - priority(b) || a.localeCompare(b),
        );
        byDirectGroups.set(key, sorted);
      }
      memberships.set(host.name, sorted);
    }

    const hosts = new Map<string, HostEntry>();
    for (const host of this.hosts.values()) {
      const groups = memberships.get(host.name) ?? [];
      const layers = [...groups.flatMap((name) => this.groups.get(name)?.layers ?? []), ...host.layers];
      hosts.set(host.name, hostEntry(host.name, groups, layers));
    }
    const groups = new Map<string, InventoryGroup>();
    for (const draft of this.groups.values()) groups.set(draft.name, { name: draft.name, hosts: [], children: [...draft.children] });
    for (const [host, names] of memberships) for (const name of names) groups.get(name)?.hosts.push(host);
    return { file: this.file, hosts, groups };
  }

  /** GROUPS, every group above them, and `all`: each group visited once. */
  ancestry(groups: string[]): Set<string> {
    const found = new Set<string>(['all']);
    const pending = [...groups];
    for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
      if (found.has(name)) continue;
      found.add(name);
      pending.push(...(this.groups.get(name)?.parents ?? []));
    }
    return found;
  }

  /**
   * The groups with every parent before its children, from one depth-first walk in which each
   * group and each parent-child link is visited once. A group that is its own ancestor is refused,
   * naming the child entry that closes the loop.
   */
  topologicalOrder(): string[] {
    const finished: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    for (const root of this.groups.keys()) {
      if (state.has(root)) continue;
      const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
      state.set(root, 'open');
      while (stack.length > 0) {
        const top = stack[stack.length - 1] as { name: string; next: number };
        const draft = this.groups.get(top.name);
        const child = draft?.children[top.next];
        if (draft === undefined || child === undefined) {
          state.set(top.name, 'done');
          finished.push(top.name);
          stack.pop();
          continue;
        }
        top.next += 1;
        if (state.get(child) === 'open') {
          throw this.error(
            draft.childNodes.get(child) ?? null,
            `group "${child}" cannot be a child of "${top.name}": "${top.name}" is inside "${child}"`,
            'remove one of the two children: entries',
          );
        }
        if (!state.has(child)) {
          state.set(child, 'open');
          stack.push({ name: child, next: 0 });
        }
      }
    }
    return finished.reverse();
  }

  /** Ansible's depth: the longest path from `all`, so a child always sorts after every parent. */
  depths(order: string[]): Map<string, number> {
    const depth = new Map<string, number>();
    for (const name of order) {
      let value = 0;
      for (const parent of this.groups.get(name)?.parents ?? []) value = Math.max(value, (depth.get(parent) ?? 0) + 1);
      depth.set(name, value);
    }
    return depth;
  }
}

/** The setting from the highest layer that sets any of its names; `ansible_*` wins within a layer. */
function setting(layers: VarLayer[], names: KnownName[]): unknown {
  for (const layer of [...layers].reverse()) {
    for (const name of names) if (layer.known[name] !== undefined) return layer.known[name];
  }
  return undefined;
}

function locatedDefinitions(layers: VarLayer[]): Record<string, LocatedValue[]> {
  const definitions: Record<string, LocatedValue[]> = {};
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer.located ?? {})) (definitions[name] ??= []).push(value);
  }
  return definitions;
}

function hostEntry(name: string, groups: string[], layers: VarLayer[]): HostEntry {
  const text = (names: KnownName[]) => setting(layers, names) as string | undefined;
  const port = setting(layers, ['ansible_port', 'port']) as number | undefined;
  const user = text(['ansible_user', 'user']);
  const identityFile = text(['ansible_ssh_private_key_file', 'identity']);
  const serverUser = text(['stapctl_server_user']);
  const root = text(['stapctl_root']);
  return {
    name,
    address: text(['ansible_host', 'host']) ?? name,
    ...(port !== undefined && { port }),
    ...(user !== undefined && { user }),
    ...(identityFile !== undefined && { identityFile }),
    become: (setting(layers, ['ansible_become', 'become']) as boolean | undefined) ?? false,
    ...(serverUser !== undefined && { serverUser }),
    ...(root !== undefined && { root }),
    groups: groups.filter((group) => group !== 'all'),
    vars: Object.assign({}, ...layers.map((layer) => layer.raw)) as Record<string, unknown>,
    ...(layers.some((layer) => layer.located !== undefined && Object.keys(layer.located).length > 0) && { located: locatedDefinitions(layers) }),
  };
}

export function parseInventory(text: string, file: string, budget = new HostBudget()): Inventory {
  const lines = new LineCounter();
  // YAML 1.1 and merge keys, because Ansible reads inventories with PyYAML: `become: yes` is true.
  const doc = parseDocument(text, { lineCounter: lines, version: '1.1', merge: true, prettyErrors: false, uniqueKeys: false });
  const parser = new InventoryParser(file, lines, doc, budget);
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw new StapctlError('INVENTORY_INVALID', `YAML syntax: ${syntax.message}`, {
      file,
      ...parser.position(syntax.pos[0]),
      hint: 'check the indentation and the quoting around this place',
    });
  }
  parser.parse(parser.deref(doc.contents));
  return parser.build();
}

export function loadInventory(path: string, budget = new HostBudget()): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (isMissingFile(error)) {
      throw new StapctlError('INVENTORY_NOT_FOUND', `inventory ${path} does not exist`, {
        file: path,
        hint: 'pass --inventory FILE, or copy inventory.example.yaml to ./inventory.yaml',
      });
    }
    throw new StapctlError('INVENTORY_INVALID', `cannot read inventory ${path}: ${code ?? String(error)}`, {
      file: path,
      hint: code === 'EISDIR' ? 'name the YAML file, not its directory' : 'check the file permissions',
      cause: error,
    });
  }
  return parseInventory(text, path, budget);
}

export interface DefaultInventoryOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Replaceable so tests need not create /etc/stapctl. */
  exists?: (path: string) => boolean;
}

/**
 * The inventory to use without --inventory: $STAPCTL_INVENTORY (which must exist when set), then
 * ./inventory.yaml, ~/.config/stapctl/inventory.yaml, /etc/stapctl/inventory.yaml.
 */
export function findDefaultInventory({ env, cwd, home, exists = existsSync }: DefaultInventoryOptions): string | undefined {
  const fromEnv = env.STAPCTL_INVENTORY;
  if (fromEnv !== undefined && fromEnv !== '') {
    const path = isAbsolute(fromEnv) ? fromEnv : resolve(cwd, fromEnv);
    if (!exists(path)) {
      throw new StapctlError('INVENTORY_NOT_FOUND', `STAPCTL_INVENTORY names ${path}, which does not exist`, {
        file: path,
        hint: 'fix or unset STAPCTL_INVENTORY',
      });
    }
    return path;
  }
  const candidates = [
    join(cwd, 'inventory.yaml'),
    join(home, '.config', 'stapctl', 'inventory.yaml'),
    '/etc/stapctl/inventory.yaml',
  ];
  return candidates.find((candidate) => exists(candidate));
}
