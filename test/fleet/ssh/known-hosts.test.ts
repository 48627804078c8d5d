import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  formatKnownHostsLine,
  keyTypeOf,
  KnownHostsFiles,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  readKnownHostsFiles,
} from '../../../src/fleet/ssh/known-hosts.js';
import { failure } from '../../support/expect.js';

function newKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): { line: string; blob: Buffer } {
  const pair = type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519');
  const [keyType, base64] = pair.public.split(' ');
  return { line: `${keyType} ${base64}`, blob: Buffer.from(base64 ?? '', 'base64') };
}

const run = promisify(execFile);
const a = newKey();
const b = newKey();
const ecdsa = newKey('ecdsa');
const scratch = mkdtempSync(join(tmpdir(), 'stapctl-kh-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseKnownHosts', () => {
  test('skips comments, blank lines, unknown markers and lines whose key does not decode', () => {
    const text = [
      '# comment',
      '',
      `host1 ${a.line}`,
      `@weird host2 ${a.line}`,
      'host3 ssh-ed25519 not*base64',
      `host4 ssh-rsa ${a.line.split(' ')[1]}`,
      `host5`,
      `  host6,host7 ${b.line} a comment`,
    ].join('\n');
    const entries = parseKnownHosts(text, 'kh');
    assert.deepEqual(
      entries.map((entry) => [entry.hosts, entry.line]),
      [
        ['host1', 3],
        ['host6,host7', 8],
      ],
    );
    assert.equal(entries[1]?.keyType, 'ssh-ed25519');
  });

  test('reads the @revoked and @cert-authority markers', () => {
    const entries = parseKnownHosts(`@revoked * ${a.line}\n@cert-authority *.lab ${b.line}\n`, 'kh');
    assert.deepEqual(
      entries.map((entry) => entry.marker),
      ['revoked', 'cert-authority'],
    );
  });
});

describe('checkHostKey', () => {
  test('a listed host with the presented key matches', () => {
    const entries = parseKnownHosts(`other ${b.line}\nbuild1,build2 ${a.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build2', 22, a.blob), { status: 'match' });
  });

  test('host names compare without regard to case', () => {
    const entries = parseKnownHosts(`Build1 ${a.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'BUILD1', 22, a.blob), { status: 'match' });
  });

  test('a host not listed is unknown', () => {
    const entries = parseKnownHosts(`build1 ${a.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build10', 22, a.blob), { status: 'unknown' });
  });

  test('a non-standard port is looked up only in the [host]:port form', () => {
    const entries = parseKnownHosts(`build1 ${a.line}\n[build1]:2222 ${b.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build1', 2222, b.blob), { status: 'match' });
    assert.deepEqual(checkHostKey(entries, 'build1', 2222, a.blob), { status: 'mismatch', file: 'kh', line: 2 });
    assert.deepEqual(checkHostKey(entries, 'build1', 2200, a.blob), { status: 'unknown' });
  });

  test('a known host presenting another key of the same type is a mismatch naming the file and line', () => {
    const entries = parseKnownHosts(`# first\nbuild1 ${a.line}\n`, '/home/u/.ssh/known_hosts');
    assert.deepEqual(checkHostKey(entries, 'build1', 22, b.blob), {
      status: 'mismatch',
      file: '/home/u/.ssh/known_hosts',
      line: 2,
    });
  });

  test('a host known only with a key of another type is a mismatch, as OpenSSH decides', () => {
    const entries = parseKnownHosts(`build1 ${ecdsa.line}\n`, 'kh');
    assert.equal(checkHostKey(entries, 'build1', 22, a.blob).status, 'mismatch');
  });

  test('any matching key among several entries for the host is a match', () => {
    const entries = parseKnownHosts(`build1 ${ecdsa.line}\nbuild1 ${b.line}\nbuild* ${a.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build1', 22, a.blob), { status: 'match' });
  });

  test('wildcards * and ? match host names', () => {
    const entries = parseKnownHosts(`build?.lab,*.farm ${a.line}\n`, 'kh');
    assert.equal(checkHostKey(entries, 'build7.lab', 22, a.blob).status, 'match');
    assert.equal(checkHostKey(entries, 'n1.rack2.farm', 22, a.blob).status, 'match');
    assert.equal(checkHostKey(entries, 'build17.lab', 22, a.blob).status, 'unknown');
  });

  test('a matching negated pattern excludes the host from the line', () => {
    const entries = parseKnownHosts(`build*,!build3 ${a.line}\n`, 'kh');
    assert.equal(checkHostKey(entries, 'build2', 22, a.blob).status, 'match');
    assert.equal(checkHostKey(entries, 'build3', 22, a.blob).status, 'unknown');
  });

  test('wildcards apply to the [host]:port form', () => {
    const entries = parseKnownHosts(`[127.0.1.*]:2222 ${a.line}\n`, 'kh');
    assert.equal(checkHostKey(entries, '127.0.1.9', 2222, a.blob).status, 'match');
  });

  test('a revoked key is refused even when a plain entry lists it', () => {
    const entries = parseKnownHosts(`build1 ${a.line}\n@revoked * ${a.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build1', 22, a.blob), { status: 'revoked', file: 'kh', line: 2 });
  });

  test('a cert-authority entry neither matches nor conflicts with a plain key', () => {
    const entries = parseKnownHosts(`@cert-authority build1 ${b.line}\n`, 'kh');
    assert.deepEqual(checkHostKey(entries, 'build1', 22, a.blob), { status: 'unknown' });
  });

  test('hashed entries written by ssh-keygen -H match their host and port only', () => {
    const file = join(scratch, 'hashed');
    writeFileSync(file, `build1 ${a.line}\n[build2]:2222 ${b.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^\|1\|/);
    const entries = parseKnownHosts(text, file);
    assert.equal(checkHostKey(entries, 'build1', 22, a.blob).status, 'match');
    assert.equal(checkHostKey(entries, 'build2', 2222, b.blob).status, 'match');
    assert.equal(checkHostKey(entries, 'build2', 2222, a.blob).status, 'mismatch');
    assert.equal(checkHostKey(entries, 'build2', 22, b.blob).status, 'unknown');
  });
});

describe('KnownHostsFiles.candidates', () => {
  test('are the lines naming the host, then hashed and wildcard lines, in file order, and nothing else', () => {
    const file = join(scratch, 'indexed');
    writeFileSync(file, [`*.lab ${a.line}`, `other ${a.line}`, `Build1,10.0.0.1 ${b.line}`, `!x,b* ${a.line}`, `build1 ${a.line}`, ''].join('\n'));
    const lines = new KnownHostsFiles().candidates([file], 'build1').map((entry) => entry.line);
    assert.deepEqual(lines, [1, 3, 4, 5]);
  });

  test('give the verdict that the whole file gives, for a host listed, a hashed one and one absent', () => {
    const file = join(scratch, 'indexed-hashed');
    writeFileSync(file, `build1 ${a.line}\nbuild2 ${b.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    writeFileSync(file, `${readFileSync(file, 'utf8')}build3 ${a.line}\n`);
    const files = new KnownHostsFiles();
    for (const [host, key] of [['build1', a.blob], ['build2', a.blob], ['build3', a.blob], ['build3', b.blob], ['build4', a.blob]] as const) {
      assert.deepEqual(checkHostKey(files.candidates([file], host), host, 22, key), checkHostKey(files.entries([file]), host, 22, key));
    }
    assert.equal(checkHostKey(files.candidates([file], 'build2'), 'build2', 22, a.blob).status, 'mismatch');
  });
});

describe('formatting', () => {
  test('fingerprint prints what ssh-keygen -l prints', () => {
    const file = join(scratch, 'pub');
    writeFileSync(file, `${a.line}\n`);
    const printed = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(fingerprint(a.blob), printed);
  });

  test('a recorded line uses [host]:port off port 22 and ssh-keygen -F finds it', () => {
    assert.equal(formatKnownHostsLine('Build1', 22, a.blob), `build1 ${a.line}`);
    const file = join(scratch, 'recorded');
    writeFileSync(file, `${formatKnownHostsLine('127.0.0.1', 2222, a.blob)}\n`);
    const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', file], { encoding: 'utf8' });
    assert.match(found, /found: line 1/);
  });

  test('keyTypeOf reads the type from a key blob', () => {
    assert.equal(keyTypeOf(ecdsa.blob), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOf(Buffer.from([0, 0])), undefined);
  });

  test('known key types come first among host key algorithms, RSA under all its signature names', () => {
    const rsaBlob = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 3])]);
    const entries = parseKnownHosts(`h1 ssh-rsa ${rsaBlob.toString('base64')}\n`, 'kh');
    const defaults = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
    assert.deepEqual(preferredHostKeyAlgorithms(entries, 'h1', 22, defaults), [
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
    ]);
    assert.deepEqual(preferredHostKeyAlgorithms(entries, 'h2', 22, defaults), defaults);
  });
});

describe('known_hosts files', () => {
  test('a known_hosts file that exists but cannot be read refuses every host, naming the file', () => {
    const error = failure(() => readKnownHostsFiles([scratch]), 'KNOWN_HOSTS_UNREADABLE');
    assert.equal(error.file, scratch);
  });

  test('appending creates the directory 0700 and the file 0600 and keeps earlier lines whole', () => {
    const file = join(scratch, 'home', '.ssh', 'known_hosts');
    appendKnownHost(file, formatKnownHostsLine('h1', 22, a.blob));
    assert.equal(statSync(join(scratch, 'home', '.ssh')).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(file, `${readFileSync(file, 'utf8')}# no final newline`);
    appendKnownHost(file, formatKnownHostsLine('h2', 22, b.blob));
    const entries = readKnownHostsFiles([file, join(scratch, 'missing')]);
    assert.deepEqual(
      entries.map((entry) => [entry.hosts, entry.line]),
      [
        ['h1', 1],
        ['h2', 3],
      ],
    );
  });

  test('concurrent appends from several processes never interleave', async () => {
    const file = join(scratch, 'race', 'known_hosts');
    const script = `
      const { appendKnownHost } = await import(${JSON.stringify(new URL('../../../src/fleet/ssh/known-hosts.ts', import.meta.url).href)});
      for (let i = 0; i < 200; i++) appendKnownHost(${JSON.stringify(file)}, 'h' + process.argv[1] + '-' + i + ' ${a.line}');
    `;
    await Promise.all(
      [1, 2, 3, 4].map((n) => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(n)])),
    );
    const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
    assert.equal(entries.length, 800);
  });
});
