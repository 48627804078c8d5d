/**
 * Host patterns: the `-H SPEC` grammar, resolved against the inventory as Ansible's
 * InventoryManager resolves `hosts:` patterns (order_patterns, evaluate_patterns,
 * match_one_pattern, enumerate_matches), with stapctl's ranges, inventory files and ad-hoc hosts.
 */
import { StapctlError } from '../../errors.js';
import { compileRegex } from './host-regex.js';
import { compileGlob, expandParts, HostBudget, invalid, parsePattern } from './host-range.js';
import { adHocHost, type HostEntry, type Inventory } from './inventory.js';

export interface ResolvedTarget {
  /** The selected hosts in first-seen order, each with its connection settings and where it came from. */
  hosts: HostEntry[];
  /** Names in `hosts` that no inventory defines: they connect with the defaults and ~/.ssh/config. */
  adHoc: string[];
}

export interface TargetSources {
  /** The inventory that group and host names and patterns refer to (`--inventory` or the default). */
  inventory: Inventory;
  /**
   * Loads a SPEC term that names an inventory file, or a SPEC that is a host list (it ends in a
   * comma). Only terms that look like paths (they hold a `/` or end in `.yaml`/`.yml`/`.ini`/
   * `.json`/`.toml`) are files, so that a host name is never read from disk.
   */
  loadInventoryFile: (path: string) => Inventory;
  /** The run's host cap, shared with the inventories it loaded. */
  budget?: HostBudget;
  /** Where ~/.ssh/config names this host (`file:line`), so that it may be reached without an inventory entry. */
  sshConfigEntry?: (name: string) => string | undefined;
  /** --adhoc: a name outside the inventory and ssh config is a host to reach with the defaults. */
  adHoc?: boolean;
}

export type TermOperator = 'include' | 'intersect' | 'exclude';

export interface SpecTerm {
  text: string;
  operator: TermOperator;
  /** 0-based offset of `text` in the whole SPEC, for error columns. */
  offset: number;
}

/** IPv6 addresses hold colons that separate nothing. */
const IPV6 = /^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%]*$/;

/**
 * Splits SPEC into terms at the commas and colons outside brackets (Ansible's two separators;
 * brackets hold ranges and subscripts such as `[0:3]`), each with its operator: `&` intersects,
 * `!` excludes. An IPv6 address stays one term.
 */
export function splitSpec(spec: string): SpecTerm[] {
  const terms: SpecTerm[] = [];
  const push = (start: number, end: number) => {
    const raw = spec.slice(start, end);
    let offset = start + raw.length - raw.trimStart().length;
    let text = raw.trim();
    let operator: TermOperator = 'include';
    if (text.startsWith('!') || text.startsWith('&')) {
      operator = text.startsWith('!') ? 'exclude' : 'intersect';
      const after = text.slice(1);
      text = after.trimStart();
      offset += 1 + after.length - text.length;
    }
    if (text === '') {
      throw invalid(
        spec,
        offset + 1,
        operator === 'include' ? 'empty term' : `"${operator === 'exclude' ? '!' : '&'}" without a pattern`,
        'separate hosts, groups and patterns with single commas or colons, e.g. web:db:!db03',
      );
    }
    terms.push({ text, operator, offset });
  };
  let depth = 0;
  let start = 0;
  for (let index = 0; index < spec.length; index += 1) {
    const char = spec.charAt(index);
    if (char === '[') depth += 1;
    else if (char === ']') depth = Math.max(0, depth - 1);
    else if (char === ',' && depth === 0) {
      splitColons(spec, start, index, push);
      start = index + 1;
    }
  }
  splitColons(spec, start, spec.length, push);
  return terms;
}

/** A comma-separated piece of SPEC, split further at colons unless it is a regex or an IPv6 address. */
function splitColons(spec: string, start: number, end: number, push: (start: number, end: number) => void): void {
  const piece = spec.slice(start, end).trim();
  const body = piece.replace(/^[!&]\s*/, '');
  if (body.startsWith('~') || IPV6.test(body)) {
    push(start, end);
    return;
  }
  let depth = 0;
  let from = start;
  for (let index = start; index < end; index += 1) {
    const char = spec.charAt(index);
    if (char === '[') depth += 1;
    else if (char === ']') depth = Math.max(0, depth - 1);
    else if (char === ':' && depth === 0) {
      push(from, index);
      from = index + 1;
    }
  }
  push(from, end);
}

