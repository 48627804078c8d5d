/**
 * The inventory as Ansible models it, whatever it was written in: groups with child groups, hosts
 * in groups, and layers of variables. Readers (YAML, INI, `--list` JSON) and the group_vars/ and
 * host_vars/ files feed one InventoryBuilder; several sources feed the same one, merged as
 * `ansible -i a -i b` merges them.
 *
 * Variable precedence, lowest first, as Ansible's VariableManager applies it: the inventory's group
 * variables (`all`, then the host's groups sorted by depth below `all`, then by
 * `ansible_group_priority`, then by name), then group_vars/ files in the same order, then the
 * host's inventory variables, then its host_vars/ files. Within each, later sources win.
 */
import { StapctlError } from '../../errors.js';
import { expandRange, HostBudget } from './host-range.js';
import {
  connectionWarnings,
  groupPriority,
  hostSettings,
  inventoryError,
  type HostSettings,
  type LocatedValue,
  type Location,
  type VarLayer,
} from './inventory-variables.js';

export type { LocatedValue, Location } from './inventory-variables.js';

export interface HostEntry extends HostSettings {
  name: string;
  /** ansible_host (ansible_ssh_host, host); the name when none is set. */
  address: string;
  /** Every group the host is in, directly or through a child group, except `all`; lowest precedence first. */
  groups: string[];
  /** All variables after precedence, including the ones stapctl does not use. */
  vars: Record<string, unknown>;
  /** Where each variable of `vars` got its value: any variable can be read with its file:line:column. */
  varSources: Record<string, Location>;
  /**
   * Variables that are merged rather than overridden (stap_servers): every definition that
   * applies to the host, lowest precedence first, each with where its parts are in the file.
   */
  located?: Record<string, LocatedValue[]>;
  /** How the host was found: an inventory entry, a Host line of ~/.ssh/config, or a name given ad hoc. */
  source: 'inventory' | 'ssh-config' | 'ad-hoc';
  /** The inventory entry that first named the host, or the ssh config line; none for an ad-hoc host. */
  origin?: Location;
  /** Ansible connection variables of this host that stapctl does not honour. */
  warnings: string[];
}

export interface InventoryGroup {
  name: string;
  /** Direct and descendant hosts, in the order they first appear. */
  hosts: string[];
  /** Direct child groups, in the order they appear. */
  children: string[];
}

export interface Inventory {
  /** The sources, for messages: a file, a directory, a script, or several joined by ", ". */
  file?: string;
  hosts: Map<string, HostEntry>;
  groups: Map<string, InventoryGroup>;
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

/** A host no inventory names: the defaults and ~/.ssh/config decide how it is reached. */
export function adHocHost(name: string): HostEntry {
  return { name, address: name, become: false, groups: [], vars: {}, varSources: {}, source: 'ad-hoc', warnings: [] };
}

/** Where variables come from, by Ansible's precedence: the inventory itself, or group_vars/ and host_vars/ files. */
export type VarStage = 'inventory' | 'files';

interface GroupDraft {
  name: string;
  at: Location | undefined;
  children: string[];
  /** Where each child was named under this group, for the error that refuses a loop. */
  childAt: Map<string, Location>;
  parents: Set<string>;
  layers: Record<VarStage, VarLayer[]>;
}

interface HostDraft {
  name: string;
  at: Location;
  directGroups: Set<string>;
  layers: Record<VarStage, VarLayer[]>;
}

const GROUP_NAME = /^[A-Za-z0-9_.-]+$/;
const HOST_NAME = /^[A-Za-z0-9._:%-]+$/;

export class InventoryBuilder {
  private readonly groups = new Map<string, GroupDraft>();
  private readonly hostDrafts = new Map<string, HostDraft>();
  readonly sources: string[] = [];

