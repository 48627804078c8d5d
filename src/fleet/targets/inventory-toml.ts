/**
 * Ansible's TOML inventory, read as its `toml` inventory plugin reads it: top-level tables are
 * groups, each with `hosts` (a table of host names, `name:port` and ranges allowed, each with a
 * table of variables, often inline: `host2 = { ansible_port = 222 }`), `vars` (a table) and
 * `children` (a list of group names). Where Ansible warns and skips a key or a group it cannot
 * read, stapctl refuses it, as its YAML reader does: a typo there would lose hosts silently.
 * Every error and every variable names its `file:line:column`.
 */
import { parse, TomlDate, TomlError } from 'smol-toml';
import type { InventoryBuilder } from './inventory-model.js';
import { inventoryError, LOCATED_VARIABLES, variableLayer, type LocatedValue, type Location, type WrittenVariable } from './inventory-variables.js';
import { splitPort } from './inventory-yaml.js';
import { TomlPlaces, type TomlPath } from './toml-places.js';

type Table = Record<string, unknown>;

/** Far deeper than any inventory nests, far below what the recursive walks of a value could not take. */
const MAX_DEPTH = 64;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof TomlDate);
}

/** One TOML text with the places of its keys and values. */
class TomlText {
  readonly data: Table;
  private readonly places: TomlPlaces;

  constructor(
    readonly file: string,
    text: string,
  ) {
    try {
      // A key such as __proto__ would reach the prototype of the plain objects variables are merged into.
      this.data = parse(text, { unsafeKeyBehaviour: 'throw', maxDepth: MAX_DEPTH });
    } catch (error) {
      if (!(error instanceof TomlError)) throw error;
      const reason = error.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? error.message;
      throw inventoryError({ file, line: error.line, column: error.column }, `TOML syntax: ${reason}`, 'check the quoting and the brackets around this place');
    }
    // Dotted keys nest tables past the parser's own depth limit; the walks below recurse.
    if (depthOf(this.data) > MAX_DEPTH) throw inventoryError({ file }, `tables are nested more than ${MAX_DEPTH} levels deep`, 'no inventory needs that: check the dotted keys');
    this.places = new TomlPlaces(text);
  }

  keyAt(path: TomlPath): Location {
    return { file: this.file, ...this.places.key(path) };
  }

  valueAt(path: TomlPath): Location {
    return { file: this.file, ...this.places.value(path) };
  }

  /** The variables of the table at PATH, each at its value. */
  variables(table: Table, path: TomlPath): WrittenVariable[] {
    return Object.entries(table).map(([name, raw]) => {
      const value = plain(raw);
      return {
        name,
        value,
        at: this.valueAt([...path, name]),
        ...(LOCATED_VARIABLES.has(name) && { located: this.located([...path, name], value) }),
      };
    });
  }

  private located(path: TomlPath, value: unknown): LocatedValue {
    const positions: LocatedValue['positions'] = {};
    const walk = (current: unknown, at: TomlPath, name: string) => {
      const place = this.places.value(at);
      if (place !== undefined) positions[name] = place;
      const prefix = name === '' ? '' : `${name}.`;
      if (Array.isArray(current)) current.forEach((item, index) => walk(item, [...at, index], `${prefix}${index}`));
      if (!isTable(current)) return;
      for (const [key, item] of Object.entries(current)) {
        const keyPlace = this.places.key([...at, key]);
        if (keyPlace !== undefined) positions[`${prefix}${key}:key`] = keyPlace;
        walk(item, [...at, key], `${prefix}${key}`);
      }
    };
    walk(value, path, '');
    return { file: this.file, value, positions };
  }
}

/** How deep tables and arrays nest in VALUE, counted without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [current, depth] = item;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_DEPTH) break;
    const children = Array.isArray(current) ? current : isTable(current) ? Object.values(current) : [];
    for (const child of children) pending.push([child, depth + 1]);
  }
  return deepest;
}

/** TOML values as the other readers give them: dates as their text. */
function plain(value: unknown): unknown {
  if (value instanceof TomlDate) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (isTable(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  return value;
}

export function readTomlInventory(file: string, text: string, builder: InventoryBuilder): void {
  const toml = new TomlText(file, text);
  const groups = Object.entries(toml.data);
  if (groups.length === 0) throw inventoryError({ file }, 'the TOML inventory defines no group', 'write [all.hosts] and the hosts below it');
  if ('plugin' in toml.data) {
    throw inventoryError(toml.keyAt(['plugin']), 'this is an inventory plugin configuration, not a TOML inventory', 'stapctl reads inventories, not plugin configurations');
  }
  for (const [name, body] of groups) readGroup(toml, builder, name, body);
}

function readGroup(toml: TomlText, builder: InventoryBuilder, name: string, body: unknown): void {
  const at = toml.keyAt([name]);
  if (!isTable(body)) throw inventoryError(at, `group "${name}" must be a table with hosts, children or vars`, `write [${name}.hosts]`);
  builder.group(name, at);
  for (const [key, value] of Object.entries(body)) {
    const path = [name, key];
    if (key === 'vars') {
      if (!isTable(value)) throw inventoryError(toml.valueAt(path), `the vars of group "${name}" must be a table`, `write [${name}.vars] and one name = value per line`);
      builder.groupVars(name, variableLayer(toml.variables(value, path)));
    } else if (key === 'children') {
      if (!Array.isArray(value)) throw inventoryError(toml.valueAt(path), `the children of group "${name}" must be a list of group names`, 'write children = ["a", "b"]');
      value.forEach((child, index) => {
        const childAt = toml.valueAt([...path, index]);
        if (typeof child !== 'string') throw inventoryError(childAt, `a child of group "${name}" must be a group name`);
        builder.child(name, child, childAt);
      });
    } else if (key === 'hosts') {
      if (!isTable(value)) throw inventoryError(toml.valueAt(path), `the hosts of group "${name}" must be a table`, `write [${name}.hosts] and one host = {} per line`);
      for (const [host, variables] of Object.entries(value)) readHost(toml, builder, name, host, variables);
    } else {
      throw inventoryError(toml.keyAt(path), `unknown key "${key}" in group "${name}": a group holds only hosts, children and vars`, `write the hosts under [${name}.hosts] and variables under [${name}.vars]`);
    }
  }
}

function readHost(toml: TomlText, builder: InventoryBuilder, group: string, key: string, variables: unknown): void {
  const path = [group, 'hosts', key];
  const at = toml.keyAt(path);
  if (!isTable(variables)) throw inventoryError(toml.valueAt(path), `the variables of host "${key}" must be a table`, `write ${key} = {} for a host without variables`);
  const { pattern, port } = splitPort(key);
  const written = toml.variables(variables, path);
  if (port !== undefined) written.unshift({ name: 'ansible_port', value: Number(port), at });
  builder.hosts(pattern, group, at, written.length === 0 ? [] : [variableLayer(written)]);
}
