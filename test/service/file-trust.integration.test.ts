/**
 * The StrictModes check and the safe mkdir, on real directories (as root, in a scratch folder
 * under the sticky /tmp), with the real stap-server account as the server account.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ensureDirectory } from '../../src/service/file-trust.js';
import { lookupGroup, lookupUser } from '../../src/service/users.js';

const trust = { serverUid: lookupUser('stap-server')?.uid, serverGid: lookupGroup('stap-server')?.gid };
const base = mkdtempSync(join(tmpdir(), 'stapctl-trust-'));
after(() => rmSync(base, { recursive: true, force: true }));

let count = 0;
/** A fresh root-owned 0755 directory. */
function fresh(): string {
  count += 1;
  const dir = join(base, `d${count}`);
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

const serverOwns = (dir: string) => chownSync(dir, trust.serverUid ?? -1, trust.serverGid ?? -1);

describe('ensureDirectory', () => {
  test('makes each missing directory 0755 and root-owned, and calls it root\'s', () => {
    const dir = join(fresh(), 'var', 'run', 'stap-server');
    assert.equal(ensureDirectory(dir, trust), 'root');
    const stats = statSync(dir);
    assert.equal(stats.uid, 0);
    assert.equal(stats.mode & 0o7777, 0o755);
  });

  test('with create false it checks and makes nothing', () => {
    const top = fresh();
    assert.equal(ensureDirectory(join(top, 'a', 'b'), trust, { create: false }), 'root');
    assert.deepEqual(readdirSync(top), []);
  });

  test('a directory the server account owns, as Red Hat packages it, is the server\'s', () => {
    const dir = join(fresh(), 'stap-server');
    mkdirSync(dir);
    serverOwns(dir);
    assert.equal(ensureDirectory(dir, trust), 'server');
  });

  test('a directory writable by everyone is refused, naming it and the fix', () => {
    const dir = fresh();
    chmodSync(dir, 0o777);
    assert.throws(() => ensureDirectory(dir, trust), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'UNSAFE_PATH');
      assert.match(error.message, new RegExp(`${dir}: it is writable by everyone \\(mode 0777\\)`));
      assert.match(error.hint ?? '', /chmod go-w/);
      return true;
    });
  });

  test('a directory writable by a foreign group is refused', () => {
    const dir = fresh();
    chownSync(dir, 0, 65534);
    chmodSync(dir, 0o775);
    assert.throws(() => ensureDirectory(dir, trust), { code: 'UNSAFE_PATH', message: /writable by group 65534/ });
  });

  test('a directory owned by another user is refused', () => {
    const dir = fresh();
    chownSync(dir, 65534, 0);
    assert.throws(() => ensureDirectory(dir, trust), { code: 'UNSAFE_PATH', message: /owned by uid 65534/ });
  });

  test('a directory below one the server account owns is refused: it could swap it for a symlink', () => {
    const owned = join(fresh(), 'owned');
    mkdirSync(join(owned, 'sub'), { recursive: true });
    serverOwns(owned);
    assert.throws(() => ensureDirectory(join(owned, 'sub'), trust), { code: 'UNSAFE_PATH', message: new RegExp(`${owned}: the server account can write it`) });
  });

  test('nothing is created inside a directory the server account owns', () => {
    const owned = join(fresh(), 'owned');
    mkdirSync(owned);
    serverOwns(owned);
    assert.throws(() => ensureDirectory(join(owned, 'new'), trust), { code: 'UNSAFE_PATH' });
    assert.deepEqual(readdirSync(owned), []);
  });

  test('a symlink in a root-only directory is followed, as /var/run to /run', () => {
    const top = fresh();
    mkdirSync(join(top, 'run', 'stap-server'), { recursive: true });
    symlinkSync('run', join(top, 'varrun'));
    assert.equal(ensureDirectory(join(top, 'varrun', 'stap-server'), trust), 'root');
  });

  test('a symlink the server account planted in its directory is refused, and its target left alone', () => {
    const owned = join(fresh(), 'owned');
    mkdirSync(owned);
    const etc = fresh();
    symlinkSync(etc, join(owned, 'logs'));
    serverOwns(owned);
    assert.throws(() => ensureDirectory(join(owned, 'logs', 'new'), trust), { code: 'UNSAFE_PATH' });
    assert.deepEqual(readdirSync(etc), []);
  });

  test('a sticky directory everyone may write is passed through to root\'s entry, as /tmp', () => {
    const sticky = fresh();
    chmodSync(sticky, 0o1777);
    mkdirSync(join(sticky, 'mine'));
    assert.equal(ensureDirectory(join(sticky, 'mine'), trust), 'root');
  });

  test('an entry someone else made in a sticky directory is refused', () => {
    const sticky = fresh();
    chmodSync(sticky, 0o1777);
    mkdirSync(join(sticky, 'theirs'));
    chownSync(join(sticky, 'theirs'), 65534, 65534);
    assert.throws(() => ensureDirectory(join(sticky, 'theirs', 'x'), trust), { code: 'UNSAFE_PATH' });
    assert.equal(existsSync(join(sticky, 'theirs', 'x')), false);
  });

  test('a file where a directory should be is refused', () => {
    const top = fresh();
    symlinkSync('/etc/hostname', join(top, 'file'));
    assert.throws(() => ensureDirectory(join(top, 'file'), trust), { code: 'UNSAFE_PATH', message: /not a directory/ });
  });
});
