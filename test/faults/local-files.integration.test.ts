/**
 * Faults: the server account attacks the files root touches (issue 6, reproductions 1 and 2),
 * and hosts packaged the Red Hat way still work. Each test asserts what survived.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runService } from '../../src/service/engine.js';
import type { StartStep } from '../../src/service/report.js';
import { cleanUp, makeRoot, recordedPids, runCli, server, serversOf, statFiles } from './local-support.js';

after(cleanUp);

const startSteps = (steps: readonly { kind: string }[]) => steps.filter((step): step is StartStep => step.kind === 'start');

describe('a symlinked log', () => {
  test("root's stop neither creates nor changes the file a symlinked log points to", async () => {
    const scratch = makeRoot({ redHat: true });
    const target = join(scratch.root, 'etc/nologin');
    symlinkSync(target, join(scratch.logDir, 'log'));
    const report = await runService({ action: 'stop', tokens: [], root: scratch.root });
    assert.equal(report.exitCode, 0);
    assert.equal(existsSync(target), false);
    assert.ok(report.warnings.some((warning) => /log: not writing to this log: it is a symbolic link/.test(warning)), report.warnings.join('\n'));
  });

  test("root's stop leaves a root-only file behind a symlinked log as it was", async () => {
    const scratch = makeRoot({ redHat: true });
    const target = join(scratch.root, 'etc/shadow-like');
    writeFileSync(target, 'root:*:1:0:::\n', { mode: 0o640 });
    chmodSync(target, 0o640);
    symlinkSync(target, join(scratch.logDir, 'log'));
    await runService({ action: 'stop', tokens: [], root: scratch.root });
    const stats = statSync(target);
    assert.deepEqual([stats.uid, stats.gid, stats.mode & 0o777, readFileSync(target, 'utf8')], [0, 0, 0o640, 'root:*:1:0:::\n']);
  });
});

describe('a forged status file', () => {
  test('a status file the server account wrote with LOG=<path> is ignored and nothing is created at the path', async () => {
    const scratch = makeRoot({ redHat: true });
    const forged = join(scratch.statPath, '4000000.stat');
    writeFileSync(forged, 'ARCH=x86_64\nUSER=stap-server\nNICKNAME=x\nRUNTIME=\nRELEASE+=6.1.0-fault-a\nLOG=/etc/ld.so.preload\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n');
    chownSync(forged, server.uid, server.gid);
    const report = await runService({ action: 'restart', tokens: [], root: scratch.root });
    assert.equal(existsSync(join(scratch.root, 'etc/ld.so.preload')), false);
    assert.ok(report.warnings.some((warning) => warning.includes(`${forged}: ignored, it is owned by uid ${server.uid}`)), report.warnings.join('\n'));
    assert.ok(existsSync(forged), 'an ignored file is left where it is');
  });

  test("a LOG= path read from root's own status file is not created by root when the server is restarted", async () => {
    const scratch = makeRoot({ redHat: true });
    // Root's record of a server that has died, whose log path no config or option names.
    writeFileSync(join(scratch.statPath, '4000001.stat'), 'ARCH=x86_64\nUSER=stap-server\nNICKNAME=gone\nRUNTIME=\nRELEASE+=6.1.0-fault-a\nLOG=/var/log/stap-server/recorded.log\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n', { mode: 0o644 });
    const report = await runService({ action: 'restart', tokens: [], root: scratch.root });
    assert.deepEqual(startSteps(report.steps).map((step) => step.outcome), ['started']);
    const recorded = join(scratch.logDir, 'recorded.log');
    // stap-serverd makes its own log, as the server account; root made nothing there.
    assert.ok(!existsSync(recorded) || statSync(recorded).uid === server.uid);
  });
});

describe('planted symlinks', () => {
  test('symlinks planted at the status file names a run could predict leave their target unchanged', async () => {
    const scratch = makeRoot({ redHat: true });
    const precious = join(scratch.root, 'etc/precious');
    writeFileSync(precious, 'root only\n', { mode: 0o600 });
    const next = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    // The temporary name the old writer opened, following symlinks, for each PID to come.
    const planted = 3000;
    for (let pid = next + 1; pid <= next + planted; pid += 1) symlinkSync(precious, join(scratch.statPath, `.${pid}.stat.tmp-${process.pid}`));
    const report = await runService({ action: 'start', tokens: [{ flag: 'r', value: '6.1.0-fault-a' }], root: scratch.root });
    assert.equal(readFileSync(precious, 'utf8'), 'root only\n');
    assert.equal(statSync(precious).mode & 0o777, 0o600);
    const [step] = startSteps(report.steps);
    assert.equal(step?.outcome, 'started');
    const pid = step?.pid ?? 0;
    assert.ok(pid > next && pid <= next + planted, `the server's PID ${pid} fell outside the planted names: the machine started ${planted} processes meanwhile`);
    assert.ok(lstatSync(join(scratch.statPath, `${step?.pid}.stat`)).isFile(), 'the status file is a file of its own');
  });
});

describe('unsafe state directories', () => {
  test('a status directory writable by everyone refuses start, naming it and the fix, and nothing changes', async () => {
    const scratch = makeRoot();
    makeDirectory(scratch.statPath, 0o777);
    const result = await runCli(scratch, ['start', '-r', '6.1.0-fault-a']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`refusing to change files in ${scratch.statPath}: it is writable by everyone \\(mode 0777\\)`));
    assert.match(result.stderr, /hint: .*chmod go-w/);
    assert.deepEqual([readdirSync(scratch.statPath), serversOf(scratch), existsSync(scratch.logDir)], [[], [], false]);
  });

  test('a status directory writable by a foreign group refuses stop and nothing changes', async () => {
    const scratch = makeRoot();
    makeDirectory(scratch.statPath, 0o775, 65534);
    writeFileSync(join(scratch.statPath, '4000002.stat'), 'ARCH=x86_64\n', { mode: 0o644 });
    const result = await runCli(scratch, ['stop']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /writable by group 65534/);
    assert.deepEqual(readdirSync(scratch.statPath), ['4000002.stat']);
  });

  test('a log directory writable by everyone refuses start and nothing is created', async () => {
    const scratch = makeRoot();
    makeDirectory(scratch.logDir, 0o777);
    const result = await runCli(scratch, ['start', '-r', '6.1.0-fault-a']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`refusing to change files in ${scratch.logDir}`));
    assert.deepEqual([readdirSync(scratch.logDir), existsSync(scratch.statPath), serversOf(scratch)], [[], false, []]);
  });

  test('status in a directory writable by everyone reports and removes nothing', async () => {
    const scratch = makeRoot();
    makeDirectory(scratch.statPath, 0o777);
    writeFileSync(join(scratch.statPath, '4000003.stat'), 'ARCH=x86_64\nUSER=stap-server\n', { mode: 0o644 });
    const result = await runCli(scratch, ['status']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /status removes nothing there/);
    assert.deepEqual(readdirSync(scratch.statPath), ['4000003.stat']);
  });
});

describe('a host packaged the Red Hat way', () => {
  test('start, status and stop work with the log and status directories owned by stap-server', async () => {
    const scratch = makeRoot({ redHat: true });
    const started = await runCli(scratch, ['start', '-r', '6.1.0-fault-a']);
    assert.equal(started.code, 0, started.stderr);
    const [pid] = recordedPids(scratch);
    assert.deepEqual(serversOf(scratch), [pid]);
    const record = statSync(join(scratch.statPath, `${pid}.stat`));
    assert.deepEqual([record.uid, record.mode & 0o777], [0, 0o644]);
    const log = statSync(join(scratch.logDir, 'log'));
    assert.deepEqual([log.uid, log.gid, log.mode & 0o777], [0, server.gid, 0o664]);
    assert.equal((await runCli(scratch, ['status'])).code, 0);
    assert.equal((await runCli(scratch, ['stop'])).code, 0);
    assert.deepEqual([statFiles(scratch), serversOf(scratch)], [[], []]);
    assert.match(readFileSync(join(scratch.logDir, 'log'), 'utf8'), /: Pass: stap-server stop/);
  });
});

/** A directory of the root made with an exact mode and group, as an admin's mistake would leave it. */
function makeDirectory(dir: string, mode: number, gid = 0): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 0, gid);
  chmodSync(dir, mode);
}
