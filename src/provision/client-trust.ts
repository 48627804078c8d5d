/**
 * Trust in compile servers for every user of a client host, written where and as systemtap 4.8's
 * `stap --trust-servers=ssl,all-users,no-prompt` writes it (csclient.cxx: add_server_trust,
 * nss_trustNewServer): the NSS database /etc/systemtap/ssl/client, each server certificate under
 * the nickname `stap-server` with trust `P,P,P`, the database files made readable by all (0644).
 * stapctl brings the certificates (read by root on the server hosts) instead of taking whatever
 * answers on the network, and uses certutil (libnss3-tools) on the database.
 *
 * Beside the database, root records which server host each certificate was trusted for
 * (stapctl-servers.json), so that a revoke needs neither the servers nor their hosts: a host
 * being retired is the usual reason to revoke, and its servers are then stopped or gone.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { childProcess } from '../child-process.js';
import { isMissingFile, StapctlError, type SerializedError } from '../errors.js';
import { ensureDirectory, readCheckedFile, UntrustedFile, writeFileAtomically, type Trust } from '../service/file-trust.js';
import { inRoot } from '../service/paths.js';
import { DEFAULT_SERVER_USER, lookupGroup, lookupUser, SERVER_GROUP } from '../service/users.js';

export const CLIENT_CERT_DB = '/etc/systemtap/ssl/client';
/** Which server hosts the certificates were trusted for: `{"servers": {"build01": ["AB:CD:..."]}}`. */
export const TRUST_RECORD = 'stapctl-servers.json';
const NICKNAME = 'stap-server';
const CERTUTIL = 'certutil';
const MAX_RECORD_BYTES = 1024 * 1024;

/** A server host of `--servers`, with the fingerprints of the certificates its running servers presented. */
export interface TrustedServer {
  host: string;
  fingerprints: string[];
}

export interface TrustRequest {
  /** Server certificates, DER in base64. */
  certificates: string[];
  revoke: boolean;
  /** The `--servers` hosts: recorded with their fingerprints on trust, their recorded ones removed on revoke. */
  servers?: TrustedServer[];
  root?: string;
}

export interface TrustReport {
  database: string;
  /** SHA-256 fingerprints of what was added (trust) or removed (revoke). */
  changed: string[];
  /** The fingerprints trusted once done. */
  trusted: string[];
  exitCode: number;
  errors: SerializedError[];
}

export function fingerprintOf(der: Buffer): string {
  return new X509Certificate(der).fingerprint256;
}

