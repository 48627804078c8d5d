/**
 * OpenSSH known_hosts files (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"): parsing, host key checks with
 * OpenSSH's verdicts, and the line that accept-new appends.
 */
import { createHash, createHmac } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMissingFile, StapctlError } from '../../errors.js';

export type KnownHostMarker = 'revoked' | 'cert-authority';

export interface KnownHostEntry {
  file: string;
  line: number;
  marker?: KnownHostMarker;
  /** The host field as written: a comma-separated pattern list or one `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'match' }
  | { status: 'unknown' }
  | { status: 'mismatch'; file: string; line: number }
  | { status: 'revoked'; file: string; line: number };

/** Bad lines are skipped, as ssh skips them: one broken line must not lock the user out. */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const entry = parseLine(raw, file, index + 1);
    if (entry !== undefined) entries.push(entry);
  });
  return entries;
}

function parseLine(raw: string, file: string, line: number): KnownHostEntry | undefined {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const fields = text.split(/[ \t]+/);
  let marker: KnownHostMarker | undefined;
  if (fields[0]?.startsWith('@')) {
    const name = fields.shift()?.slice(1);
    if (name !== 'revoked' && name !== 'cert-authority') return undefined;
    marker = name;
  }
  const [hosts, keyType, base64] = fields;
  if (hosts === undefined || keyType === undefined || base64 === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const key = Buffer.from(base64, 'base64');
  if (keyTypeOf(key) !== keyType) return undefined;
  return { file, line, ...(marker !== undefined && { marker }), hosts, keyType, key };
}

/** The key type is the first SSH string inside a public key blob. */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return undefined;
  return key.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH looks a host up as `host` on port 22 and as `[host]:port` elsewhere, in lower case. */
export function hostLookupName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/**
 * OpenSSH's verdict (hostfile.c, check_hostkeys_by_key_or_type): the key matches if any plain
 * entry for the host holds it; otherwise any plain entry for the host, of any key type, makes it
 * a changed key. A matching `@revoked` entry overrides both. ssh negotiates a known key type first
 * (see preferredHostKeyAlgorithms), so an entry of another type only counts when the server offers
 * none of the known types, and ssh then refuses it too.
 *
 * `@cert-authority` entries are ignored: ssh2 does not negotiate host certificates, so every host
 * key we see is a plain key and a CA key can neither vouch for it nor conflict with it.
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = hostLookupName(host, port);
  const forHost = entries.filter((entry) => hostFieldMatches(entry.hosts, name));
  const revoked = forHost.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked !== undefined) return { status: 'revoked', file: revoked.file, line: revoked.line };
  const plain = forHost.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(key))) return { status: 'match' };
  const known = plain[0];
  if (known !== undefined) return { status: 'mismatch', file: known.file, line: known.line };
  return { status: 'unknown' };
}

function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedHostMatches(hosts, name);
  return patternListMatches(hosts, name);
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, the form `HashKnownHosts yes` writes. */
function hashedHostMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1' || parts[2] === undefined || parts[3] === undefined) return false;
  const salt = Buffer.from(parts[2], 'base64');
  if (salt.length !== 20) return false;
  const digest = createHmac('sha1', salt).update(name).digest('base64');
  return digest === parts[3];
}

/** A negated pattern that matches vetoes the whole list, as in OpenSSH's match_pattern_list. */
export function patternListMatches(list: string, name: string): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatches(pattern, name)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

export function wildcardMatches(pattern: string, text: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === text;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(text);
}

export function formatKnownHostsLine(host: string, port: number, key: Buffer): string {
  return `${hostLookupName(host, port)} ${keyTypeOf(key) ?? 'unknown'} ${key.toString('base64')}`;
}

/** `SHA256:` and unpadded base64, as `ssh-keygen -l` and ssh's prompts print it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const RSA_ALGORITHMS = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/**
 * Host key algorithms with the types known for this host first, as OpenSSH orders them, so that a
 * server holding several keys presents the one we can check instead of a spurious mismatch.
 */