/** Ansible's order_patterns: includes in order, then intersections, then exclusions; no include means `all`. */
export function orderPatterns(terms: SpecTerm[]): SpecTerm[] {
  const includes = terms.filter((term) => term.operator === 'include');
  const rest = [...terms.filter((term) => term.operator === 'intersect'), ...terms.filter((term) => term.operator === 'exclude')];
  return [...(includes.length === 0 ? [{ text: 'all', operator: 'include' as const, offset: 0 }] : includes), ...rest];
}

/** The hosts one term names; ENTRIES when they come from an inventory file the term named. */
interface TermMatch {
  names: string[];
  entries?: Map<string, HostEntry>;
}

interface Resolution {
  spec: string;
  sources: TargetSources;
  budget: HostBudget;
  /** Hosts found in inventory files named by the SPEC, by name. */
  fromFiles: Map<string, HostEntry>;
  /** Ad-hoc hosts created so far, by name. */
  adHoc: Map<string, HostEntry>;
}

/**
 * Resolves `-H SPEC` to hosts as Ansible does: terms are groups, hosts, globs, `~regex`, each
 * optionally with a subscript (`web[0]`, `web[0:2]`); `&` keeps hosts also in a term, `!` removes
 * a term's hosts, both after every include. stapctl adds ranges (`build[01-20]` when `build` is not
 * a group), inventory files and `user@host`. A name outside the inventory must be in ~/.ssh/config,
 * or `--adhoc` given. An exclusion that removes nothing is an error, because a typo there would act
 * on a host the user meant to protect.
 */
export function resolveTargets(spec: string, sources: TargetSources): ResolvedTarget {
  const run: Resolution = { spec, sources, budget: sources.budget ?? new HostBudget(), fromFiles: new Map(), adHoc: new Map() };
  const terms = isHostListSpec(spec) ? [{ text: spec.trim(), operator: 'include' as const, offset: spec.length - spec.trimStart().length }] : orderPatterns(splitSpec(spec));
  const chosen = evaluatePatterns(terms, run);
  if (chosen.size === 0) {
    throw new StapctlError('NO_HOSTS_MATCHED', `"${spec}" selects no hosts`, {
      hint:
        sources.inventory.file === undefined
          ? 'no inventory was found: pass --inventory FILE or set STAPCTL_INVENTORY, or name the hosts'
          : `name hosts, groups or patterns from ${sources.inventory.file}; \`stapctl -H all hosts\` lists them`,
    });
  }
  const hosts = [...chosen].map(([name, entry]) => entry ?? run.adHoc.get(name) ?? adHocHost(name));
  return { hosts, adHoc: hosts.filter((host) => host.source !== 'inventory').map((host) => host.name) };
}

/**
 * Ansible's _evaluate_patterns: includes add in first-seen order, `&` keeps, `!` removes. Each
 * host keeps the entry of the term that first selected it (an inventory file's, or the inventory's).
 */
function evaluatePatterns(terms: SpecTerm[], run: Resolution): Map<string, HostEntry | undefined> {
  const selected = new Map<string, HostEntry | undefined>();
  for (const term of terms) {
    const { names: matched, entries } = matchOnePattern(term, run);
    if (term.operator === 'include') {
      for (const name of matched) if (!selected.has(name)) selected.set(name, entries?.get(name) ?? run.sources.inventory.hosts.get(name));
      continue;
    }
    const set = new Set(matched);
    if (term.operator === 'intersect') {
      for (const name of selected.keys()) if (!set.has(name)) selected.delete(name);
      continue;
    }
    const removed = matched.filter((name) => selected.has(name) || run.sources.inventory.hosts.has(name));
    if (removed.length === 0) {
      throw new StapctlError('NO_HOSTS_MATCHED', `"!${term.text}" excludes nothing: no selected or inventory host matches it`, {
        hint: 'check the spelling of the excluded host, group or pattern',
      });
    }
    for (const name of removed) selected.delete(name);
  }
  return selected;
}

const SUBSCRIPT = /^(.+)\[(?:(-?\d+)|(\d+):(\d*)|:(\d+))\]$/;

/** Ansible's _match_one_pattern: a term's hosts, with its subscript applied when its base is a group or a pattern. */
function matchOnePattern(term: SpecTerm, run: Resolution): TermMatch {
  if (isHostListSpec(term.text)) return hostsOfList(term, run);
  if (looksLikeInventoryFile(term.text)) return hostsOfFile(term, run);
  return { names: namesOfPattern(term, run) };
}

