/**
 * What inventory variables mean to stapctl: the connection settings it reads (checked where they
 * are written), the Ansible variables it does not honour (a warning each), and a variable's place.
 * Every inventory format (YAML, INI, `--list` JSON, group_vars/host_vars files) builds the same
 * layers, so the same value means the same thing wherever it is written.
 */
import * as z from 'zod/mini';
import { StapctlError } from '../../errors.js';
import { isPort, parsePort, PORT_RANGE } from '../../port.js';

/** Where a value is written. Script output has no lines: only the command is named. */
export interface Location {
  file: string;
  line?: number;
  column?: number;
}

/** A variable's value with the `line:column` of each of its parts, by path (`0.releases.1`). */
export interface LocatedValue {
  file: string;
  value: unknown;
  /** `path` for a value, `path:key` for the key that holds it; '' is the variable's own value. */
  positions: Record<string, { line: number; column: number }>;
}

/** Variables whose definitions a host keeps one by one (with the place of each part), for a later check and merge. */
export const LOCATED_VARIABLES: ReadonlySet<string> = new Set(['stap_servers']);

export function inventoryError(at: Location | undefined, message: string, hint?: string): StapctlError {
  return new StapctlError('INVENTORY_INVALID', message, { ...at, ...(hint !== undefined && { hint }) });
}

const TRUE_WORDS = new Set(['y', 'yes', 'on', '1', 'true', 't']);
const FALSE_WORDS = new Set(['n', 'no', 'off', '0', 'false', 'f']);

const port = z.union([
  z.number().check(z.refine(isPort)),
  z.pipe(z.string().check(z.refine((text) => parsePort(text) !== undefined)), z.transform(Number)),
]);
// Ansible's boolean(): yes/no, on/off, true/false, 1/0, any case.
const flag = z.union([
  z.boolean(),
  z.pipe(z.literal(0), z.transform(() => false)),
  z.pipe(z.literal(1), z.transform(() => true)),
  z.pipe(
    z.string().check(z.refine((word) => TRUE_WORDS.has(word.toLowerCase()) || FALSE_WORDS.has(word.toLowerCase()))),
    z.transform((word) => TRUE_WORDS.has(word.toLowerCase())),
  ),
]);
const word = z.string().check(z.regex(/^\S+$/));
const path = z.string().check(z.minLength(1));
const unixUser = z.string().check(z.regex(/^[a-z_][a-z0-9_-]*\$?$/i));
const absolutePath = z.string().check(z.startsWith('/'));
const priority = z.union([z.int(), z.pipe(z.string().check(z.regex(/^-?\d+$/)), z.transform(Number))]);

const ADDRESS = 'a host name or address';
const PORT = PORT_RANGE;
const USER = 'a user name';
const FILE = 'a file path';

/** Each variable stapctl reads, with what it must be. */
const KNOWN = {
  ansible_host: [word, ADDRESS],
  ansible_ssh_host: [word, ADDRESS],
  host: [word, ADDRESS],
  ansible_port: [port, PORT],
  ansible_ssh_port: [port, PORT],
  port: [port, PORT],
  ansible_user: [word, USER],
  ansible_ssh_user: [word, USER],
  user: [word, USER],
  ansible_ssh_private_key_file: [path, FILE],
  ansible_private_key_file: [path, FILE],
  identity: [path, FILE],
  ansible_become: [flag, 'yes/no or true/false'],
  become: [flag, 'yes/no or true/false'],
  stapctl_server_user: [unixUser, USER],
  stapctl_root: [absolutePath, 'an absolute directory path'],
  ansible_group_priority: [priority, 'an integer'],
} as const satisfies Record<string, readonly [z.ZodMiniType, string]>;

export type KnownName = keyof typeof KNOWN;

function isKnown(name: string): name is KnownName {
  return Object.hasOwn(KNOWN, name);
}

/** One variable as written: its name, value, the place of the value and, for LOCATED_VARIABLES, its parts. */
export interface WrittenVariable {
  name: string;
  value: unknown;
  at: Location;
  located?: LocatedValue;
}

/** One block of variables (a group's vars:, a host's line, a group_vars file): raw values, checked settings, places. */
export interface VarLayer {
  raw: Record<string, unknown>;
  known: Partial<Record<KnownName, unknown>>;
  at: Record<string, Location>;
  located: Record<string, LocatedValue>;
}

/** Checks the settings among VARIABLES where they are written; later names in the list win. */
export function variableLayer(variables: readonly WrittenVariable[]): VarLayer {
  const layer: VarLayer = { raw: {}, known: {}, at: {}, located: {} };
  for (const { name, value, at, located } of variables) {
    layer.raw[name] = value;
    layer.at[name] = at;
    if (located !== undefined) layer.located[name] = located;
    if (!isKnown(name)) continue;
    if (typeof value === 'string' && value.includes('{{')) {
      throw inventoryError(at, `${name} uses a Jinja template, which stapctl does not evaluate`, 'write the value itself');
    }
    const [schema, expected] = KNOWN[name];
    const checked = schema.safeParse(value);
    if (!checked.success) throw inventoryError(at, `${name} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`);
    layer.known[name] = checked.data;
  }
  return layer;
}

