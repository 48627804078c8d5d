/**
 * Integration tests against real OpenSSH sshd processes on 127.0.0.1, each started here with its
 * own host key, authorized_keys and port, and stopped by its PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planAuth, type AuthPlan } from '../../../src/fleet/ssh/auth.js';
import { connect, JumpHosts, type ConnectOptions, type SshSession } from '../../../src/fleet/ssh/transport.js';
import { startSsh2Host } from '../../support/ssh2-host.js';
import { rejection } from '../../support/expect.js';

interface Sshd {
  port: number;
  dir: string;
  hostPublicKey: string;
  process: ChildProcess;
  /** What sshd -e wrote: one `Accepted publickey` line per authenticated connection. */
  log: string[];
}

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-ssh-'));
const daemons: Sshd[] = [];
const children: ChildProcess[] = [];

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'stapctl-test', '-f', file]);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`sshd on port ${port} did not come up`);
}

async function startSshd(name: string, authorizedKeys: string, extra: string[] = []): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = join(scratch, name);
  mkdirSync(dir);
  keygen(join(dir, 'hostkey'));
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys);
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, 'hostkey')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      `LogLevel ${extra.includes(DEBUG_LOG) ? 'DEBUG3' : process.env.SSHD_DEBUG === undefined ? 'INFO' : 'DEBUG1'}`,
      ...extra,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    log.push(d.toString());
    if (process.env.SSHD_DEBUG) process.stderr.write(d);
  });
  const sshd = { port, dir, hostPublicKey: readFileSync(join(dir, 'hostkey.pub'), 'utf8').trim(), process: child, log };
  daemons.push(sshd);
  await waitForPort(port, child);
  return sshd;
}

/** An extra sshd_config line that asks startSshd for sshd's debug log (global requests and more). */
const DEBUG_LOG = '# debug log';

function stop(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
}

function hostKeyFingerprint(sshd: Sshd): string {
  return execFileSync('ssh-keygen', ['-l', '-f', join(sshd.dir, 'hostkey.pub')], { encoding: 'utf8' }).split(' ')[1] ?? '';
}

