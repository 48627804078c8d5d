import { StapctlError } from '../errors.js';
import { localFiles, unlessNotInSnapshot, type HostFiles } from './host-files.js';

export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** The primary gid first, then the supplementary gids. */
  groups: number[];
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The group every server user must belong to, in the initscript's README and the Debian package. */
export const SERVER_GROUP = 'stap-server';

/** The server user when neither -u nor STAP_USER names one, as in the stock script. */
export const DEFAULT_SERVER_USER = 'stap-server';

function colonRecords(text: string): string[][] {
  return text
    .split('\n')
    // `+`/`-` lines are NIS compat entries, not users; the real entries come through NSS.
    .filter((line) => line.trim() !== '' && !line.startsWith('#') && !/^[+-]/.test(line))
    .map((line) => line.split(':'));
}

const isId = (value: string | undefined): value is string => value !== undefined && /^\d+$/.test(value);

/** passwd(5): `name:password:uid:gid:gecos:home:shell`. Malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const [name, , uid, gid, , home, shell] of colonRecords(text)) {
    if (!name || !isId(uid) || !isId(gid)) continue;
    entries.push({ name, uid: Number(uid), gid: Number(gid), home: home ?? '', shell: shell ?? '' });
  }
  return entries;
}

/**
 * What `parsePasswd(text).find((entry) => entry.name === name)` finds, parsing only the lines of
 * that name (those that start with `name:`): a status checks its directories with the server
 * account's uid, and parsing every account cost it more than the rest of that check.
 */
export function passwdEntryNamed(text: string, name: string): PasswdEntry | undefined {
  const prefix = `${name}:`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const [entry] = parsePasswd(line);
    // A name with a colon starts lines of another name.
    if (entry?.name === name) return entry;
  }
  return undefined;
}

/** group(5): `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const [name, , gid, members] of colonRecords(text)) {
    if (!name || !isId(gid)) continue;
    entries.push({ name, gid: Number(gid), members: (members ?? '').split(',').filter((m) => m !== '') });
  }
  return entries;
}

export interface AccountFiles {
  passwd: string;
  group: string;
}

const SYSTEM_FILES: AccountFiles = { passwd: '/etc/passwd', group: '/etc/group' };

function readOrEmpty(file: string, host: HostFiles): string {
  try {
    return host.readText(file);
  } catch (error) {
    unlessNotInSnapshot(error);
    return '';
  }
}

const uniqueIds = (ids: number[]) => [...new Set(ids)];

/**
 * The account as the system resolves it: the local files first (fast, and what useradd writes),
 * then NSS through getent for directory users (LDAP, sssd).
 */
export function lookupUser(name: string, files: AccountFiles = SYSTEM_FILES, host: HostFiles = localFiles): UserInfo | undefined {
  const found = passwdEntry(name, files, host);
  if (found === undefined) return undefined;
  const { entry, local } = found;
  if (local) {
    const supplementary = parseGroup(readOrEmpty(files.group, host))
      .filter((group) => group.members.includes(name))
      .map((group) => group.gid);
    return { ...entry, groups: uniqueIds([entry.gid, ...supplementary]) };
  }
  // `getent initgroups NAME` prints `NAME  GID GID ...`: every group NSS knows the user to be in.
  const [initgroups] = host.getent('initgroups', name);
  const supplementary = (initgroups ?? '').trim().split(/\s+/).slice(1).filter(isId).map(Number);
  return { ...entry, groups: uniqueIds([entry.gid, ...supplementary]) };
}

/** The uid lookupUser finds, without the groups: no read of /etc/group, no `getent initgroups`. */
export function lookupUid(name: string, files: AccountFiles = SYSTEM_FILES, host: HostFiles = localFiles): number | undefined {
  return passwdEntry(name, files, host)?.entry.uid;
}

function passwdEntry(name: string, files: AccountFiles, host: HostFiles): { entry: PasswdEntry; local: boolean } | undefined {
  const local = passwdEntryNamed(readOrEmpty(files.passwd, host), name);
  if (local !== undefined) return { entry: local, local: true };
  // getent: none when the key is unknown (exit 2) or getent is missing.
  const [line] = host.getent('passwd', name);
  const [entry] = parsePasswd(line ?? '');
  return entry === undefined || entry.name !== name ? undefined : { entry, local: false };
}

export function lookupGroup(name: string, files: AccountFiles = SYSTEM_FILES, host: HostFiles = localFiles): { name: string; gid: number } | undefined {
  const local = parseGroup(readOrEmpty(files.group, host)).find((group) => group.name === name);
  if (local !== undefined) return { name: local.name, gid: local.gid };
  const [line] = host.getent('group', name);
  const [entry] = parseGroup(line ?? '');
  return entry === undefined || entry.name !== name ? undefined : { name: entry.name, gid: entry.gid };
}

/** The home that `~` (no user: the invoking user's HOME) or `~user` stands for in a config file. */
export function homeOf(user?: string, host: HostFiles = localFiles): string | undefined {
  if (user === undefined || user === '') return host.home();
  return lookupUser(user, SYSTEM_FILES, host)?.home;
}

/** stap-serverd exits at once as root, and the stock script would print OK for it. */
export function refuseRoot(user: Pick<UserInfo, 'name' | 'uid'>): void {
  if (user.uid === 0) {
    throw new StapctlError('ROOT_USER_REFUSED', `stap-serverd refuses to run as root (user "${user.name}" has uid 0)`, {
      hint: `use -u ${DEFAULT_SERVER_USER}`,
    });
  }
}

/** The account a server will run as, refused before anything starts when it cannot serve. */
export function checkServerUser(name: string, files: AccountFiles = SYSTEM_FILES): UserInfo {
  const user = lookupUser(name, files);
  if (user === undefined) {
    throw new StapctlError('NO_SUCH_USER', `user "${name}" does not exist`, {
      hint: `create it: useradd --system --create-home --gid ${SERVER_GROUP} ${name}`,
    });
  }
  refuseRoot(user);
  const group = lookupGroup(SERVER_GROUP, files);
  if (group === undefined) {
    throw new StapctlError('NO_SUCH_GROUP', `group "${SERVER_GROUP}" does not exist`, {
      hint: `create it: groupadd --system ${SERVER_GROUP}, then usermod -aG ${SERVER_GROUP} ${name}`,
    });
  }
  if (!user.groups.includes(group.gid)) {
    throw new StapctlError('USER_NOT_IN_GROUP', `user "${name}" is not a member of group "${SERVER_GROUP}"`, {
      hint: `usermod -aG ${SERVER_GROUP} ${name}`,
    });
  }
  return user;
}