function namesOfPattern(term: SpecTerm, run: Resolution): string[] {
  if (term.text.startsWith('~')) return enumerateMatches(term, term.text, run);
  const subscript = SUBSCRIPT.exec(term.text);
  const base = subscript?.[1];
  // A subscript only follows a group or a pattern: `build[01:20]` where no group `build` exists is a range.
  if (subscript !== null && base !== undefined && (run.sources.inventory.groups.has(base) || /[*?~]/.test(base))) {
    const hosts = enumerateMatches({ ...term, text: base }, base, run);
    const [, , index, from, to, upTo] = subscript;
    if (index !== undefined) {
      const position = Number(index) < 0 ? hosts.length + Number(index) : Number(index);
      return hosts[position] === undefined ? [] : [hosts[position]];
    }
    return hosts.slice(Number(from ?? 0), to === '' || to === undefined ? (upTo === undefined ? undefined : Number(upTo) + 1) : Number(to) + 1);
  }
  const userAt = /^([a-z_][a-z0-9_.-]*\$?)@(.+)$/i.exec(term.text);
  if (userAt !== null) return [adHocWithUser(userAt[1] ?? '', userAt[2] ?? '', term, run)];
  checkCharacters(term, run.spec);
  const parsed = parsePattern(term.text, term.offset);
  if (parsed.isGlob) return enumerateMatches(term, term.text, run);
  return expandParts(term.text, parsed.parts, run.budget).flatMap((name) => enumerateMatches({ ...term, text: name }, name, run));
}

/**
 * Ansible's _enumerate_matches: the hosts of the groups PATTERN matches, and the hosts it matches
 * by name when no group matched or it is a glob or a regex. A plain name that matches neither is
 * a host of ~/.ssh/config, an ad-hoc host under --adhoc, or an error with the nearest names.
 */
function enumerateMatches(term: SpecTerm, pattern: string, run: Resolution): string[] {
  const { inventory } = run.sources;
  const isRegex = pattern.startsWith('~');
  const isPattern = isRegex || parsePattern(pattern, term.offset).isGlob;
  const matches = isRegex ? compileRegex(pattern.slice(1), run.spec, term.offset + 1) : isPattern ? compileGlob(pattern, term.offset) : (name: string) => name === pattern;
  const names = new Set<string>();
  let groupMatched = false;
  for (const group of inventory.groups.values()) {
    if (!matches(group.name)) continue;
    groupMatched = true;
    for (const host of group.hosts) names.add(host);
  }
  if (groupMatched && !isPattern) return [...names];
  if (names.size === 0 || isPattern) for (const host of inventory.hosts.keys()) if (matches(host)) names.add(host);
  // Hosts selected by earlier terms from inventory files or ad hoc can be narrowed by later & and ! patterns.
  if (isPattern) for (const host of [...run.fromFiles.keys(), ...run.adHoc.keys()]) if (matches(host)) names.add(host);
  if (!isPattern && names.size === 0) return [outsideInventory(term, pattern, run)];
  if (names.size === 0 && term.operator !== 'exclude') {
    throw new StapctlError('NO_HOSTS_MATCHED', `"${term.text}" matches no host or group in the inventory`, {
      hint: inventory.file === undefined ? 'pass --inventory FILE, or name the hosts' : `check the names in ${inventory.file}`,
    });
  }
  return [...names];
}

/** A name no inventory holds: reached through ~/.ssh/config or as an ad-hoc host, else an error with the nearest names. */
function outsideInventory(term: SpecTerm, name: string, run: Resolution): string {
  if (run.adHoc.has(name) || run.fromFiles.has(name) || term.operator === 'exclude') return name;
  const sshEntry = run.sources.sshConfigEntry?.(name);
  if (sshEntry !== undefined) {
    run.adHoc.set(name, { ...adHocHost(name), source: 'ssh-config', origin: { file: sshEntry } });
    return name;
  }
  if (run.sources.adHoc === true) {
    run.adHoc.set(name, adHocHost(name));
    return name;
  }
  const { inventory } = run.sources;
  const nearest = nearestNames(name, [...inventory.hosts.keys(), ...inventory.groups.keys()]);
  throw new StapctlError('NO_HOSTS_MATCHED', `"${name}" is not in the inventory nor in ~/.ssh/config${nearest.length > 0 ? `: did you mean ${nearest.map((found) => `"${found}"`).join(', ')}?` : ''}`, {
    hint: 'pass --adhoc to reach hosts outside the inventory with the default settings, or write user@host',
    column: term.offset + 1,
  });
}

