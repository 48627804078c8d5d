import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StapctlError } from '../../src/errors.js';
import { readProcess } from '../../src/service/proc.js';
import {
  STAP_SERVERD,
  certificatePath,
  ensureCertificate,
  serverArgv,
  spawnServer,
  stopServer,
} from '../../src/service/server-process.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';
import { openLogFile } from '../../src/service/service-log.js';
import { hostArch, runningRelease } from '../../src/service/system.js';
import { checkServerUser, lookupGroup, type UserInfo } from '../../src/service/users.js';

const spec = (overrides: Partial<ServerSpec>): ServerSpec => ({ ...emptySpec(), arch: 'x86_64', user: 'stap-server', ...overrides });

const NO_FLAGS = { keepTemp: false, usePassword: false };

/** PIDs of stap-serverd processes whose command line mentions `marker` (our scratch folder). */
function serversMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.startsWith(`${STAP_SERVERD}\0`) && cmdline.includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function expectStartFailure(promise: Promise<unknown>): Promise<StapctlError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StapctlError, `expected a StapctlError, got ${String(error)}`);
    return error;
  }
  assert.fail('the start succeeded');
}

async function gone(pid: number, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

describe('stap-serverd integration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-serverd-'));
  const log = join(dir, 'log');
  const children: ChildProcess[] = [];
  let user: UserInfo;

  before(async () => {
    // The server user must reach its log inside the scratch folder.
    chmodSync(dir, 0o755);
    user = checkServerUser('stap-server');
    closeSync(openLogFile(log, { serverUid: user.uid, serverGid: lookupGroup('stap-server')?.gid }).fd);
    await ensureCertificate(user);
  });

  after(() => {
    for (const pid of serversMentioning(dir)) process.kill(pid, 'SIGKILL');
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a started server runs stap-serverd as stap-server, accepts connections, and stops', async (t) => {
    const argv = serverArgv(spec({ arch: hostArch(), releases: [runningRelease()], log }), NO_FLAGS, log);
    const started = performance.now();
    const server = await spawnServer(argv, user, { logFile: log });
    const verifiedMs = performance.now() - started;

    const info = readProcess(server.pid);
    assert.equal(info?.exe, STAP_SERVERD);
    assert.equal(info?.uid, user.uid);
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Groups:\\s+${user.gid}\\s*$`, 'm'));
    assert.ok(readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0').includes(`HOME=${user.home}`));
    assert.match(readFileSync(log, 'utf8'), new RegExp(`Using network address .*:${server.port}\\n`));

    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.destroy();

    assert.equal(await stopServer(server.pid, user.uid), 'stopped');
    assert.equal(await gone(server.pid), true);
    t.diagnostic(`a real start was verified in ${verifiedMs.toFixed(0)} ms`);
  });

  test('a server that dies at once is SERVER_START_FAILED with its log lines', async () => {
    const locked = join(dir, 'root-only');
    mkdirSync(locked, { mode: 0o700 });
    const argv = serverArgv(spec({ arch: hostArch(), ssl: join(locked, 'ssl'), log }), NO_FLAGS, log);
    const error = await expectStartFailure(spawnServer(argv, user, { logFile: log }));
    assert.equal(error.code, 'SERVER_START_FAILED');
    assert.match(error.message, /exited with status/);
    assert.match(error.detail ?? '', /Cannot check\/create certificate/);
    assert.doesNotMatch(error.detail ?? '', /Using network address .*\n.*Received signal/);
    assert.deepEqual(serversMentioning(locked), []);
  });

  test('a server not listening within the timeout is killed and SERVER_START_FAILED', async () => {
    const marker = join(dir, 'too-slow');
    const argv = serverArgv(spec({ arch: hostArch(), ssl: marker, log }), NO_FLAGS, log);
    const error = await expectStartFailure(spawnServer(argv, user, { logFile: log, timeoutMs: 0 }));
    assert.equal(error.code, 'SERVER_START_FAILED');
    assert.match(error.message, /did not listen on a TCP port within 0 s/);
    assert.deepEqual(serversMentioning(marker), []);
  });

  test('the PID is handed over before stap-serverd runs, and a PID that cannot be recorded never becomes a server', async () => {
    const marker = join(dir, 'unrecorded');
    const argv = serverArgv(spec({ arch: hostArch(), ssl: marker, log }), NO_FLAGS, log);
    let handed: number | undefined;
    let programWhenHanded: string | undefined;
    const error = await expectStartFailure(
      spawnServer(argv, user, {
        logFile: log,
        onSpawned: (pid) => {
          handed = pid;
          programWhenHanded = readProcess(pid)?.exe;
          throw new Error('disk full');
        },
      }),
    );
    assert.equal(error.code, 'SERVER_START_FAILED');
    assert.match(error.message, /could not be recorded.*disk full/);
    assert.ok(handed);
    assert.notEqual(programWhenHanded, STAP_SERVERD);
    assert.equal(await gone(handed), true);
    assert.deepEqual(serversMentioning(marker), []);
  });

  test('root is refused without starting anything', async () => {
    const root: UserInfo = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash', groups: [0] };
    const marker = join(dir, 'as-root');
    const argv = serverArgv(spec({ ssl: marker }), NO_FLAGS, log);
    const error = await expectStartFailure(spawnServer(argv, root, { logFile: log }));
    assert.equal(error.code, 'ROOT_USER_REFUSED');
    assert.deepEqual(serversMentioning(marker), []);
  });

  test('stopServer leaves a process that is not a stap-serverd alone', async () => {
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(sleeper);
    await once(sleeper, 'spawn');
    const pid = sleeper.pid ?? -1;
    assert.equal(await stopServer(pid, process.getuid?.() ?? 0, { termTimeoutMs: 200 }), 'not-running');
    await sleep(100);
    assert.equal(readProcess(pid)?.comm, 'sleep');
    assert.equal(sleeper.exitCode, null);
  });

  test('stopServer of a PID that does not exist is not-running', async () => {
    const child = spawn('true');
    await once(child, 'exit');
    assert.equal(await stopServer(child.pid ?? -1, user.uid), 'not-running');
  });

  test('a process that ignores SIGTERM is killed after the timeout', async () => {
    const stubborn = spawn('bash', ['-c', 'trap "" TERM; exec sleep 60'], { stdio: 'ignore' });
    children.push(stubborn);
    await once(stubborn, 'spawn');
    const pid = stubborn.pid ?? -1;
    // Wait until bash has exec'd sleep with SIGTERM ignored.
    for (let i = 0; i < 100 && readProcess(pid)?.comm !== 'sleep'; i += 1) await sleep(10);
    const isSleep = (info: ReturnType<typeof readProcess>) => info?.comm === 'sleep';
    const started = Date.now();
    assert.equal(await stopServer(pid, 0, { termTimeoutMs: 300, isTarget: isSleep }), 'killed');
    assert.ok(Date.now() - started >= 300);
    const [, signal] = stubborn.exitCode === null && stubborn.signalCode === null ? await once(stubborn, 'exit') : [null, stubborn.signalCode];
    assert.equal(signal, 'SIGKILL');
  });

  test('a process that obeys SIGTERM is stopped, not killed', async () => {
    const obedient = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(obedient);
    await once(obedient, 'spawn');
    for (let i = 0; i < 100 && readProcess(obedient.pid ?? -1)?.comm !== 'sleep'; i += 1) await sleep(10);
    const isSleep = (info: ReturnType<typeof readProcess>) => info?.comm === 'sleep';
    assert.equal(await stopServer(obedient.pid ?? -1, 0, { termTimeoutMs: 5000, isTarget: isSleep }), 'stopped');
    const [, signal] = obedient.exitCode === null && obedient.signalCode === null ? await once(obedient, 'exit') : [null, obedient.signalCode];
    assert.equal(signal, 'SIGTERM');
  });

  test('a missing certificate is made as the user in the user home', async () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    chownSync(home, user.uid, user.gid);
    const scratchUser = { ...user, home };
    await ensureCertificate(scratchUser);
    const cert = certificatePath(scratchUser);
    assert.equal(statSync(cert).uid, user.uid);
    // DER: an ASN.1 SEQUENCE.
    assert.equal(readFileSync(cert)[0], 0x30);
    assert.ok(existsSync(join(home, '.systemtap', 'ssl', 'server', 'cert9.db')));
  });

  test('a certificate that cannot be made is CERT_FAILED with the stderr of stap-gen-cert', async () => {
    const home = join(dir, 'unwritable-home');
    mkdirSync(home, { mode: 0o755 });
    let caught: unknown;
    try {
      await ensureCertificate({ ...user, home });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof StapctlError);
    assert.equal(caught.code, 'CERT_FAILED');
    assert.notEqual(caught.detail ?? '', '');
    assert.equal(existsSync(join(home, '.systemtap')), false);
  });
});
