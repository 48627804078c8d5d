/**
 * apply on one host against real stap-serverd processes, each test in its own scratch --root:
 * conf.d files, status files and processes are what is checked.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { runApply, type ApplyReport } from '../../src/provision/apply.js';
import { MANAGED_MARKER } from '../../src/provision/managed-config.js';
import { runService } from '../../src/service/engine.js';
import { readStatusFiles } from '../../src/service/status-file.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';

const roots: string[] = [];

function makeRoot(conf: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'stapctl-provision-apply-'));
  roots.push(root);
  mkdirSync(join(root, 'etc/sysconfig'), { recursive: true });
  writeFileSync(join(root, 'etc/sysconfig/stap-server'), 'STAP_USER=stap-server\n');
  mkdirSync(join(root, 'etc/stap-server/conf.d'), { recursive: true });
  for (const [name, text] of Object.entries(conf)) writeFileSync(join(root, 'etc/stap-server/conf.d', name), text);
  return root;
}

const confDir = (root: string) => join(root, 'etc/stap-server/conf.d');
const confFiles = (root: string) => readdirSync(confDir(root)).sort();
const server = (nickname: string, ...releases: string[]): ServerSpec => ({ ...emptySpec(), nickname, releases });
const apply = (root: string, servers: ServerSpec[], check = false) => runApply({ servers, check, root });
const running = (root: string) =>
  new Map(readStatusFiles(join(root, 'var/run/stap-server')).entries.map(({ pid, spec }) => [spec.nickname, { pid, releases: spec.releases }]));
const changes = (report: ApplyReport) => report.servers.map(({ nickname, change, action, outcome }) => `${nickname} ${change} ${action} ${outcome}`);

afterEach(async () => {
  for (const root of roots) await runService({ action: 'stop', tokens: [], root });
});

after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe('apply on one host', () => {
  test('apply writes one managed file per declared server and starts each under its nickname', async () => {
    const root = makeRoot();
    const report = await apply(root, [server('a', '6.1.0-a'), server('b', '6.1.0-b')]);
    assert.deepEqual(changes(report), ['a added start done', 'b added start done']);
    assert.equal(report.exitCode, 0);
    assert.deepEqual(confFiles(root), ['a.conf', 'b.conf']);
    assert.equal(readFileSync(join(confDir(root), 'a.conf'), 'utf8').split('\n')[0], MANAGED_MARKER);
    assert.deepEqual([...running(root)].map(([nickname, { releases }]) => [nickname, releases]).sort(), [['a', ['6.1.0-a']], ['b', ['6.1.0-b']]]);
  });

  test('a second apply with the same servers changes nothing and says so', async () => {
    const root = makeRoot();
    const servers = [server('a', '6.1.0-a')];
    await apply(root, servers);
    const before = running(root);
    const report = await apply(root, servers);
    assert.equal(report.changed, false);
    assert.deepEqual(changes(report), ['a unchanged none done']);
    assert.deepEqual(running(root), before);
  });

  test('changing one release restarts only that server', async () => {
    const root = makeRoot();
    await apply(root, [server('a', '6.1.0-a'), server('b', '6.1.0-b')]);
    const before = running(root);
    const report = await apply(root, [server('a', '6.1.0-new'), server('b', '6.1.0-b')]);
    assert.deepEqual(changes(report), ['a changed restart done', 'b unchanged none done']);
    const after = running(root);
    assert.notEqual(after.get('a')?.pid, before.get('a')?.pid);
    assert.deepEqual(after.get('a')?.releases, ['6.1.0-new']);
    assert.equal(after.get('b')?.pid, before.get('b')?.pid);
  });

  test('removing a server stops it and deletes only its managed file', async () => {
    const root = makeRoot({ 'hand.conf': 'NICKNAME=hand\nRELEASE=6.1.0-h\n' });
    await apply(root, [server('a', '6.1.0-a'), server('b', '6.1.0-b')]);
    const report = await apply(root, [server('b', '6.1.0-b')]);
    assert.deepEqual(changes(report), ['b unchanged none done', 'a removed stop done']);
    assert.deepEqual(confFiles(root), ['b.conf', 'hand.conf']);
    assert.deepEqual([...running(root).keys()], ['b']);
  });

  test('--check reports the plan and writes, starts and stops nothing', async () => {
    const root = makeRoot();
    const report = await apply(root, [server('a', '6.1.0-a')], true);
    assert.deepEqual(changes(report), ['a added start planned']);
    assert.equal(report.changed, true);
    assert.deepEqual(confFiles(root), []);
    assert.equal(running(root).size, 0);
  });

  test('a declared server whose file name a hand-written file holds fails and leaves that file alone', async () => {
    const root = makeRoot({ 'a.conf': 'NICKNAME=a\n' });
    const report = await apply(root, [server('a', '6.1.0-a')]);
    assert.equal(report.exitCode, 1);
    assert.equal(report.servers[0]?.error?.code, 'CONFIG_CONFLICT');
    assert.equal(readFileSync(join(confDir(root), 'a.conf'), 'utf8'), 'NICKNAME=a\n');
  });

  test('a server whose value would forge a line of its file is refused before anything is written', async () => {
    const root = makeRoot();
    const report = await apply(root, [{ ...server('a', '6.1.0-a'), arch: 'x86_64\nUSER=root' }]);
    assert.equal(report.errors[0]?.code, 'USAGE');
    assert.deepEqual(confFiles(root), []);
  });

  test('a conf.d that others can write is refused before anything is written', async () => {
    const root = makeRoot();
    chmodSync(confDir(root), 0o777);
    const report = await apply(root, [server('a', '6.1.0-a')]);
    assert.equal(report.errors[0]?.code, 'UNSAFE_PATH');
    assert.equal(existsSync(join(confDir(root), 'a.conf')), false);
  });
});
