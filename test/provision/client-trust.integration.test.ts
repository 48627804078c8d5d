/** Trust for all users in a scratch --root, with the real certutil and real stap-gen-cert certificates. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { CLIENT_CERT_DB, fingerprintOf, runTrust, TRUST_RECORD } from '../../src/provision/client-trust.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-provision-trust-'));
const certificates: Buffer[] = [];

before(async () => {
  for (const name of ['one', 'two']) {
    const dir = join(scratch, name);
    mkdirSync(dir);
    // stap-gen-cert takes the serial from the clock: two certificates of the same second share
    // issuer and serial, and NSS refuses the second one.
    for (;;) {
      execFileSync('/usr/lib/systemtap/stap-gen-cert', [dir], { stdio: 'ignore' });
      const der = readFileSync(join(dir, 'stap.cert'));
      const serial = new X509Certificate(der).serialNumber;
      if (!certificates.some((other) => new X509Certificate(other).serialNumber === serial)) {
        certificates.push(der);
        break;
      }
      await sleep(1000);
    }
  }
});

after(() => rmSync(scratch, { recursive: true, force: true }));

const newRoot = () => mkdtempSync(join(scratch, 'root-'));
const base64 = (der: Buffer | undefined) => (der as Buffer).toString('base64');
const trust = (root: string, ders: (Buffer | undefined)[], revoke = false) => runTrust({ certificates: ders.map(base64), revoke, root }, {});
const listed = (root: string) => execFileSync('certutil', ['-L', '-d', `sql:${join(root, CLIENT_CERT_DB)}`], { encoding: 'utf8' });

describe('trust for all users', () => {
  test('trust adds each server certificate as stap-server with trust P,P,P', () => {
    const root = newRoot();
    const report = trust(root, [certificates[0], certificates[1]]);
    assert.equal(report.exitCode, 0, JSON.stringify(report.errors));
    assert.deepEqual(report.trusted.sort(), certificates.map(fingerprintOf).sort());
    assert.match(listed(root), /^stap-server\s+P,P,P$/m);
  });

  test('every user can read the database, as stap leaves it', () => {
    const root = newRoot();
    trust(root, [certificates[0]]);
    assert.equal(statSync(join(root, CLIENT_CERT_DB, 'cert9.db')).mode & 0o777, 0o644);
  });

  test('trusting a certificate that is already trusted changes nothing', () => {
    const root = newRoot();
    trust(root, [certificates[0]]);
    const report = trust(root, [certificates[0]]);
    assert.deepEqual(report.changed, []);
    assert.equal(report.trusted.length, 1);
  });

  test('revoke removes only the certificates named', () => {
    const root = newRoot();
    trust(root, [certificates[0], certificates[1]]);
    const report = trust(root, [certificates[0]], true);
    assert.deepEqual(report.changed, [fingerprintOf(certificates[0] as Buffer)]);
    assert.deepEqual(report.trusted, [fingerprintOf(certificates[1] as Buffer)]);
  });

  test('trust records which server host each certificate was trusted for, root-only', () => {
    const root = newRoot();
    const [one, two] = certificates.map(fingerprintOf) as [string, string];
    runTrust({ certificates: certificates.map(base64), revoke: false, servers: [{ host: 'h1', fingerprints: [one] }, { host: 'h2', fingerprints: [two] }], root }, {});
    const file = join(root, CLIENT_CERT_DB, TRUST_RECORD);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { servers: { h1: [one], h2: [two] } });
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  test('revoke with no certificate at hand removes what was recorded for the server host, and keeps the others', () => {
    const root = newRoot();
    const [one, two] = certificates.map(fingerprintOf) as [string, string];
    runTrust({ certificates: certificates.map(base64), revoke: false, servers: [{ host: 'h1', fingerprints: [one] }, { host: 'h2', fingerprints: [two] }], root }, {});
    // The servers of h1 are down: the controller has no certificate and no fingerprint for it.
    const report = runTrust({ certificates: [], revoke: true, servers: [{ host: 'h1', fingerprints: [] }], root }, {});
    assert.deepEqual(report.changed, [one]);
    assert.deepEqual(report.trusted, [two]);
    assert.deepEqual(JSON.parse(readFileSync(join(root, CLIENT_CERT_DB, TRUST_RECORD), 'utf8')), { servers: { h2: [two] } });
  });

  test('a second trust of the same certificates for the same hosts leaves the trust record file as it was', () => {
    const root = newRoot();
    const [one] = certificates.map(fingerprintOf) as [string];
    const request = { certificates: [base64(certificates[0])], revoke: false, servers: [{ host: 'h1', fingerprints: [one] }], root };
    runTrust(request, {});
    const file = join(root, CLIENT_CERT_DB, TRUST_RECORD);
    const first = statSync(file, { bigint: true });
    const again = runTrust(request, {});
    assert.equal(again.exitCode, 0, JSON.stringify(again.errors));
    const second = statSync(file, { bigint: true });
    assert.equal(second.ino, first.ino);
    assert.equal(second.mtimeNs, first.mtimeNs);
  });

  test('server hosts named __proto__ and constructor are recorded, kept and revoked by name like any other', () => {
    const root = newRoot();
    const [one, two] = certificates.map(fingerprintOf) as [string, string];
    const servers = [{ host: '__proto__', fingerprints: [one] }, { host: 'constructor', fingerprints: [two] }];
    runTrust({ certificates: certificates.map(base64), revoke: false, servers, root }, {});
    const file = join(root, CLIENT_CERT_DB, TRUST_RECORD);
    assert.equal(readFileSync(file, 'utf8'), `{\n  "servers": {\n    "__proto__": [\n      "${one}"\n    ],\n    "constructor": [\n      "${two}"\n    ]\n  }\n}\n`);
    const report = runTrust({ certificates: [], revoke: true, servers: [{ host: '__proto__', fingerprints: [] }], root }, {});
    assert.deepEqual(report.changed, [one]);
    assert.deepEqual(report.trusted, [two]);
    assert.deepEqual(Object.entries(JSON.parse(readFileSync(file, 'utf8')).servers), [['constructor', [two]]]);
  });

  test('a trust record whose __proto__ host holds no list of fingerprints is refused and changes nothing', () => {
    const root = newRoot();
    trust(root, [certificates[0]]);
    const file = join(root, CLIENT_CERT_DB, TRUST_RECORD);
    writeFileSync(file, '{"servers": {"__proto__": "AB:CD"}}', { mode: 0o600 });
    const report = runTrust({ certificates: [], revoke: true, servers: [{ host: 'h1', fingerprints: [] }], root }, {});
    assert.equal(report.errors[0]?.code, 'TRUST_FAILED');
    assert.match(report.errors[0]?.message ?? '', /is not a trust record stapctl wrote/);
    assert.equal(listed(root).includes('stap-server'), true);
  });

  test('whatever the server hosts are named, revoking one host by its record removes its certificate and keeps the others\' entries', () => {
    const [one, two] = certificates.map(fingerprintOf) as [string, string];
    const hostName = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '0', ''), fc.string());
    fc.assert(
      fc.property(fc.uniqueArray(hostName, { minLength: 2, maxLength: 5 }), ([revoked, ...kept]) => {
        const root = newRoot();
        const servers = [{ host: revoked as string, fingerprints: [two] }, ...kept.map((host) => ({ host, fingerprints: [one] }))];
        runTrust({ certificates: certificates.map(base64), revoke: false, servers, root }, {});
        const report = runTrust({ certificates: [], revoke: true, servers: [{ host: revoked as string, fingerprints: [] }], root }, {});
        assert.deepEqual(report.trusted, [one]);
        const record = JSON.parse(readFileSync(join(root, CLIENT_CERT_DB, TRUST_RECORD), 'utf8')).servers;
        assert.deepEqual(Object.keys(record).sort(), [...kept].sort());
        for (const host of kept) assert.deepEqual(Object.getOwnPropertyDescriptor(record, host)?.value, [one]);
      }),
      { numRuns: 8 },
    );
  });

  test('a trust record that others can write is refused and changes nothing', () => {
    const root = newRoot();
    trust(root, [certificates[0]]);
    const file = join(root, CLIENT_CERT_DB, TRUST_RECORD);
    writeFileSync(file, '{"servers": {"h1": []}}');
    chmodSync(file, 0o666);
    const report = runTrust({ certificates: [], revoke: true, servers: [{ host: 'h1', fingerprints: [] }], root }, {});
    assert.equal(report.errors[0]?.code, 'TRUST_FAILED');
    assert.match(report.errors[0]?.message ?? '', /writable by group or others/);
    assert.equal(listed(root).includes('stap-server'), true);
  });

  test('a client database directory that others can write is refused', () => {
    const root = newRoot();
    mkdirSync(join(root, CLIENT_CERT_DB), { recursive: true });
    chmodSync(join(root, CLIENT_CERT_DB), 0o777);
    const report = trust(root, [certificates[0]]);
    assert.equal(report.errors[0]?.code, 'UNSAFE_PATH');
  });
});
