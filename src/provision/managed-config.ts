/**
 * The conf.d files `apply` writes: one per declared server, in the subset of the config grammar
 * that the stock 4.8 script and stapctl read alike. The stock script takes each line literally
 * (`ARCH="arm"` keeps its quotes) and stapctl reads it as shell words, so values are written bare
 * and only values whose bare form means the same to both may be declared.
 */
import { type ListKey, type ScalarKey, LIST_FIELDS, SCALAR_FIELDS } from '../service/config-file.js';
import type { ServerSpec } from '../service/server-spec.js';

/** The first line of every file stapctl manages; a file without it is never changed or removed. */
export const MANAGED_MARKER = '# Managed by stapctl apply from the inventory variable stap_servers.';

const HEADER = [
  MANAGED_MARKER,
  '# Edits are overwritten by the next apply; the file is removed when the server is no longer declared.',
  '# Delete these lines to take the file over by hand: stapctl then leaves it alone.',
];

/**
 * No blank (the stock script would keep it in one item, stapctl would split INCLUDE and BUILD on
 * it), no quote, `$`, backquote, backslash, `#` or shell operator (stapctl would interpret or
 * refuse them), no leading `~` (stapctl expands it).
 */
const PORTABLE_VALUE = /^[A-Za-z0-9_.,:/=+@%-][A-Za-z0-9_.,:/=+@%~-]*$/;

export function isPortableValue(value: string): boolean {
  return PORTABLE_VALUE.test(value);
}

/** A nickname is also the file name: no leading dot (conf.d globbing skips those), no slash. */
const NICKNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isPortableNickname(nickname: string): boolean {
  return NICKNAME.test(nickname);
}

/**
 * Why `spec` cannot be written as a managed file, or undefined. The controller checks declared
 * servers before it sends them; the host checks again what it is about to write as root.
 */
export function unportable(spec: ServerSpec): string | undefined {
  if (!isPortableNickname(spec.nickname)) return `nickname "${spec.nickname}" cannot name a conf.d file`;
  for (const key of SCALAR_ORDER) {
    const value = spec[SCALAR_FIELDS[key]];
    if (value !== '' && !isPortableValue(value)) return `${key} of server "${spec.nickname}" is not a bare word: ${JSON.stringify(value)}`;
  }
  for (const key of LIST_ORDER) {
    const item = spec[LIST_FIELDS[key]].find((value) => !isPortableValue(value));
    if (item !== undefined) return `an item of ${key} of server "${spec.nickname}" is not a bare word: ${JSON.stringify(item)}`;
  }
  return undefined;
}

export function managedFileName(nickname: string): string {
  return `${nickname}.conf`;
}

export function isManagedConfig(text: string): boolean {
  return text.split('\n', 1)[0] === MANAGED_MARKER;
}

const SCALAR_ORDER: readonly ScalarKey[] = ['NICKNAME', 'ARCH', 'RUNTIME', 'USER', 'LOG', 'PORT', 'SSL', 'MAXTHREADS', 'MAXREQSIZE', 'MAXCOMPRESSEDREQ'];
const LIST_ORDER: readonly ListKey[] = ['RELEASE', 'INCLUDE', 'BUILD', 'DEFINE'];

/**
 * The file for one server. Lists are `KEY=first` then `KEY+=next`: the only list form the stock
 * script reads item by item. Unset settings are left out, so the readers' defaults apply.
 */
export function renderManagedConfig(spec: ServerSpec): string {
  const lines = [...HEADER];
  for (const key of SCALAR_ORDER) {
    const value = spec[SCALAR_FIELDS[key]];
    if (value !== '') lines.push(`${key}=${value}`);
  }
  for (const key of LIST_ORDER) {
    spec[LIST_FIELDS[key]].forEach((item, index) => lines.push(`${key}${index === 0 ? '=' : '+='}${item}`));
  }
  return lines.join('\n') + '\n';
}