let counter = 0;
function knownHostsWith(lines: string[]): string {
  const file = join(scratch, `known_hosts-${++counter}`);
  writeFileSync(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

function knownLine(sshd: Sshd): string {
  const [type, key] = sshd.hostPublicKey.split(' ');
  return `[127.0.0.1]:${sshd.port} ${type} ${key}`;
}


const userKey = join(scratch, 'id_user');
let plan: AuthPlan;
let main: Sshd;

function options(sshd: Sshd, overrides: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    host: `test-${sshd.port}`,
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    auth: plan,
    hostKeyPolicy: 'strict',
    knownHostsFiles: [knownHostsWith([knownLine(sshd)])],
    connectTimeoutMs: 5000,
    ...overrides,
  };
}

async function withSession<T>(opts: ConnectOptions, use: (session: SshSession) => Promise<T>): Promise<T> {
  const session = await connect(opts);
  try {
    return await use(session);
  } finally {
    session.close();
  }
}

before(async () => {
  keygen(userKey);
  plan = await planAuth({ identities: [{ file: userKey, origin: 'option' }], identitiesOnly: false, defaultKeyDir: join(scratch, 'no-keys') });
  main = await startSshd('main', readFileSync(`${userKey}.pub`, 'utf8'));
});

after(() => {
  daemons.forEach((sshd) => stop(sshd.process));
  children.forEach(stop);
  rmSync(scratch, { recursive: true, force: true });
});

describe('exec', () => {
  test('stdin reaches the remote command and its stdout comes back', async () => {
    const result = await withSession(options(main), (session) => session.exec('cat', { stdin: 'hello\nfleet\n' }));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'hello\nfleet\n');
  });

  test('the rest of stdin is sent when the command asks for it with its line on stderr', async () => {
    const stdinOnRequest = { marker: 'more-please', data: Buffer.from('rest\n') };
    const result = await withSession(options(main), (session) => session.exec('read -r l; echo "$l"; echo more-please >&2; cat', { stdin: 'first\n', stdinOnRequest }));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'first\nrest\n');
  });

  test('the rest of stdin is never sent to a command that does not ask for it, whose stdin stays open until it ends', async () => {
    const stdinOnRequest = { marker: 'more-please', data: Buffer.from('rest\n') };
    const result = await withSession(options(main), (session) => session.exec('read -r l; echo "$l"; timeout 1 cat; echo "cat: $?"', { stdin: 'first\n', stdinOnRequest }));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'first\ncat: 124\n');
  });

  test('exit codes and stderr are reported; one session runs several commands', async () => {
    await withSession(options(main), async (session) => {
      const failed = await session.exec('echo oops >&2; exit 3');
      assert.equal(failed.code, 3);
      assert.equal(failed.stderr.toString(), 'oops\n');
      const ok = await session.exec('true');
      assert.equal(ok.code, 0);
    });
  });

  test('a command killed by a signal reports the signal', async () => {
    const result = await withSession(options(main), (session) => session.exec('kill -TERM $$'));
    assert.equal(result.code, null);
    assert.equal(result.signal, 'SIGTERM');
  });

  // The command reports its process group on stderr; the stop command kills that group.
  const reportingGroup = (command: string) => `printf 'group %s\\n' "$$" >&2; ${command}`;
  const killGroup = (stderr: Buffer) => {
    const group = /group (\d+)/.exec(stderr.toString())?.[1];
    return group === undefined ? undefined : `kill -KILL -${group}`;
  };

  async function assertGone(pidFile: string): Promise<void> {
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n');
    assert.ok(pids.length > 0);
    const deadline = Date.now() + 3000;
    while (pids.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(
      pids.filter((pid) => existsSync(`/proc/${pid}`)),
      [],
    );
  }

  test('a command past its deadline is stopped on the host by the stop command and rejected with HOST_TIMEOUT', async () => {
    const pidFile = join(main.dir, 'timeout.pids');
    const started = Date.now();
    const command = reportingGroup(`echo $$ > ${pidFile}; sleep 30 & echo $! >> ${pidFile}; wait; echo finished`);
    // Long enough for the command to start on a loaded machine, far shorter than its sleep.
    const error = await withSession(options(main), (session) => rejection(session.exec(command, { stdin: 'input', timeoutMs: 6000, stopCommand: killGroup })));
    assert.equal(error.code, 'HOST_TIMEOUT');
    assert.equal(error.host, `test-${main.port}`);
    assert.ok(Date.now() - started < 15_000);
    await assertGone(pidFile);
  });

  test('an aborted command is stopped on the host and rejected with INTERRUPTED', async () => {
    const pidFile = join(main.dir, 'abort.pids');
    const abort = new AbortController();
    const command = reportingGroup(`echo $$ > ${pidFile}; sleep 30 & echo $! >> ${pidFile}; wait`);
    const error = await withSession(options(main), async (session) => {
      const stopped = rejection(session.exec(command, { stdin: 'input', signal: abort.signal, stopCommand: killGroup }));
      while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim().split('\n').length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      // Once the group report can have arrived; an abort before it is the next test.
      await new Promise((resolve) => setTimeout(resolve, 300));
      abort.abort();
      return stopped;
    });
    assert.equal(error.code, 'INTERRUPTED');
    await assertGone(pidFile);
  });

  test('an abort that comes before the group report waits for it and still stops the command on the host', async () => {
    const pidFile = join(main.dir, 'early-abort.pids');
    const abort = new AbortController();
    // The report comes half a second after the command started: an abort in between finds none yet.
    const command = `echo $$ > ${pidFile}; sleep 30 & echo $! >> ${pidFile}; sleep 0.5; printf 'group %s\\n' "$$" >&2; wait`;
    const error = await withSession(options(main), async (session) => {
      const stopped = rejection(session.exec(command, { stdin: 'input', signal: abort.signal, stopCommand: killGroup }));
      while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim().split('\n').length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      abort.abort();
      return stopped;
    });
    assert.equal(error.code, 'INTERRUPTED');
    await assertGone(pidFile);
  });

  test('stdout past the cap is cut, the command stopped and rejected with OUTPUT_TOO_LARGE', async () => {
    const pidFile = join(main.dir, 'flood.pids');
    const error = await withSession(options(main), (session) =>
      rejection(session.exec(reportingGroup(`echo $$ > ${pidFile}; exec cat /dev/zero`), { maxOutputBytes: 1024 * 1024, stopCommand: killGroup })),
    );
    assert.equal(error.code, 'OUTPUT_TOO_LARGE');
    await assertGone(pidFile);
  });
});