  constructor(readonly budget: HostBudget = new HostBudget()) {
    this.group('all');
    this.group('ungrouped');
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  hasHost(name: string): boolean {
    return this.hostDrafts.has(name);
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  hostNames(): string[] {
    return [...this.hostDrafts.keys()];
  }

  /** Declares group NAME (once; later declarations add to it). */
  group(name: string, at?: Location): void {
    if (!GROUP_NAME.test(name)) throw inventoryError(at, `group name "${name}" may only hold letters, digits, "_", "-" and "."`);
    const draft = this.groups.get(name);
    if (draft !== undefined) {
      draft.at ??= at;
      return;
    }
    this.groups.set(name, { name, at, children: [], childAt: new Map(), parents: new Set(), layers: { inventory: [], files: [] } });
  }

  child(parent: string, child: string, at: Location): void {
    if (child === 'all') throw inventoryError(at, 'group "all" cannot be a child group', 'every group is already inside all');
    if (child === parent) throw inventoryError(at, `group "${child}" cannot be a child of itself`);
    this.group(parent);
    this.group(child, at);
    const draft = this.groups.get(parent) as GroupDraft;
    if (!draft.childAt.has(child)) {
      draft.children.push(child);
      draft.childAt.set(child, at);
    }
    this.groups.get(child)?.parents.add(parent);
  }

  /** Adds the hosts PATTERN names (ranges expanded, counted against the run's cap) to GROUP, with LAYERS each. */
  hosts(pattern: string, group: string, at: Location, layers: readonly VarLayer[] = []): string[] {
    let names: string[];
    try {
      names = expandRange(pattern, this.budget);
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      throw inventoryError(at, error.message, error.hint);
    }
    this.group(group);
    for (const name of names) this.addHost(name, group, at, layers);
    return names;
  }

  /** Adds host NAME as it is written, with no range expansion (a host-list entry), counted against the run's cap. */
  literalHost(name: string, group: string, at: Location, layers: readonly VarLayer[] = []): void {
    try {
      this.budget.take(1, name);
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      throw inventoryError(at, error.message, error.hint);
    }
    this.group(group);
    this.addHost(name, group, at, layers);
  }

  private addHost(name: string, group: string, at: Location, layers: readonly VarLayer[]): void {
    const bad = [...name].find((char) => !HOST_NAME.test(char));
    if (bad !== undefined) {
      throw inventoryError(at, `host name "${name}" holds "${bad}"`, 'host names hold letters, digits, ".", "-", "_" and ":"');
    }
    let host = this.hostDrafts.get(name);
    if (host === undefined) {
      host = { name, at, directGroups: new Set(), layers: { inventory: [], files: [] } };
      this.hostDrafts.set(name, host);
    }
    host.layers.inventory.push(...layers);
    host.directGroups.add(group);
  }

  groupVars(group: string, layer: VarLayer, stage: VarStage = 'inventory'): void {
    this.group(group);
    this.groups.get(group)?.layers[stage].push(layer);
  }

  hostVars(host: string, layer: VarLayer, stage: VarStage): void {
    this.hostDrafts.get(host)?.layers[stage].push(layer);
  }

  build(): Inventory {
    this.refuseHostsNamedAsGroups();
    this.group('ungrouped');
    const all = this.groups.get('all') as GroupDraft;
    if (!all.children.includes('ungrouped')) all.children.push('ungrouped');
    for (const draft of this.groups.values()) if (draft.name !== 'all' && draft.parents.size === 0) draft.parents.add('all');
    const memberships = this.memberships(this.depths(this.topologicalOrder()));
    const hosts = new Map<string, HostEntry>();
    for (const host of this.hostDrafts.values()) hosts.set(host.name, this.hostEntry(host, memberships.get(host.name) ?? ['all']));
    const groups = new Map<string, InventoryGroup>();
    for (const draft of this.groups.values()) groups.set(draft.name, { name: draft.name, hosts: [], children: [...draft.children] });
    for (const [host, names] of memberships) for (const name of names) groups.get(name)?.hosts.push(host);
    return { ...(this.sources.length > 0 && { file: this.sources.join(', ') }), hosts, groups };
  }

  private refuseHostsNamedAsGroups(): void {
    for (const host of this.hostDrafts.values()) {
      const group = this.groups.get(host.name);
      if (group === undefined) continue;
      const where = group.at?.line === undefined ? '' : group.at.file === host.at.file ? ` (line ${group.at.line})` : ` (${group.at.file}:${group.at.line})`;
      throw inventoryError(host.at, `host "${host.name}" has the same name as a group${where}`, 'rename one of them: -H could not tell them apart');
    }
  }

  /** Each host's groups (with `all`), lowest precedence first; hosts listed in the same groups share one walk. */
  private memberships(depth: Map<string, number>): Map<string, string[]> {
    const priorities = new Map<string, number>();
    for (const draft of this.groups.values()) priorities.set(draft.name, groupPriority(draft.layers.inventory));
    const order = (a: string, b: string) =>
      (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || (priorities.get(a) ?? 1) - (priorities.get(b) ?? 1) || a.localeCompare(b);
    const shared = new Map<string, string[]>();
    const memberships = new Map<string, string[]>();
    for (const host of this.hostDrafts.values()) {
      const direct = [...host.directGroups].filter((name) => name !== 'all');
      const key = direct.join('\n');
      let sorted = shared.get(key);
      if (sorted === undefined) {
        sorted = [...this.ancestry(direct.length === 0 ? ['ungrouped'] : direct)].sort(order);
        shared.set(key, sorted);
      }
      memberships.set(host.name, sorted);
    }
    return memberships;
  }

  /** GROUPS, every group above them, and `all`: each group visited once. */
  private ancestry(groups: string[]): Set<string> {
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
  private topologicalOrder(): string[] {
    const finished: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    for (const root of this.groups.keys()) {
      if (state.has(root)) continue;
      const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
      state.set(root, 'open');
      for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
        const draft = this.groups.get(top.name) as GroupDraft;
        const child = draft.children[top.next];
        if (child === undefined) {
          state.set(top.name, 'done');
          finished.push(top.name);
          stack.pop();
          continue;
        }
        top.next += 1;
        if (state.get(child) === 'open') {
          throw inventoryError(
            draft.childAt.get(child),
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
  private depths(order: string[]): Map<string, number> {
    const depth = new Map<string, number>();
    for (const name of order) {
      let value = 0;
      for (const parent of this.groups.get(name)?.parents ?? []) value = Math.max(value, (depth.get(parent) ?? 0) + 1);
      depth.set(name, value);
    }
    return depth;
  }

  private hostEntry(host: HostDraft, groups: string[]): HostEntry {
    const groupLayers = (stage: VarStage) => groups.flatMap((name) => this.groups.get(name)?.layers[stage] ?? []);
    const layers = [...groupLayers('inventory'), ...groupLayers('files'), ...host.layers.inventory, ...host.layers.files];
    const vars: Record<string, unknown> = {};
    const varSources: Record<string, Location> = {};
    const located: Record<string, LocatedValue[]> = {};
    for (const layer of layers) {
      Object.assign(vars, layer.raw);
      Object.assign(varSources, layer.at);
      for (const [name, value] of Object.entries(layer.located)) (located[name] ??= []).push(value);
    }
    const { address, ...settings } = hostSettings(layers);
    return {
      name: host.name,
      address: address ?? host.name,
      ...settings,
      groups: groups.filter((group) => group !== 'all'),
      vars,
      varSources,
      ...(Object.keys(located).length > 0 && { located }),
      source: 'inventory',
      origin: host.at,
      warnings: connectionWarnings(host.name, vars, varSources),
    };
  }
}
