/**
 * Inventory sources as `ansible -i` takes them: a YAML or INI file, the `--list` JSON of a dynamic
 * inventory (an executable, or its saved output such as `ansible-inventory --list`), a directory of
 * such sources, each with the group_vars/ and host_vars/ beside it, or a host list (`h1,h2,`). Several sources merge into one
 * inventory, later ones winning, as several `-i` do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { isMap } from 'yaml';
import { isMissingFile, StapctlError } from '../../errors.js';
import { HostBudget } from './host-range.js';
import { isHostList, readHostList } from './inventory-host-list.js';
import { readIniInventory } from './inventory-ini.js';
import { readTomlInventory } from './inventory-toml.js';
import { InventoryBuilder, type HostEntry, type Inventory } from './inventory-model.js';
import { isListFormat, readListInventory, readVariablesFile, readYamlInventory, YamlText } from './inventory-yaml.js';

export { adHocHost, emptyInventory, type HostEntry, type Inventory, type InventoryGroup, type LocatedValue, type Location } from './inventory-model.js';

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

/** Runs an inventory script with ARGS and returns its stdout; replaceable in tests. */
export type ScriptRunner = (path: string, args: readonly string[]) => string;

const SCRIPT_TIMEOUT_MS = 30_000;
const SCRIPT_OUTPUT_CAP = 16 * 1024 * 1024;

/** execFile, no shell: the script's path and arguments are never parsed by one. */
export const runInventoryScript: ScriptRunner = (path, args) => {
  try {
    return execFileSync(path, [...args], { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS, maxBuffer: SCRIPT_OUTPUT_CAP, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stderr?: string; signal?: string; status?: number };
    const reason = failed.code === 'ENOBUFS'
      ? `printed more than ${SCRIPT_OUTPUT_CAP / 1024 / 1024} MiB`
      : failed.signal === 'SIGTERM'
        ? `did not finish within ${SCRIPT_TIMEOUT_MS / 1000} s`
        : failed.status !== undefined && failed.status !== null
          ? `exited with ${failed.status}`
          : (failed.code ?? String(error));
    throw new StapctlError('INVENTORY_INVALID', `inventory script ${path} ${args.join(' ')} ${reason}`, {
      file: path,
      ...(failed.stderr && { detail: failed.stderr }),
      hint: 'run the script by hand with --list: it must print the inventory as JSON',
      cause: error,
    });
  }
};

export interface InventoryOptions {
  budget?: HostBudget;
  runScript?: ScriptRunner;
}

/** Reads YAML inventory TEXT (the format of a `.yaml` file) as FILE. */
export function parseInventory(text: string, file: string, budget = new HostBudget()): Inventory {
  const builder = new InventoryBuilder(budget);
  builder.sources.push(file);
  readYamlInventory(new YamlText(file, text), builder);
  return builder.build();
}

export function loadInventory(path: string, budget = new HostBudget()): Inventory {
  return loadInventories([path], { budget });
}

/** Every source in order into one inventory, then the group_vars/ and host_vars/ beside each. */
export function loadInventories(paths: readonly string[], options: InventoryOptions = {}): Inventory {
  const builder = new InventoryBuilder(options.budget);
  const runScript = options.runScript ?? runInventoryScript;
  const baseDirectories: string[] = [];
  for (const path of paths) {
    builder.sources.push(path);
    // Ansible reads no group_vars/ or host_vars/ for a host list: it is not a place on disk.
    if (isHostList(path, existsSync)) {
      readHostList(path, builder);
      continue;
    }
    const stats = statSource(path);
    if (stats.isDirectory()) readDirectory(path, builder, runScript);
    else readSourceFile(path, stats, builder, runScript);
    const base = stats.isDirectory() ? path : dirname(path);
    if (!baseDirectories.includes(base)) baseDirectories.push(base);
  }
  for (const base of baseDirectories) readVarsDirectories(base, builder);
  return builder.build();
}

function statSource(path: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    if (isMissingFile(error)) {
      throw new StapctlError('INVENTORY_NOT_FOUND', `inventory ${path} does not exist`, {
        file: path,
        hint: 'pass --inventory FILE, or copy inventory.example.yaml to ./inventory.yaml',
      });
    }
    throw unreadable(path, error);
  }
}

function unreadable(path: string, error: unknown): StapctlError {
  const code = (error as NodeJS.ErrnoException).code;
  return new StapctlError('INVENTORY_INVALID', `cannot read inventory ${path}: ${code ?? String(error)}`, {
    file: path,
    hint: 'check the file permissions',
    cause: error,
  });
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadable(path, error);
  }
}