describe("ssh2's private protocol object", () => {
  test('a stopped command gets a KILL signal request even after stdin was closed (fails if ssh2 renames _protocol)', async () => {
    const host = await startSsh2Host({ onExec: () => undefined });
    try {
      const error = await withSession(options(main, { port: host.port, knownHostsFiles: [knownHostsWith([host.knownHostsLine('127.0.0.1')])] }), (session) =>
        rejection(session.exec('sleep 30', { stdin: 'input', timeoutMs: 300 })),
      );
      assert.equal(error.code, 'HOST_TIMEOUT');
      const deadline = Date.now() + 2000;
      while (host.signals.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(host.signals, ['KILL']);
    } finally {
      await host.close();
    }
  });
});

describe('host keys', () => {
  test('strict refuses an unknown host with its fingerprint and the ssh-keyscan command', async () => {
    const error = await rejection(connect(options(main, { knownHostsFiles: [knownHostsWith([])] })));
    assert.equal(error.code, 'HOST_KEY_UNKNOWN');
    assert.equal(error.host, `test-${main.port}`);
    assert.ok(error.message.includes(hostKeyFingerprint(main)), error.message);
    assert.match(error.hint ?? '', new RegExp(`ssh-keyscan -p ${main.port} 127\\.0\\.0\\.1 >> `));
  });

  test('accept-new records the key in the user file, after which strict connects', async () => {
    const home = join(scratch, 'accept-home');
    const userFile = join(home, '.ssh', 'known_hosts');
    const warnings = await withSession(options(main, { hostKeyPolicy: 'accept-new', knownHostsFiles: [userFile] }), async (session) => session.warnings);
    assert.match(warnings.join('\n'), /recorded new host key/);
    assert.equal(readFileSync(userFile, 'utf8'), `${knownLine(main)}\n`);
    assert.equal(statSync(userFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, '.ssh')).mode & 0o777, 0o700);
    const result = await withSession(options(main, { knownHostsFiles: [userFile] }), (session) => session.exec('echo again'));
    assert.equal(result.stdout.toString(), 'again\n');
  });

  test('a changed key is refused loudly even under accept-new, naming the recorded line', async () => {
    const other = join(scratch, 'other-hostkey');
    keygen(other);
    const [type, key] = readFileSync(`${other}.pub`, 'utf8').split(' ');
    const file = knownHostsWith(['# farm', `[127.0.0.1]:${main.port} ${type} ${key}`]);
    const error = await rejection(connect(options(main, { hostKeyPolicy: 'accept-new', knownHostsFiles: [file] })));
    assert.equal(error.code, 'HOST_KEY_MISMATCH');
    assert.equal(error.file, file);
    assert.equal(error.line, 2);
    assert.match(error.message, /HOST KEY CHANGED/);
    assert.ok(error.message.includes(hostKeyFingerprint(main)));
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 3);
  });

  test('a revoked key is refused even under off', async () => {
    const file = knownHostsWith([knownLine(main), `@revoked * ${main.hostPublicKey.split(' ').slice(0, 2).join(' ')}`]);
    const error = await rejection(connect(options(main, { hostKeyPolicy: 'off', knownHostsFiles: [file] })));
    assert.equal(error.code, 'HOST_KEY_REVOKED');
    assert.equal(error.line, 2);
  });

  test('off connects to an unknown host and says the key was not checked', async () => {
    const warnings = await withSession(options(main, { hostKeyPolicy: 'off', knownHostsFiles: [knownHostsWith([])] }), async (session) => session.warnings);
    assert.match(warnings.join('\n'), /was not checked/);
  });

  test('HostKeyAlias looks the host up under the alias', async () => {
    const [type, key] = main.hostPublicKey.split(' ');
    const file = knownHostsWith([`[build-alias]:${main.port} ${type} ${key}`]);
    const result = await withSession(options(main, { hostKeyAlias: 'build-alias', knownHostsFiles: [file] }), (session) => session.exec('echo alias'));
    assert.equal(result.stdout.toString(), 'alias\n');
  });
});

