/** Host patterns: the `-H SPEC` grammar, resolved against the inventory. */
import { StapctlError } from '../../errors.js';
import type { HostEntry, Inventory } from './inventory.js';
import { compileGlob, expandParts, HostBudget, invalid, parsePattern } from './host-range.js';

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
  /** The run's host cap, shared with the inventories it loaded. */
  budget?: HostBudget;
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
  const budget = sources.budget ?? new HostBudget();
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
    const expanded = expandParts(term.text, parsePattern(term.text, term.offset).parts, budget);
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