export function preferredHostKeyAlgorithms(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  defaults: readonly string[],
): string[] {
  const name = hostLookupName(host, port);
  const knownTypes = new Set(
    entries.filter((entry) => entry.marker === undefined && hostFieldMatches(entry.hosts, name)).map((entry) => entry.keyType),
  );
  const algorithmType = (algorithm: string): string => (RSA_ALGORITHMS.includes(algorithm) ? 'ssh-rsa' : algorithm);
  const known = defaults.filter((algorithm) => knownTypes.has(algorithmType(algorithm)));
  return [...known, ...defaults.filter((algorithm) => !known.includes(algorithm))];
}

/** Missing files are normal (no system file, no user file yet); other read errors are not hidden. */
export function readKnownHostsFiles(files: readonly string[]): KnownHostEntry[] {
  return files.flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (isMissingFile(error)) return [];
      // No host key can be verified against a file we cannot read: refuse rather than guess.
      throw new StapctlError('KNOWN_HOSTS_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
        file,
        hint: 'make it readable, or name another file with --known-hosts',
        cause: error,
      });
    }
    return parseKnownHosts(text, file);
  });
}

/**
 * The known_hosts files of one run, each read once however many hosts are checked against it. A
 * file that accept-new appends to is read again at its next use, so a host met again in the same
 * run (a ProxyJump hop shared by many hosts) is then known.
 */
export class KnownHostsFiles {
  private readonly parsed = new Map<string, KnownHostsIndex>();

  entries(files: readonly string[]): KnownHostEntry[] {
    return files.flatMap((file) => this.index(file).entries);
  }

  /**
   * The entries of FILES that may be for NAME (as hostLookupName gives it), in file order: those
   * that name it literally, and every hashed or wildcard one. A superset of the matches, found
   * without testing every line: a run over 1000 hosts would otherwise test 1000 lines per host.
   */
  candidates(files: readonly string[], name: string): KnownHostEntry[] {
    return files.flatMap((file) => {
      const index = this.index(file);
      const literal = index.literal.get(name) ?? [];
      return literal.length === 0 ? index.patterned : [...literal, ...index.patterned].sort((a, b) => a.line - b.line);
    });
  }

  private index(file: string): KnownHostsIndex {
    let index = this.parsed.get(file);
    if (index === undefined) {
      index = indexEntries(readKnownHostsFiles([file]));
      this.parsed.set(file, index);
    }
    return index;
  }

  record(file: string, host: string, port: number, key: Buffer): void {
    appendKnownHost(file, formatKnownHostsLine(host, port, key));
    this.parsed.delete(file);
  }
}

interface KnownHostsIndex {
  entries: KnownHostEntry[];
  /** By each plain pattern, in lower case: an entry of plain names matches only those. */
  literal: Map<string, KnownHostEntry[]>;
  /** Hashed entries and those with a wildcard or a negation: each host must test them. */
  patterned: KnownHostEntry[];
}

function indexEntries(entries: KnownHostEntry[]): KnownHostsIndex {
  const literal = new Map<string, KnownHostEntry[]>();
  const patterned: KnownHostEntry[] = [];
  for (const entry of entries) {
    const patterns = entry.hosts.split(',');
    if (entry.hosts.startsWith('|') || patterns.some((pattern) => /[*?!]/.test(pattern))) {
      patterned.push(entry);
      continue;
    }
    for (const pattern of new Set(patterns.map((item) => item.toLowerCase()))) literal.set(pattern, [...(literal.get(pattern) ?? []), entry]);
  }
  return { entries, literal, patterned };
}

/**
 * One write(2) of one whole line on an O_APPEND descriptor: concurrent runs recording different
 * hosts never interleave or overwrite each other. The directory and file get ssh's modes.
 */
export function appendKnownHost(file: string, line: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'a+', 0o600);
  try {
    writeSync(fd, `${endsWithNewline(fd) ? '' : '\n'}${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A hand-edited file may lack its final newline; our line must not be glued onto the last one. */
function endsWithNewline(fd: number): boolean {
  const size = fstatSync(fd).size;
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}
