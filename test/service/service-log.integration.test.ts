import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceLog, openLogFile } from '../../src/service/service-log.js';
import { lookupGroup, lookupUser } from '../../src/service/users.js';

const trust = { serverUid: lookupUser('stap-server')?.uid, serverGid: lookupGroup('stap-server')?.gid };

/** A ServiceLog on a freshly opened file, as the engine makes one. */
const openedLog = (file: string, options: { logger?: string } = {}) => new ServiceLog(file, { ...options, fd: openLogFile(file, trust).fd });

const dir = mkdtempSync(join(tmpdir(), 'stapctl-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const LINE = /^[A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d: /;

async function waitForFile(file: string): Promise<string> {
  for (let i = 0; i < 100 && !existsSync(file); i += 1) await sleep(20);
  return readFileSync(file, 'utf8');
}

describe('ServiceLog', () => {
  test('log, pass and error append dated lines in order', () => {
    const file = join(dir, 'service.log');
    const log = openedLog(file, { logger: join(dir, 'no-logger') });
    log.log('Starting stap-server -a "x86_64"');
    log.pass('stap-server start');
    log.error('stap-server start');
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[3], '');
    assert.match(lines[0] ?? '', LINE);
    assert.match(lines[0] ?? '', /: Starting stap-server -a "x86_64"$/);
    assert.match(lines[1] ?? '', /: Pass: stap-server start$/);
    assert.match(lines[2] ?? '', /: Error: stap-server start$/);
    assert.deepEqual(log.tail(1).map((line) => line.replace(LINE, '')), ['Error: stap-server start']);
    assert.equal(log.writeError, undefined);
  });

  test('errors are also handed to the syslog client, as one argument', async () => {
    const file = join(dir, 'syslog.log');
    const received = join(dir, 'logger-received');
    const logger = join(dir, 'fake-logger');
    writeFileSync(logger, `#!/bin/sh\nprintf '%s|' "$@" > ${received}.tmp && mv ${received}.tmp ${received}\n`);
    chmodSync(logger, 0o755);
    openedLog(file, { logger }).error('stap-server start -D "A=$(id)"');
    assert.equal(await waitForFile(received), '--|Error: stap-server start -D "A=$(id)"|');
  });

  test('a missing logger does not stop the line reaching the file', () => {
    const file = join(dir, 'nologger.log');
    openedLog(file, { logger: join(dir, 'absent-logger') }).error('boom');
    assert.match(readFileSync(file, 'utf8'), /: Error: boom\n$/);
  });

  test('a failed write is recorded as LOG_UNWRITABLE instead of failing the action', () => {
    const log = new ServiceLog(join(dir, 'full'), { fd: openSync('/dev/full', 'w') });
    log.log('one');
    log.pass('two');
    log.close();
    assert.equal(log.writeError?.code, 'LOG_UNWRITABLE');
    assert.equal(log.writeError?.file, join(dir, 'full'));
  });

  test('a log with no descriptor writes nothing', () => {
    const file = join(dir, 'never-opened.log');
    new ServiceLog(file).log('one');
    assert.equal(existsSync(file), false);
  });
});

describe('openLogFile', () => {
  const gid = lookupGroup('stap-server')?.gid;

  test('creates the directory and a group-writable file of group stap-server', () => {
    const file = join(dir, 'var', 'log', 'stap-server', 'log');
    const opened = openLogFile(file, trust);
    closeSync(opened.fd);
    assert.equal(opened.preparation, 'created');
    const stat = statSync(file);
    assert.equal(stat.mode & 0o777, 0o664);
    assert.equal(stat.gid, gid);
    assert.equal(stat.size, 0);
    assert.equal(statSync(join(dir, 'var', 'log')).mode & 0o777, 0o755);
  });

  test('a log the stock script made root-only is shared with the group, its lines kept', () => {
    const file = join(dir, 'stock.log');
    writeFileSync(file, 'Nov 29 18:00:45: Exec: mkdir -p /var/run/stap-server\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const opened = openLogFile(file, trust);
    closeSync(opened.fd);
    assert.equal(opened.preparation, 'shared');
    assert.equal(statSync(file).mode & 0o777, 0o664);
    assert.equal(statSync(file).gid, gid);
    assert.match(readFileSync(file, 'utf8'), /Exec: mkdir/);
  });

  test('a file that is not a service log is left alone', () => {
    const file = join(dir, 'shadow');
    writeFileSync(file, 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    const opened = openLogFile(file, trust);
    closeSync(opened.fd);
    assert.equal(opened.preparation, 'left-alone');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(file).gid, 0);
  });

  test('a symlink is refused as LOG_UNWRITABLE and its target is neither created nor changed', () => {
    const target = join(dir, 'nologin');
    symlinkSync(target, join(dir, 'via-symlink'));
    assert.throws(() => openLogFile(join(dir, 'via-symlink'), trust), { code: 'LOG_UNWRITABLE', message: /symbolic link/ });
    assert.equal(existsSync(target), false);
  });

  test('a file with other hard links is refused and left as it was', () => {
    const target = join(dir, 'target');
    writeFileSync(target, '', { mode: 0o600 });
    chmodSync(target, 0o600);
    linkSync(target, join(dir, 'via-hardlink'));
    assert.throws(() => openLogFile(join(dir, 'via-hardlink'), trust), { code: 'LOG_UNWRITABLE', message: /2 hard links/ });
    assert.equal(statSync(target).mode & 0o777, 0o600);
    assert.equal(statSync(target).size, 0);
  });

  test('a FIFO is refused without blocking', () => {
    const fifo = join(dir, 'fifo.log');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => openLogFile(fifo, trust), { code: 'LOG_UNWRITABLE' });
  });

  test('a file owned by someone other than root and the server account is refused', () => {
    const file = join(dir, 'nobody.log');
    writeFileSync(file, '');
    chownSync(file, 65534, 65534);
    assert.throws(() => openLogFile(file, trust), { code: 'LOG_UNWRITABLE', message: /owned by uid 65534/ });
  });

  test('a log directory writable by everyone is UNSAFE_PATH and nothing is created', () => {
    const open = join(dir, 'open-dir');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.throws(() => openLogFile(join(open, 'log'), trust), { code: 'UNSAFE_PATH', message: new RegExp(`${open}: it is writable by everyone`) });
    assert.deepEqual(readdirSync(open), []);
  });

  test("in a directory the server account owns, the server account's log is appended to as it is", () => {
    const owned = join(dir, 'server-owned');
    mkdirSync(owned);
    chownSync(owned, trust.serverUid ?? -1, trust.serverGid ?? -1);
    const file = join(owned, 'log');
    writeFileSync(file, 'Sun Nov 29 18:04:45 2026: Using network address [::]:1\n', { mode: 0o644 });
    chownSync(file, trust.serverUid ?? -1, trust.serverGid ?? -1);
    const opened = openLogFile(file, trust);
    new ServiceLog(file, { fd: opened.fd, logger: join(dir, 'no-logger') }).log('Pass: x');
    closeSync(opened.fd);
    assert.equal(opened.preparation, 'shared');
    assert.equal(statSync(file).uid, trust.serverUid);
    assert.match(readFileSync(file, 'utf8'), /Using network address.*\n.*: Pass: x\n$/);
  });

  test('without group stap-server the log is opened but not shared', () => {
    const file = join(dir, 'nogroup.log');
    const opened = openLogFile(file, { serverUid: trust.serverUid });
    closeSync(opened.fd);
    assert.equal(opened.preparation, 'left-alone');
  });
});