/** Names Ansible skips inside an inventory directory (INVENTORY_IGNORE_EXTS and its fixed patterns). */
const IGNORED_IN_DIRECTORY = /^\.|^host_vars$|^group_vars$|^vars_plugins$|(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$/;

function readDirectory(path: string, builder: InventoryBuilder, runScript: ScriptRunner): void {
  for (const name of readdirSync(path).sort()) {
    if (IGNORED_IN_DIRECTORY.test(name)) continue;
    const entry = join(path, name);
    const stats = statSource(entry);
    if (stats.isDirectory()) readDirectory(entry, builder, runScript);
    else readSourceFile(entry, stats, builder, runScript);
  }
}

const YAML_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * One file, by what it is: an executable is a dynamic inventory script; `.ini` is INI; `.toml` is
 * TOML (Ansible's toml plugin reads only that extension); `.yaml`, `.yml` and `.json` are YAML or
 * `--list` JSON; any other name is YAML when it reads as a YAML mapping and INI otherwise, as
 * Ansible tries its yaml plugin before its ini plugin.
 */
function readSourceFile(path: string, stats: Stats, builder: InventoryBuilder, runScript: ScriptRunner): void {
  const extension = extname(path).toLowerCase();
  if ((stats.mode & 0o111) !== 0 && !YAML_EXTENSIONS.has(extension) && extension !== '.ini' && extension !== '.toml') {
    readScript(path, builder, runScript);
    return;
  }
  const text = readText(path);
  if (extension === '.ini') {
    readIniInventory(path, text, builder);
    return;
  }
  if (extension === '.toml') {
    readTomlInventory(path, text, builder);
    return;
  }
  let yaml: YamlText;
  try {
    yaml = new YamlText(path, text);
  } catch (error) {
    if (YAML_EXTENSIONS.has(extension) || !(error instanceof StapctlError)) throw error;
    readIniInventory(path, text, builder);
    return;
  }
  if (!YAML_EXTENSIONS.has(extension) && !yaml.isNull(yaml.root) && !isMap(yaml.root)) {
    readIniInventory(path, text, builder);
  } else if (isListFormat(yaml)) {
    readListInventory(yaml, builder);
  } else {
    readYamlInventory(yaml, builder);
  }
}

function readScript(path: string, builder: InventoryBuilder, runScript: ScriptRunner): void {
  const list = new YamlText(`${path} --list`, runScript(path, ['--list']));
  readListInventory(list, builder, (host) => new YamlText(`${path} --host ${host}`, runScript(path, ['--host', host])));
}

/** group_vars/NAME and host_vars/NAME beside an inventory source. */
function readVarsDirectories(base: string, builder: InventoryBuilder): void {
  // Most inventories have neither directory: one look each, not four failed stats per group and host.
  const groupVars = join(base, 'group_vars');
  const hostVars = join(base, 'host_vars');
  for (const group of existsSync(groupVars) ? builder.groupNames() : []) {
    for (const file of varsFiles(groupVars, group)) {
      const layer = readVariablesFile(new YamlText(file, readText(file)));
      if (layer !== undefined) builder.groupVars(group, layer, 'files');
    }
  }
  for (const host of existsSync(hostVars) ? builder.hostNames() : []) {
    for (const file of varsFiles(hostVars, host)) {
      const layer = readVariablesFile(new YamlText(file, readText(file)));
      if (layer !== undefined) builder.hostVars(host, layer, 'files');
    }
  }
}

const VARS_EXTENSIONS = ['', '.yml', '.yaml', '.json'];

/**
 * Ansible's find_vars_files: the first of NAME, NAME.yml, NAME.yaml, NAME.json that exists; a
 * directory gives all its files with those extensions, sorted, recursively, hidden ones skipped.
 */
function varsFiles(directory: string, name: string): string[] {
  // Names may hold dots; these two would name the directory itself or its parent.
  if (name === '.' || name === '..') return [];
  for (const extension of VARS_EXTENSIONS) {
    const path = join(directory, name + extension);
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch (error) {
      if (isMissingFile(error)) continue;
      throw unreadable(path, error);
    }
    return stats.isDirectory() ? filesBelow(path) : [path];
  }
  return [];
}

function filesBelow(directory: string): string[] {
  return readdirSync(directory)
    .sort()
    .filter((name) => !name.startsWith('.') && !name.endsWith('~'))
    .flatMap((name) => {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) return filesBelow(path);
      return VARS_EXTENSIONS.includes(extname(name)) ? [path] : [];
    });
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
  const candidates = [join(cwd, 'inventory.yaml'), join(home, '.config', 'stapctl', 'inventory.yaml'), '/etc/stapctl/inventory.yaml'];
  return candidates.find((candidate) => exists(candidate));
}
