/**
 * Trust in compile servers for every user of a client host, written where and as systemtap 4.8's
 * `stap --trust-servers=ssl,all-users,no-prompt` writes it (csclient.cxx: add_server_trust,
 * nss_trustNewServer): the NSS database /etc/systemtap/ssl/client, each server certificate under
 * the nickname `stap-server` with trust `P,P,P`, the database files made readable by all (0644).
 * stapctl brings the certificates (read by root on the server hosts) instead of taking whatever
 * answers on the network, and uses certutil (libnss3-tools) on the database.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StapctlError, type SerializedError } from '../errors.js';
import { ensureDirectory, type Trust } from '../service/file-trust.js';
import { inRoot } from '../service/paths.js';

export const CLIENT_CERT_DB = '/etc/systemtap/ssl/client';
const NICKNAME = 'stap-server';
const CERTUTIL = 'certutil';

export interface TrustRequest {
  /** Server certificates, DER in base64. */
  certificates: string[];
  revoke: boolean;
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
    return execFileSync(CERTUTIL, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
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

export function runTrust(request: TrustRequest, trust: Trust): TrustReport {
  const db = inRoot(request.root ?? '/', CLIENT_CERT_DB);
  const wanted = request.certificates.map((text) => Buffer.from(text, 'base64'));
  const scratch = mkdtempSync(join(tmpdir(), 'stapctl-trust-'));
  try {
    if (ensureDirectory(db, trust) !== 'root') {
      throw new StapctlError('UNSAFE_PATH', `refusing to change ${db}: the server account can write it`, { file: db, hint: `chown root:root ${db} && chmod 755 ${db}` });
    }
    if (!existsSync(join(db, 'cert9.db'))) certutil(['-N', '-d', `sql:${db}`, '--empty-password']);
    const present = trustedCertificates(db);
    const presentPrints = new Set(present.map(fingerprintOf));
    const wantedPrints = new Set(wanted.map(fingerprintOf));
    let changed: string[];
    if (request.revoke) {
      changed = [...presentPrints].filter((print) => wantedPrints.has(print));
      if (changed.length > 0) {
        removeAll(db);
        for (const der of present) if (!wantedPrints.has(fingerprintOf(der))) addCertificate(db, der, scratch);
      }
    } else {
      const missing = wanted.filter((der, index) => !presentPrints.has(fingerprintOf(der)) && wanted.findIndex((other) => other.equals(der)) === index);
      for (const der of missing) addCertificate(db, der, scratch);
      changed = missing.map(fingerprintOf);
    }
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
