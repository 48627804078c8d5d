/**
 * The engine against real stap-serverd processes run as user stap-server, each test in its own
 * scratch --root, checked in /proc, on their ports, in status files and in the log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { runService, type ServiceRequest } from '../../src/service/engine.js';
import type { OptionToken } from '../../src/service/server-options.js';
import { LOCK_FILE } from '../../src/service/lock.js';
import { readProcess } from '../../src/service/proc.js';
import type { ActionReport, StartStep, StatusStep } from '../../src/service/report.js';
import { parseStatusFile } from '../../src/service/status-file.js';
import { lookupUser } from '../../src/service/users.js';
import { acceptsTcp } from '../support/expect.js';

const roots: string[] = [];

function makeRoot(options: { conf?: Record<string, string>; releases?: string[] } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'stapctl-engine-'));
  roots.push(root);
  mkdirSync(join(root, 'etc/sysconfig'), { recursive: true });
  writeFileSync(join(root, 'etc/sysconfig/stap-server'), 'STAP_USER=stap-server\n');
  mkdirSync(join(root, 'etc/stap-server/conf.d'), { recursive: true });
  for (const [name, text] of Object.entries(options.conf ?? {})) writeFileSync(join(root, 'etc/stap-server/conf.d', name), text);
  for (const release of options.releases ?? ['6.1.0-test-a', '6.1.0-test-b']) mkdirSync(join(root, 'lib/modules', release), { recursive: true });
  return root;
}

const statDir = (root: string) => join(root, 'var/run/stap-server');
const statFiles = (root: string) => (existsSync(statDir(root)) ? readdirSync(statDir(root)).filter((name) => name.endsWith('.stat')) : []);

const tokens = (...argv: string[]): OptionToken[] => {
  const result: OptionToken[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const flag = (argv[index] as string).replace(/^-+/, '');
    if (flag === 'i') result.push({ flag: 'i' });
    else result.push({ flag, value: argv[++index] } as OptionToken);
  }
  return result;
};

function run(root: string, action: ServiceRequest['action'], ...argv: string[]): Promise<ActionReport> {
  return runService({ action, tokens: tokens(...argv), root });
}

function startSteps(report: ActionReport): StartStep[] {
  return report.steps.filter((step): step is StartStep => step.kind === 'start');
}

/**
 * The server process has ended. This test process spawned it, so until node reaps it a moment
 * later it may still show as a zombie.
 */
const ended = (pid: number) => [undefined, 'Z'].includes(readProcess(pid)?.state);

const serverUid = () => {
  const user = lookupUser('stap-server');
  assert.ok(user, 'user stap-server exists');
  return user.uid;
};

afterEach(async () => {
  // Stop whatever a test left running, through the engine, which only ends our servers.
  for (const root of roots) if (statFiles(root).length > 0) await run(root, 'stop');
});

