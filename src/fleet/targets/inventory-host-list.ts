/**
 * Ansible's `host_list` inventory source: `-i 'h1,h2:2222,[::1]:22,'`. A source that holds a comma
 * and names no existing path is a list of hosts, each added to `ungrouped` (its port, if any, as
 * `ansible_port`), a name listed twice keeping its first entry. Each entry is read as Ansible's
 * parse_address(allow_ranges=False) reads it, regular expressions included, so that a list means
 * the same hosts and ports to both tools; an entry it cannot parse is kept whole as the host name,
 * as Ansible keeps it (stapctl then refuses a name with characters no host name holds).
 */
import type { InventoryBuilder } from './inventory-model.js';
import { inventoryError, variableLayer, type Location } from './inventory-variables.js';

/** Ansible's host_list verify_file: a comma, and no file or directory of that name. */
export function isHostList(source: string, exists: (path: string) => boolean): boolean {
  return source.includes(',') && !exists(source);
}

export interface ListedHost {
  name: string;
  port?: number;
  /** 1-based column of the entry in the list, for errors. */
  column: number;
}

// The patterns of ansible/parsing/utils/addresses.py without the [x:y] ranges: a host with a range
// is a parse failure when ranges are not allowed, and so is kept whole, as a host with no match is.
const BRACKETED_HOST_PORT = /^\[(.+)\]:([0-9]+)$/;
const HOST_PORT = /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/;
const IPV4_PART = '(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])';
const IPV4 = new RegExp(`^(?:${IPV4_PART}\\.){3}${IPV4_PART}$`, 'i');
const H = '[0-9a-f]{1,4}';
// As in Python, where `^` and `$` bind to the first and last alternatives only and re.match anchors
// the start: every alternative but the last may match a prefix of the address.
const IPV6 = new RegExp(
  `^(?:(?:${H}:){7}${H}|(?:${H}:){1,6}:|(?:${H}:)(?::${H}){1,6}|(?:${H}:){2}(?::${H}){1,5}|(?:${H}:){3}(?::${H}){1,4}|` +
    `(?:${H}:){4}(?::${H}){1,3}|(?:${H}:){5}(?::${H}){1,2}|(?:${H}:){6}(?::${H})|:(?::${H}){1,6}|${H}?::|` +
    `(?:0:){6}(?:${IPV4_PART}\\.){3}${IPV4_PART}|::(?:ffff:)?(?:${IPV4_PART}\\.){3}${IPV4_PART}|` +
    `(?:0:){5}ffff:(?:${IPV4_PART}\\.){3}${IPV4_PART}$)`,
  'i',
);
const WORD = /^[\p{L}\p{N}_]$/u;
const LABEL_CHARACTER = /^[\p{L}\p{N}_-]$/u;

/** Ansible's hostname pattern, label by label (no backtracking): a word character first, none ending in `-` or `_`. */
function isHostname(address: string): boolean {
  return address.split('.').every((label) => {
    const characters = [...label];
    const first = characters[0];
    const last = characters.at(-1);
    return first !== undefined && WORD.test(first) && characters.every((char) => LABEL_CHARACTER.test(char)) && last !== '-' && last !== '_';
  });
}

/**
 * parse_address(ENTRY, allow_ranges=False), or the entry itself when that raises. Both port
 * patterns are tried in turn, so `[a:22]:23` is host `a`, port 22, as in Ansible.
 */
export function parseAddress(entry: string): { host: string; port?: number } {
  let address = entry;
  let port: number | undefined;
  for (const pattern of [BRACKETED_HOST_PORT, HOST_PORT]) {
    const match = pattern.exec(address);
    if (match === null) continue;
    address = match[1] ?? '';
    port = Number(match[2]);
  }
  const parsed = !address.includes('[') && (IPV4.test(address) || IPV6.test(address) || isHostname(address));
  if (!parsed) return { host: entry };
  return { host: address, ...(port !== undefined && { port }) };
}

// Python's str.strip() blanks, which are not quite JavaScript's trim() ones.
const BLANKS = new Set([...'\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000'].concat(
  Array.from({ length: 11 }, (_, index) => String.fromCharCode(0x2000 + index)),
));

/** The entry RAW holds, as Python's strip() leaves it, and how many characters it skipped in front. */
function strip(raw: string): { entry: string; leading: number } {
  let start = 0;
  let end = raw.length;
  while (start < end && BLANKS.has(raw.charAt(start))) start += 1;
  while (end > start && BLANKS.has(raw.charAt(end - 1))) end -= 1;
  return { entry: raw.slice(start, end), leading: start };
}

/** The hosts of host-list TEXT in order, each once (its first entry), blank entries skipped. */
export function parseHostList(text: string): ListedHost[] {
  const hosts = new Map<string, ListedHost>();
  let offset = 0;
  for (const raw of text.split(',')) {
    const { entry, leading } = strip(raw);
    const column = offset + leading + 1;
    offset += raw.length + 1;
    if (entry === '') continue;
    const { host, port } = parseAddress(entry);
    if (!hosts.has(host)) hosts.set(host, { name: host, ...(port !== undefined && { port }), column });
  }
  return [...hosts.values()];
}

/** Where a host-list entry is, for errors and `hosts`: the list itself stands for the file. */
export function hostListLocation(text: string, column: number): Location {
  return { file: `host list "${text}"`, line: 1, column };
}

/** Adds the hosts of TEXT to `ungrouped`; a host an earlier source defined is left as it is, as in Ansible. */
export function readHostList(text: string, builder: InventoryBuilder): void {
  const hosts = parseHostList(text);
  if (hosts.length === 0) {
    throw inventoryError(hostListLocation(text, 1), 'the host list names no host', "write host names separated by commas, e.g. 'build01,build02,'");
  }
  for (const { name, port, column } of hosts) {
    if (builder.hasHost(name)) continue;
    const at = hostListLocation(text, column);
    if (name.includes('[')) {
      throw inventoryError(at, `"${name}" is a range, which a host list takes as one host name, as Ansible's host_list does`, `select the range with -H '${name}', or write its hosts out`);
    }
    const layers = port === undefined ? [] : [variableLayer([{ name: 'ansible_port', value: port, at }])];
    builder.literalHost(name, 'ungrouped', at, layers);
  }
}