/** The highest layer that sets NAME, with the value it sets. */
function highest(layers: readonly VarLayer[], name: KnownName): { index: number; value: unknown } | undefined {
  for (let index = layers.length - 1; index >= 0; index -= 1) {
    const value = (layers[index] as VarLayer).known[name];
    if (value !== undefined) return { index, value };
  }
  return undefined;
}

/**
 * A setting as Ansible decides it: each variable takes its highest-precedence value first, then
 * the first of ANSIBLE_NAMES that is set anywhere wins (Ansible prefers ansible_ssh_user to
 * ansible_user wherever each is set). stapctl's own short names (user, port, ...) count only when
 * set at a higher precedence than the Ansible name.
 */
function setting(layers: readonly VarLayer[], ansibleNames: readonly KnownName[], shortName?: KnownName): unknown {
  const fromAnsible = ansibleNames.map((name) => highest(layers, name)).find((found) => found !== undefined);
  const fromShort = shortName === undefined ? undefined : highest(layers, shortName);
  if (fromShort !== undefined && (fromAnsible === undefined || fromShort.index > fromAnsible.index)) return fromShort.value;
  return fromAnsible?.value;
}

export function groupPriority(layers: readonly VarLayer[]): number {
  return (setting(layers, ['ansible_group_priority']) as number | undefined) ?? 1;
}

/** The connection settings LAYERS (lowest precedence first) give a host. */
export interface HostSettings {
  /** ansible_host (ansible_ssh_host, host). */
  address?: string;
  /** ansible_port (ansible_ssh_port, port). */
  port?: number;
  /** ansible_user (ansible_ssh_user, user). */
  user?: string;
  /** ansible_ssh_private_key_file (ansible_private_key_file, identity). */
  identityFile?: string;
  /** become or ansible_become: run the agent through `sudo -n`. */
  become: boolean;
  /** stapctl_server_user: the user the compile servers run as on this host. */
  serverUser?: string;
  /** stapctl_root: the agent's --root, so several simulated hosts can share one machine. */
  root?: string;
}

export function hostSettings(layers: readonly VarLayer[]): HostSettings {
  const text = (names: KnownName[], shortName?: KnownName) => setting(layers, names, shortName) as string | undefined;
  const address = text(['ansible_ssh_host', 'ansible_host'], 'host');
  const port = setting(layers, ['ansible_ssh_port', 'ansible_port'], 'port') as number | undefined;
  const user = text(['ansible_ssh_user', 'ansible_user'], 'user');
  const identityFile = text(['ansible_ssh_private_key_file', 'ansible_private_key_file'], 'identity');
  const serverUser = text(['stapctl_server_user']);
  const root = text(['stapctl_root']);
  return {
    ...(address !== undefined && { address }),
    ...(port !== undefined && { port }),
    ...(user !== undefined && { user }),
    ...(identityFile !== undefined && { identityFile }),
    become: (setting(layers, ['ansible_become'], 'become') as boolean | undefined) ?? false,
    ...(serverUser !== undefined && { serverUser }),
    ...(root !== undefined && { root }),
  };
}

/** Ansible variables that do not change how a host is reached, so ignoring them loses nothing. */
const NOT_ABOUT_CONNECTING: ReadonlySet<string> = new Set(['ansible_python_interpreter', 'ansible_group_priority']);

/** Values stapctl does what Ansible would do with: sudo to root over ssh. */
const ACCEPTED_VALUES: Readonly<Record<string, readonly string[]>> = {
  ansible_connection: ['ssh', 'smart', 'paramiko'],
  ansible_become_user: ['root'],
  become_user: ['root'],
  ansible_become_method: ['sudo'],
  become_method: ['sudo'],
};

/**
 * One warning for each variable of VARS that Ansible would use to reach the host and stapctl does
 * not honour (ansible_ssh_common_args, a become_user other than root, ...), so that a host is
 * never silently reached otherwise than the inventory says.
 */
export function connectionWarnings(host: string, vars: Record<string, unknown>, at: Record<string, Location>): string[] {
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(vars)) {
    const accepted = ACCEPTED_VALUES[name];
    const ignored = accepted !== undefined
      ? !accepted.includes(String(value))
      : name.startsWith('ansible_') && !isKnown(name) && !NOT_ABOUT_CONNECTING.has(name);
    if (!ignored) continue;
    const place = at[name];
    const where = place === undefined ? '' : ` (${[place.file, place.line, place.column].filter((part) => part !== undefined).join(':')})`;
    warnings.push(`${host}: ${name}=${JSON.stringify(value)} is not honoured by stapctl${where}`);
  }
  return warnings;
}