after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe('start', () => {
  test('start -r starts a verified stap-serverd as stap-server that accepts connections', async () => {
    const root = makeRoot();
    const report = await run(root, 'start', '-r', '6.1.0-test-a');
    assert.equal(report.exitCode, 0);
    const [step] = startSteps(report);
    assert.equal(step?.outcome, 'started');
    const info = readProcess(step?.pid ?? -1);
    assert.equal(info?.uid, serverUid());
    assert.match(info?.exe ?? '', /stap-serverd$/);
    assert.ok(step?.port && (await acceptsTcp('127.0.0.1', step.port)), 'the reported port accepts TCP connections');
  });

  test('a started server is recorded in <pid>.stat in the stock format with its PID as nickname', async () => {
    const root = makeRoot();
    const [step] = startSteps(await run(root, 'start', '-r', '6.1.0-test-a', '-D', 'A=$(id)'));
    const pid = step?.pid ?? -1;
    assert.deepEqual(statFiles(root), [`${pid}.stat`]);
    assert.equal(
      readFileSync(join(statDir(root), `${pid}.stat`), 'utf8'),
      ['ARCH=x86_64', 'USER=stap-server', 'DEFINE+=A=$(id)', `NICKNAME=${pid}`, 'RUNTIME=', 'RELEASE+=6.1.0-test-a', 'LOG=/var/log/stap-server/log', 'PORT=', 'SSL=', 'MAXTHREADS=', 'MAXREQSIZE=', 'MAXCOMPRESSEDREQ=', ''].join('\n'),
    );
  });

  test('a macro that looks like a command substitution reaches the server verbatim', async () => {
    const root = makeRoot();
    const [step] = startSteps(await run(root, 'start', '-r', '6.1.0-test-a', '-D', 'A=$(id)'));
    const argv = readFileSync(`/proc/${step?.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.includes('A=$(id)'), `cmdline ${argv.join(' ')}`);
  });

  test('starting the same server twice leaves one server running', async () => {
    const root = makeRoot();
    const first = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    const second = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    assert.equal(second?.outcome, 'already-running');
    assert.equal(second?.pid, first?.pid);
    assert.equal(statFiles(root).length, 1);
  });

  test('two concurrent starts of one server start it once', async () => {
    const root = makeRoot();
    const reports = await Promise.all([run(root, 'start', '-r', '6.1.0-test-a'), run(root, 'start', '-r', '6.1.0-test-a')]);
    const outcomes = reports.map((report) => startSteps(report)[0]?.outcome).sort();
    assert.deepEqual(outcomes, ['already-running', 'started']);
    assert.equal(statFiles(root).length, 1);
  });

  test('-i starts one server per release in /lib/modules', async () => {
    const root = makeRoot({ releases: ['6.1.0-test-a', '6.1.0-test-b'] });
    const report = await run(root, 'start', '-I', '/tmp', '-i');
    assert.deepEqual(startSteps(report).map((step) => [step.outcome, step.spec.releases, step.spec.includes]), [
      ['started', ['6.1.0-test-a'], ['/tmp']],
      ['started', ['6.1.0-test-b'], ['/tmp']],
    ]);
    assert.equal(statFiles(root).length, 2);
  });

  test('start with no options starts the conf.d servers with their nicknames', async () => {
    const root = makeRoot({ conf: { 'a.conf': 'RELEASE=6.1.0-test-a\nNICKNAME=alpha\n' } });
    const [step] = startSteps(await run(root, 'start'));
    assert.equal(step?.outcome, 'started');
    const recorded = parseStatusFile(readFileSync(join(statDir(root), `${step?.pid}.stat`), 'utf8'), 'x');
    assert.equal(recorded.nickname, 'alpha');
  });

  test('a bad conf.d line skips that server, names file and line, and the others start', async () => {
    const root = makeRoot({ conf: { 'bad.conf': 'RELEASE=6.1.0-test-a\nARCH = ppc\n', 'good.conf': 'RELEASE=6.1.0-test-b\n' } });
    const report = await run(root, 'start');
    assert.equal(report.exitCode, 1);
    const errors = report.steps.filter((step) => step.kind === 'error');
    assert.equal(errors.length, 1);
    assert.deepEqual([errors[0]?.kind === 'error' && errors[0].error.file, errors[0]?.kind === 'error' && errors[0].error.line], [join(root, 'etc/stap-server/conf.d/bad.conf'), 2]);
    assert.deepEqual(startSteps(report).map((step) => [step.outcome, step.spec.releases]), [['started', ['6.1.0-test-b']]]);
  });

  test('-u root is refused before anything starts', async () => {
    const root = makeRoot();
    const report = await run(root, 'start', '-r', '6.1.0-test-a', '-u', 'root');
    assert.equal(report.exitCode, 1);
    assert.equal(startSteps(report)[0]?.error?.code, 'ROOT_USER_REFUSED');
    assert.deepEqual(statFiles(root), []);
  });

  test('a server that dies at once is FAILED with its log, and leaves no status file', async () => {
    const root = makeRoot();
    const report = await run(root, 'start', '-r', '6.1.0-test-a', '--ssl', '/nonexistent/ssl-db');
    assert.equal(report.exitCode, 1);
    const [step] = startSteps(report);
    assert.equal(step?.outcome, 'failed');
    assert.equal(step?.error?.code, 'SERVER_START_FAILED');
    assert.deepEqual(statFiles(root), []);
  });

  test('a missing build tree for -r PATH is a usage error naming the file', async () => {
    const root = makeRoot();
    const report = await run(root, 'start', '-r', '/kernels/none/build');
    assert.equal(report.exitCode, 2);
    const error = report.steps.find((step) => step.kind === 'error');
    assert.match(error?.kind === 'error' ? error.error.message : '', /Missing \/kernels\/none\/build\/include\/config\/kernel\.release/);
  });
});

describe('the log', () => {
  test('the service log is group stap-server, mode 0664, and has the stock Starting and Pass lines', async () => {
    const root = makeRoot();
    await run(root, 'start', '-r', '6.1.0-test-a');
    const log = join(root, 'var/log/stap-server/log');
    const mode = statSync(log).mode & 0o777;
    assert.equal(mode, 0o664);
    const text = readFileSync(log, 'utf8');
    assert.match(text, /^[A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d: Starting stap-server -a "x86_64" -r "6\.1\.0-test-a" -u "stap-server" --log "\/var\/log\/stap-server\/log"$/m);
    assert.match(text, /: Pass: stap-server start -a "x86_64" -r "6\.1\.0-test-a" -u "stap-server" -n "\d+" --log/m);
  });
});

describe('status and stop', () => {
  test('status reports a running server with its port and exits 0', async () => {
    const root = makeRoot();
    const started = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    const report = await run(root, 'status');
    assert.equal(report.exitCode, 0);
    const [step] = report.steps as StatusStep[];
    assert.deepEqual([step?.outcome, step?.pid, step?.port], ['running', started?.pid, started?.port]);
  });

  test('status for a view without ports reports the running server without its port', async () => {
    const root = makeRoot();
    const started = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    const report = await runService({ action: 'status', tokens: [], root, ports: false });
    assert.equal(report.exitCode, 0);
    assert.deepEqual(report.steps, [{ kind: 'status', spec: (report.steps[0] as StatusStep).spec, outcome: 'running', pid: started?.pid }]);
  });

  test('status with no managed server exits 3', async () => {
    const report = await run(makeRoot(), 'status');
    assert.equal(report.exitCode, 3);
    assert.deepEqual(report.steps, [{ kind: 'none-running', action: 'status' }]);
  });

  test('a server that died is reported once, exits 1, and its status file is removed', async () => {
    const root = makeRoot();
    const started = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    process.kill(started?.pid ?? -1, 'SIGKILL');
    await waitFor(() => readProcess(started?.pid ?? -1)?.state !== 'S' && readProcess(started?.pid ?? -1)?.state !== 'R');
    const report = await run(root, 'status');
    assert.equal(report.exitCode, 1);
    assert.equal((report.steps[0] as StatusStep).outcome, 'dead');
    assert.deepEqual(statFiles(root), []);
  });

  test('stop ends the server, removes its status file and exits 0', async () => {
    const root = makeRoot();
    const started = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    const report = await run(root, 'stop');
    assert.equal(report.exitCode, 0);
    assert.ok(ended(started?.pid ?? -1));
    assert.deepEqual(statFiles(root), []);
  });

  test('stop -n with an unknown nickname exits 1', async () => {
    const report = await run(makeRoot(), 'stop', '-n', 'nobody');
    assert.equal(report.exitCode, 1);
  });

  test('stop -p of a PID that is not a managed server is an error and leaves that process alone', async () => {
    const root = makeRoot();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const report = await run(root, 'stop', '-p', String(sleeper.pid));
      assert.equal(report.exitCode, 1);
      assert.equal(readProcess(sleeper.pid ?? -1)?.comm, 'sleep');
    } finally {
      sleeper.kill();
    }
  });

  test('a status file whose PID is now another process is not taken for a server', async () => {
    const root = makeRoot();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      mkdirSync(statDir(root), { recursive: true });
      writeFileSync(join(statDir(root), `${sleeper.pid}.stat`), `ARCH=x86_64\nUSER=stap-server\nNICKNAME=x\nRUNTIME=\nLOG=/var/log/stap-server/log\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`);
      const status = await run(root, 'status');
      assert.equal((status.steps[0] as StatusStep).outcome, 'dead');
      await run(root, 'stop');
      assert.equal(readProcess(sleeper.pid ?? -1)?.comm, 'sleep');
    } finally {
      sleeper.kill();
    }
  });
});

describe('status and the lock', () => {
  /** A lock file in ROOT's status directory held by a live process (a sleep), which the test ends. */
  function holdLock(root: string): { file: string; text: string; holder: ReturnType<typeof spawn> } {
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    const info = readProcess(holder.pid ?? -1);
    assert.ok(info, 'the holder runs');
    const file = join(statDir(root), LOCK_FILE);
    const text = `${holder.pid} ${info.startTime}\n`;
    writeFileSync(file, text, { mode: 0o644 });
    return { file, text, holder };
  }

  const answerWithin = <T>(ms: number, promise: Promise<T>) =>
    Promise.race([promise, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), ms))]);

  test('a status that finds its servers alive answers while another run holds the lock, and leaves that lock alone', async () => {
    const root = makeRoot();
    const started = startSteps(await run(root, 'start', '-r', '6.1.0-test-a'))[0];
    const lock = holdLock(root);
    try {
      const report = await answerWithin(3000, run(root, 'status'));
      assert.notEqual(report, 'no answer');
      assert.equal((report as ActionReport).exitCode, 0);
      assert.deepEqual((report as ActionReport).steps.map((step) => [step.kind, (step as StatusStep).outcome, (step as StatusStep).pid]), [['status', 'running', started?.pid]]);
      assert.equal(readFileSync(lock.file, 'utf8'), lock.text);
    } finally {
      lock.holder.kill();
    }
  });

  test('a status that finds a dead server removes its file only once it holds the lock', async () => {
    const root = makeRoot();
    const notAServer = spawn('sleep', ['30'], { stdio: 'ignore' });
    mkdirSync(statDir(root), { recursive: true });
    const record = join(statDir(root), `${notAServer.pid}.stat`);
    writeFileSync(record, `ARCH=x86_64\nUSER=stap-server\nNICKNAME=x\nRUNTIME=\nLOG=/var/log/stap-server/log\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`);
    const lock = holdLock(root);
    try {
      const status = run(root, 'status');
      assert.equal(await answerWithin(500, status), 'no answer');
      assert.ok(existsSync(record), 'the record stays while the lock is held');
      lock.holder.kill();
      const report = await status;
      assert.equal(report.exitCode, 1);
      assert.deepEqual(report.steps.map((step) => [step.kind, (step as StatusStep).outcome]), [['status', 'dead']]);
      assert.equal(existsSync(record), false);
    } finally {
      lock.holder.kill();
      notAServer.kill();
    }
  });
});

describe('restart and condrestart', () => {
  test('restart replaces a running server and keeps its given nickname', async () => {
    const root = makeRoot();
    const first = startSteps(await run(root, 'start', '-n', 'keeper', '-r', '6.1.0-test-a'))[0];
    const report = await run(root, 'restart');
    const again = startSteps(report)[0];
    assert.equal(again?.outcome, 'started');
    assert.notEqual(again?.pid, first?.pid);
    const recorded = parseStatusFile(readFileSync(join(statDir(root), `${again?.pid}.stat`), 'utf8'), 'x');
    assert.equal(recorded.nickname, 'keeper');
  });

  test('condrestart with nothing running starts nothing', async () => {
    const root = makeRoot({ conf: { 'a.conf': 'RELEASE=6.1.0-test-a\n' } });
    const report = await run(root, 'condrestart');
    assert.deepEqual(report.steps, [{ kind: 'none-running', action: 'condrestart' }]);
    assert.deepEqual(statFiles(root), []);
  });

  test('force-reload stops every server and starts the configured ones', async () => {
    const root = makeRoot({ conf: { 'a.conf': 'RELEASE=6.1.0-test-a\nNICKNAME=alpha\n' } });
    const adHoc = startSteps(await run(root, 'start', '-r', '6.1.0-test-b'))[0];
    const report = await run(root, 'force-reload');
    assert.equal(report.exitCode, 0);
    assert.ok(ended(adHoc?.pid ?? -1));
    assert.deepEqual(startSteps(report).map((step) => step.spec.nickname), ['alpha']);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