function certutil(args: string[]): string {
  try {
    return childProcess().execFileSync(CERTUTIL, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (failure.code === 'ENOENT') {
      throw new StapctlError('TRUST_FAILED', 'certutil is not installed on this host', { hint: 'install it: apt-get install libnss3-tools (dnf install nss-tools)' });
    }
    throw new StapctlError('TRUST_FAILED', `certutil ${args[0]} failed (exit ${failure.status ?? '?'})`, { detail: String(failure.stderr ?? '').trim(), hint: 'run certutil -L -d sql:/etc/systemtap/ssl/client to inspect the database' });
  }
}

/** The DER of every certificate under the nickname, from certutil's PEM listing. */
function trustedCertificates(db: string): Buffer[] {
  if (!existsSync(join(db, 'cert9.db'))) return [];
  let pem: string;
  try {
    pem = certutil(['-L', '-d', `sql:${db}`, '-n', NICKNAME, '-a']);
  } catch {
    // certutil exits 255 when no certificate has the nickname.
    return [];
  }
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map((match) => Buffer.from((match[1] ?? '').replace(/\s/g, ''), 'base64'));
}

function addCertificate(db: string, der: Buffer, scratch: string): void {
  const file = join(scratch, 'server.cert');
  writeFileSync(file, der, { mode: 0o600 });
  certutil(['-A', '-d', `sql:${db}`, '-n', NICKNAME, '-t', 'P,P,P', '-i', file]);
}

/** certutil -D removes one certificate of the nickname per call: all go, the kept come back. */
function removeAll(db: string): void {
  while (trustedCertificates(db).length > 0) certutil(['-D', '-d', `sql:${db}`, '-n', NICKNAME]);
}

/** Who besides root may own directories on this host: the default server account and its group. */
export function hostTrust(): Trust {
  const serverUid = lookupUser(DEFAULT_SERVER_USER)?.uid;
  const serverGid = lookupGroup(SERVER_GROUP)?.gid;
  return { ...(serverUid !== undefined && { serverUid }), ...(serverGid !== undefined && { serverGid }) };
}

export function runTrust(request: TrustRequest, trust: Trust): TrustReport {
  const db = inRoot(request.root ?? '/', CLIENT_CERT_DB);
  const wanted = request.certificates.map((text) => Buffer.from(text, 'base64'));
  const scratch = mkdtempSync(join(tmpdir(), 'stapctl-trust-'));
  try {
    if (ensureDirectory(db, trust) !== 'root') {
      throw new StapctlError('UNSAFE_PATH', `refusing to change ${db}: the server account can write it`, { file: db, hint: `chown root:root ${db} && chmod 755 ${db}` });
    }
    if (!existsSync(join(db, 'cert9.db'))) certutil(['-N', '-d', `sql:${db}`, '--empty-password']);
    const { record, text } = readTrustRecord(db);
    const servers = request.servers ?? [];
    const changed = request.revoke ? revoke(db, wanted, servers, record, scratch) : addMissing(db, wanted, servers, record, scratch);
    const recorded = trustRecordText(record);
    if (recorded !== text) writeFileAtomically(db, TRUST_RECORD, recorded, 0o600);
    // As stap does: every user's stap reads this database.
    for (const name of readdirSync(db)) if (name.endsWith('.db')) chmodSync(join(db, name), 0o644);
    return { database: db, changed, trusted: trustedCertificates(db).map(fingerprintOf), exitCode: 0, errors: [] };
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return { database: db, changed: [], trusted: [], exitCode: 1, errors: [error.toJSON()] };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Adds the WANTED certificates not yet trusted and records them under the server hosts that presented them. */
function addMissing(db: string, wanted: Buffer[], servers: TrustedServer[], record: TrustRecord, scratch: string): string[] {
  const presentPrints = new Set(trustedCertificates(db).map(fingerprintOf));
  const missing = wanted.filter((der, index) => !presentPrints.has(fingerprintOf(der)) && wanted.findIndex((other) => other.equals(der)) === index);
  for (const der of missing) addCertificate(db, der, scratch);
  const wantedPrints = new Set(wanted.map(fingerprintOf));
  for (const { host, fingerprints } of servers) {
    const kept = new Set([...(record.get(host) ?? []), ...fingerprints.filter((print) => wantedPrints.has(print))]);
    if (kept.size > 0) record.set(host, [...kept]);
  }
  return missing.map(fingerprintOf);
}

/**
 * Removes the WANTED certificates and those recorded for the server hosts, whether or not their
 * servers still run; a certificate several hosts shared goes for all of them, as the database
 * holds it once. The others are kept.
 */
function revoke(db: string, wanted: Buffer[], servers: TrustedServer[], record: TrustRecord, scratch: string): string[] {
  const revoked = new Set(wanted.map(fingerprintOf));
  for (const { host, fingerprints } of servers) for (const print of [...(record.get(host) ?? []), ...fingerprints]) revoked.add(print);
  const present = trustedCertificates(db);
  const changed = [...new Set(present.map(fingerprintOf))].filter((print) => revoked.has(print));
  if (changed.length > 0) {
    removeAll(db);
    for (const der of present) if (!revoked.has(fingerprintOf(der))) addCertificate(db, der, scratch);
  }
  for (const [host, prints] of record) {
    const kept = prints.filter((print) => !revoked.has(print));
    if (kept.length > 0) record.set(host, kept);
    else record.delete(host);
  }
  return changed;
}

/**
 * Fingerprints by server host. A Map, not an object's keys: a host may be named `__proto__` or
 * `constructor` (an inventory names hosts as it likes), and an object would take such a name
 * for its prototype's.
 */
type TrustRecord = Map<string, string[]>;

const recordFile = z.object({ servers: z.record(z.string(), z.unknown()) });
// Checked on the parsed object's own entries: zod's record drops a `__proto__` key unchecked.
const hostFingerprints = z.array(z.tuple([z.string(), z.array(z.string())]));

/** The file as root writes it; a missing file is the empty record. */
function trustRecordText(record: TrustRecord): string {
  return `${JSON.stringify({ servers: Object.fromEntries(record) }, null, 2)}\n`;
}

/**
 * The record root wrote beside the database (root's, writable by nobody else), and the file's
 * text so that an unchanged record is not written again; no file yet is an empty record.
 */
function readTrustRecord(db: string): { record: TrustRecord; text: string } {
  const file = join(db, TRUST_RECORD);
  let text: string;
  try {
    text = readCheckedFile(file, { owners: [0], privateToOwner: true }, MAX_RECORD_BYTES);
  } catch (error) {
    if (isMissingFile(error)) return { record: new Map(), text: trustRecordText(new Map()) };
    const reason = error instanceof UntrustedFile ? error.message : `${file}: ${(error as Error).message}`;
    throw new StapctlError('TRUST_FAILED', `cannot use the trust record ${reason}`, { file, hint: `check it, or remove ${file}: stapctl then forgets which server host each certificate came from` });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const hosts = recordFile.safeParse(parsed).success ? hostFingerprints.safeParse(Object.entries((parsed as { servers: object }).servers)) : undefined;
  if (!hosts?.success) {
    throw new StapctlError('TRUST_FAILED', `${file} is not a trust record stapctl wrote`, { file, hint: `remove ${file}: stapctl then forgets which server host each certificate came from` });
  }
  return { record: new Map(hosts.data), text };
}