describe('connection errors', () => {
  test('a closed port is CONNECT_FAILED naming the address and port', async () => {
    const port = await freePort();
    const error = await rejection(connect(options(main, { port, host: 'closed-host' })));
    assert.equal(error.code, 'CONNECT_FAILED');
    assert.equal(error.host, 'closed-host');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}\\): ECONNREFUSED`));
  });

  test('a server that never speaks SSH is CONNECT_TIMEOUT after the connect timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    try {
      assert.ok(address !== null && typeof address !== 'string');
      const started = Date.now();
      const error = await rejection(connect(options(main, { port: address.port, connectTimeoutMs: 400 })));
      assert.equal(error.code, 'CONNECT_TIMEOUT');
      assert.ok(Date.now() - started < 3000);
    } finally {
      silent.close();
    }
  });

  test('a key the host does not accept is AUTH_FAILED listing what was tried', async () => {
    const stranger = join(scratch, 'id_stranger');
    keygen(stranger);
    const strangerPlan = await planAuth({ identities: [{ file: stranger, origin: 'option' }], identitiesOnly: false, defaultKeyDir: scratch });
    const error = await rejection(connect(options(main, { auth: strangerPlan })));
    assert.equal(error.code, 'AUTH_FAILED');
    assert.ok(error.message.includes(stranger), error.message);
    assert.match(error.message, /root@test-/);
  });
});

describe('ssh-agent', () => {
  let agentSocket: string;
  before(async () => {
    agentSocket = join(scratch, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    children.push(agent);
    const deadline = Date.now() + 5000;
    while (!existsSync(agentSocket) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  });

  test('a passphrase-protected key held by the agent logs in', async () => {
    const locked = join(scratch, 'id_locked');
    keygen(locked);
    writeFileSync(join(main.dir, 'authorized_keys'), readFileSync(`${userKey}.pub`, 'utf8') + readFileSync(`${locked}.pub`, 'utf8'));
    execFileSync('ssh-add', ['-q', locked], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: 'ignore' });
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'secret', '-f', locked]);
    const agentPlan = await planAuth({ agentSocket, identities: [{ file: locked, origin: 'option' }], identitiesOnly: true, defaultKeyDir: scratch });
    assert.deepEqual(agentPlan.encrypted, [locked]);
    const result = await withSession(options(main, { auth: agentPlan }), (session) => session.exec('echo via-agent'));
    assert.equal(result.stdout.toString(), 'via-agent\n');
  });

  test('without an agent the same key is KEY_PASSPHRASE_REQUIRED before any connection', async () => {
    const locked = join(scratch, 'id_locked');
    const error = await rejection(planAuth({ identities: [{ file: locked, origin: 'inventory' }], identitiesOnly: false, defaultKeyDir: scratch, host: 'h1' }));
    assert.equal(error.code, 'KEY_PASSPHRASE_REQUIRED');
    assert.equal(error.host, 'h1');
    assert.equal(error.hint?.includes(`ssh-add ${locked}`), true);
  });
});

describe('publickey authentication', () => {
  /** sshd's debug log of one login: each publickey request, as `querying` (no signature) or `attempting` (signed). */
  async function publickeyRequests(identities: string[], authorized: string[]): Promise<{ code: number | null; requests: string[] }> {
    const sshd = await startSshd(`publickey-${++counter}`, authorized.map((file) => readFileSync(`${file}.pub`, 'utf8')).join(''), [DEBUG_LOG]);
    const auth = await planAuth({ identities: identities.map((file) => ({ file, origin: 'option' as const })), identitiesOnly: true, defaultKeyDir: join(scratch, 'no-keys') });
    const result = await withSession(options(sshd, { auth }), (session) => session.exec('true'));
    const log = () => sshd.log.join('');
    for (let wait = 0; wait < 50 && !/Accepted publickey/.test(log()); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    return { code: result.code, requests: [...log().matchAll(/user root (querying|attempting) public key/g)].map((match) => match[1] ?? '') };
  }

  test("an identity file's Ed25519 key logs in with one signed request, without asking the host first", async () => {
    assert.deepEqual(await publickeyRequests([userKey], [userKey]), { code: 0, requests: ['attempting'] });
  });

  test('an RSA identity signs its one request with the hash its algorithm names, which sshd checks', async () => {
    const rsaKey = join(scratch, 'id_rsa_user');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'stapctl-test', '-f', rsaKey]);
    assert.deepEqual(await publickeyRequests([rsaKey], [rsaKey]), { code: 0, requests: ['attempting'] });
  });

  test('a key the host refuses is followed by the next identity, each sent signed once', async () => {
    const refused = join(scratch, 'id_refused');
    keygen(refused);
    assert.deepEqual(await publickeyRequests([refused, userKey], [userKey]), { code: 0, requests: ['attempting', 'attempting'] });
  });
});

describe('host keys announced after authentication', () => {
  test('are not proven one by one: the announcement is ignored, the session works', async () => {
    const keys = readFileSync(`${userKey}.pub`, 'utf8');
    const announcing = await startSshd('announcing', keys, [DEBUG_LOG]);
    const log = () => announcing.log.join('');
    const codes = await withSession(options(announcing), async (session) => {
      const first = await session.exec('true');
      // sshd announces its keys once the session is open; ssh2 would ask for the proofs at once.
      for (let wait = 0; wait < 100 && !/notify_hostkeys: sent/.test(log()); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
      const second = await session.exec('true');
      return [first.code, second.code];
    });
    assert.deepEqual(codes, [0, 0]);
    assert.match(log(), /notify_hostkeys: sent/);
    assert.doesNotMatch(log(), /rtype hostkeys-prove-00@openssh\.com/);
  });

  test('are answered at once by a packet, so that sshd need not wait for their ACK to confirm the channel', async () => {
    const keys = readFileSync(`${userKey}.pub`, 'utf8');
    const announcing = await startSshd('acknowledging', keys, [DEBUG_LOG]);
    const log = () => announcing.log.join('');
    // ssh2's own keepalive comes every 15 s; this session ends long before.
    const result = await withSession(options(announcing), (session) => session.exec('true'));
    for (let wait = 0; wait < 100 && !/rtype keepalive@openssh\.com/.test(log()); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(result.code, 0);
    assert.match(log(), /notify_hostkeys: sent[\s\S]*rtype keepalive@openssh\.com want_reply 1/);
  });
});

describe('ProxyJump', () => {
  let target: Sshd;
  let closedJump: Sshd;
  before(async () => {
    const keys = readFileSync(`${userKey}.pub`, 'utf8');
    target = await startSshd('target', keys);
    closedJump = await startSshd('closed-jump', keys, ['AllowTcpForwarding no']);
  });

  test('reaches a host through a jump host, each with its own known key', async () => {
    const result = await withSession(options(target, { proxyJump: options(main) }), (session) => session.exec('echo $SSH_CONNECTION'));
    assert.equal(result.code, 0);
    assert.match(result.stdout.toString(), new RegExp(` ${target.port}\\n$`));
  });

  test('a jump host that forbids forwarding is CONNECT_FAILED naming both hosts', async () => {
    const error = await rejection(connect(options(target, { host: 'inner', proxyJump: options(closedJump, { host: 'bastion' }) })));
    assert.equal(error.code, 'CONNECT_FAILED');
    assert.equal(error.host, 'inner');
    assert.match(error.message, /through bastion/);
  });

  test('hosts behind one jump host share one connection to it within a run', async () => {
    const logins = () => main.log.join('').match(/Accepted publickey/g)?.length ?? 0;
    const before = logins();
    const jumps = new JumpHosts();
    const sessions = await Promise.all([1, 2, 3].map(() => connect(options(target, { proxyJump: options(main) }), undefined, jumps)));
    try {
      const results = await Promise.all(sessions.map((session) => session.exec('true')));
      assert.deepEqual(results.map((result) => result.code), [0, 0, 0]);
    } finally {
      for (const session of sessions) session.close();
      jumps.close();
    }
    // sshd logs a login once it is done: give the log a moment to arrive.
    for (let wait = 0; wait < 50 && logins() === before; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(logins() - before, 1);
  });

  test('the target host key is verified behind the jump too', async () => {
    const error = await rejection(connect(options(target, { knownHostsFiles: [knownHostsWith([])], proxyJump: options(main) })));
    assert.equal(error.code, 'HOST_KEY_UNKNOWN');
  });
});