function adHocWithUser(user: string, name: string, term: SpecTerm, run: Resolution): string {
  checkCharacters({ ...term, text: name, offset: term.offset + user.length + 1 }, run.spec);
  if (run.sources.inventory.hosts.has(name)) {
    throw new StapctlError('HOST_PATTERN_INVALID', `"${term.text}": ${name} is an inventory host; its user comes from the inventory`, {
      hint: `select it as ${name}, and set ansible_user in the inventory`,
      column: term.offset + 1,
    });
  }
  run.adHoc.set(name, { ...(run.adHoc.get(name) ?? adHocHost(name)), user });
  return name;
}

function looksLikeInventoryFile(term: string): boolean {
  // A "/" inside brackets is a range step (n[0-10/2]), not a directory.
  const outsideBrackets = term.replace(/\[[^\]]*\]/g, '');
  return !term.startsWith('~') && (outsideBrackets.includes('/') || /\.(ya?ml|ini|json|toml)$/.test(term));
}

/**
 * A SPEC that ends in a comma is Ansible's host list (`-i 'h1,h2:2222,'`), not a pattern: its
 * entries are host names (with `:port`), never groups, globs or operators.
 */
function isHostListSpec(spec: string): boolean {
  return spec.trimEnd().endsWith(',');
}

/**
 * The hosts of a host-list SPEC. A host the inventory defines keeps its inventory entry, as
 * Ansible's host_list leaves a host that an earlier source defined; a group's name is refused,
 * because the trailing comma would silently turn the group into a host of that name.
 */
function hostsOfList(term: SpecTerm, run: Resolution): TermMatch {
  const listed = run.sources.loadInventoryFile(term.text);
  const { inventory } = run.sources;
  const entries = new Map<string, HostEntry>();
  for (const host of listed.hosts.values()) {
    if (inventory.groups.has(host.name)) {
      throw new StapctlError('HOST_PATTERN_INVALID', `"${host.name}" is a group of the inventory, but a SPEC that ends in "," lists hosts`, {
        hint: 'drop the trailing comma to select the group',
        column: (host.origin?.column ?? 1) + term.offset,
      });
    }
    if (inventory.hosts.has(host.name)) continue;
    entries.set(host.name, host);
    run.fromFiles.set(host.name, host);
  }
  return { names: [...listed.hosts.keys()], entries };
}

function hostsOfFile(term: SpecTerm, run: Resolution): TermMatch {
  const loaded = run.sources.loadInventoryFile(term.text);
  if (loaded.hosts.size === 0 && term.operator === 'include') {
    throw new StapctlError('NO_HOSTS_MATCHED', `inventory file ${term.text} defines no hosts`, { file: term.text, hint: 'add hosts under all: hosts:' });
  }
  for (const host of loaded.hosts.values()) if (!run.fromFiles.has(host.name)) run.fromFiles.set(host.name, host);
  return { names: [...loaded.hosts.keys()], entries: loaded.hosts };
}

// Letters, digits and the punctuation of host names, IPv6 addresses and patterns.
const PATTERN_CHARACTER = /[A-Za-z0-9._:%*?[\]!^,/-]/;

function checkCharacters(term: SpecTerm, spec: string): void {
  for (let index = 0; index < term.text.length; index += 1) {
    const char = term.text.charAt(index);
    if (PATTERN_CHARACTER.test(char)) continue;
    const hint = char === '@' ? 'write user@host with a plain host name' : 'host names hold letters, digits, ".", "-", "_" and ":"';
    throw invalid(spec, term.offset + index + 1, `unexpected character "${char}"`, hint);
  }
}

/** Up to three CANDIDATES within a few edits of NAME, nearest first: the "did you mean" of a typo. */
export function nearestNames(name: string, candidates: Iterable<string>): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const scored: { candidate: string; distance: number }[] = [];
  for (const candidate of new Set(candidates)) {
    if (Math.abs(candidate.length - name.length) > limit) continue;
    const distance = editDistance(name, candidate, limit);
    if (distance <= limit) scored.push({ candidate, distance });
  }
  return scored
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, 3)
    .map(({ candidate }) => candidate);
}

/** Levenshtein distance, stopping early once every path is past LIMIT. */
function editDistance(a: string, b: string, limit: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    if (Math.min(...current) > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length] ?? limit + 1;
}
