/**
 * --transport openssh on a namespace farm: the system ssh client, one master per host, against
 * real sshd hosts whose sshd also trusts a test user CA. The transport itself (commands, limits,
 * host keys, jumps, its processes) and the built CLI over it (a certificate login that ssh2
 * cannot do, SIGINT, no ssh client). Traffic stays on 127.0.12.x (127.N.12.x with STAPCTL_FARM_NET=N).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import type { HostRoute } from '../../src/fleet/ssh/host-route.js';
import { OpensshTransport } from '../../src/fleet/ssh/openssh-transport.js';
import type { SshSession } from '../../src/fleet/ssh/transport.js';
import { rejection } from '../support/expect.js';
import { controlDirectoriesIn, processesNaming } from '../support/ssh-leftovers.js';
import { farmRoute, holdServers, startFarm, type Farm, type FarmHost } from './farm.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let farm: Farm;
let scratch: string;
let h1: FarmHost;
let h2: FarmHost;
let h3: FarmHost;
/** TMPDIR of the transports and runs: every control directory is made here. */
let tmp: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-openssh-test-'));
  tmp = join(scratch, 'tmp');
  mkdirSync(tmp);
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 3, firstAddress: '127.0.12.1', userCa: true });
  [h1, h2, h3] = farm.hosts as [FarmHost, FarmHost, FarmHost];
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

function route(host: FarmHost, overrides: Partial<HostRoute> = {}): HostRoute {
  return { ...farmRoute(farm, host), connectTimeoutMs: 10_000, ...overrides };
}

let counter = 0;
function knownHosts(lines: string): string {
  const file = join(scratch, `known_hosts-${++counter}`);
  writeFileSync(file, lines);
  return file;
}

/** The farm's known_hosts line of HOST, its key under the name of NAMED (default: HOST). */
function knownLine(host: FarmHost, named: FarmHost = host): string {
  const line = readFileSync(farm.knownHostsFile, 'utf8').split('\n').find((entry) => entry.startsWith(`${host.address},`));
  assert.ok(line);
  return `${named.address},${named.name} ${line.split(' ').slice(1).join(' ')}\n`;
}


/** Runs USE with a transport of its own, then asserts that closing it left no ssh process and no directory. */
async function withTransport<T>(use: (transport: OpensshTransport) => Promise<T>): Promise<T> {
  const transport = await OpensshTransport.start({ PATH: process.env.PATH, TMPDIR: tmp }, []);
  try {
    return await use(transport);
  } finally {
    await transport.close();
    assert.deepEqual(processesNaming(tmp), [], 'no ssh process is left');
    assert.deepEqual(controlDirectoriesIn(tmp), [], 'no control directory is left');
  }
}

function withSession<T>(hostRoute: HostRoute, use: (session: SshSession, transport: OpensshTransport) => Promise<T>): Promise<T> {
  return withTransport(async (transport) => {
    const session = await transport.connect(hostRoute);
    try {
      return await use(session, transport);
    } finally {
      session.close();
    }
  });
}

/** A command that reports its process group as the agent's launcher does, then runs SCRIPT. */
const reportingGroup = (script: string) => `printf 'stapctl-pid %s\\n' "$$" >&2; ${script}`;
const killGroup = (stderr: Buffer) => {
  const group = /stapctl-pid (\d+)/.exec(stderr.toString())?.[1];
  return group === undefined ? undefined : `kill -KILL -${group}`;
};

async function remoteProcesses(host: FarmHost, marker: string): Promise<string[]> {
  const ps = await farm.exec(host, ['ps', '-eo', 'args']);
  return ps.stdout.split('\n').filter((line) => line.includes(marker));
}

async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the openssh transport against a farm host', () => {
  test('a command gets its stdin, and its output and exit code come back', async () => {
    const result = await withSession(route(h1), (session) => session.exec('cat; hostname >&2; exit 7', { stdin: 'hello' }));
    assert.equal(result.code, 7);
    assert.equal(result.stdout.toString(), 'hello');
    assert.equal(result.stderr.toString().trim(), 'h1');
  });

  test('the rest of stdin is sent when the command asks for it with its line on stderr', async () => {
    const stdinOnRequest = { marker: 'more-please', data: Buffer.from('rest\n') };
    const result = await withSession(route(h1), (session) => session.exec('read -r l; echo "$l"; echo more-please >&2; cat', { stdin: 'first\n', stdinOnRequest }));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'first\nrest\n');
  });

  test('the rest of stdin is never sent to a command that does not ask for it, whose stdin stays open until it ends', async () => {
    const stdinOnRequest = { marker: 'more-please', data: Buffer.from('rest\n') };
    const result = await withSession(route(h1), (session) => session.exec('read -r l; echo "$l"; timeout 1 cat; echo "cat: $?"', { stdin: 'first\n', stdinOnRequest }));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'first\ncat: 124\n');
  });

  test("a command that exits 255 is the command's status, not a lost connection", async () => {
    const result = await withSession(route(h1), (session) => session.exec('exit 255'));
    assert.equal(result.code, 255);
  });

  test('commands of one host share its one master', async () => {
    await withSession(route(h1), async (session) => {
      await session.exec('true');
      await session.exec('true');
      const masters = processesNaming(tmp).filter((process) => / -M /.test(process.args));
      assert.equal(masters.length, 1, JSON.stringify(masters));
    });
  });

  test('stdout past the cap stops the command with OUTPUT_TOO_LARGE', async () => {
    const error = await withSession(route(h1), (session) => rejection(session.exec('head -c 200000 /dev/zero', { maxOutputBytes: 1000 })));
    assert.equal(error.code, 'OUTPUT_TOO_LARGE');
    assert.equal(error.host, 'h1');
  });

  test('at its deadline a command fails with HOST_TIMEOUT and the stop command ends it on the host', async () => {
    const started = Date.now();
    const error = await withSession(route(h1), (session) => rejection(session.exec(reportingGroup('sleep 3101; echo finished'), { timeoutMs: 3000, stopCommand: killGroup })));
    assert.equal(error.code, 'HOST_TIMEOUT');
    assert.ok(Date.now() - started < 12_000);
    assert.deepEqual(await remoteProcesses(h1, 'sleep 3101'), []);
  });

  test('an abort stops the command with INTERRUPTED and the stop command ends it on the host', async () => {
    const abort = new AbortController();
    const error = await withSession(route(h1), async (session) => {
      const stopped = rejection(session.exec(reportingGroup('sleep 3102'), { signal: abort.signal, stopCommand: killGroup }));
      await waitFor(async () => (await remoteProcesses(h1, 'sleep 3102')).length > 0, 'the command to run');
      // The group report travels on stderr and may come after the sleep started.
      await new Promise((resolve) => setTimeout(resolve, 300));
      abort.abort();
      return stopped;
    });
    assert.equal(error.code, 'INTERRUPTED');
    assert.deepEqual(await remoteProcesses(h1, 'sleep 3102'), []);
  });

  test('a command after its master died fails with CONNECT_FAILED instead of connecting on its own', async () => {
    const error = await withSession(route(h1), async (session) => {
      const [master] = processesNaming(tmp).filter((process) => / -M /.test(process.args));
      assert.ok(master);
      process.kill(master.pid, 'SIGKILL');
      await waitFor(() => !existsSync(`/proc/${master.pid}/cmdline`) || readFileSync(`/proc/${master.pid}/status`, 'utf8').includes('zombie'), 'the master to die');
      return rejection(session.exec('true'));
    });
    assert.equal(error.code, 'CONNECT_FAILED');
    assert.match(error.message, /connection lost/);
  });

  test('a host behind a jump host is reached through the jump host’s master', async () => {
    await withTransport(async (transport) => {
      const behind = await transport.connect(route(h2, { proxyJump: route(h1) }));
      const result = await behind.exec('hostname');
      assert.equal(result.stdout.toString().trim(), 'h2');
      const masters = processesNaming(tmp).filter((process) => / -M /.test(process.args));
      assert.equal(masters.length, 2, 'one master for the jump host, one for the host behind it');
      behind.close();
    });
  });

  test('a host where nothing listens fails with CONNECT_FAILED and leaves no ssh process', async () => {
    const error = await withTransport((transport) => rejection(transport.connect(route(h1, { address: h1.address.replace(/\.\d+$/, '.250') }))));
    assert.equal(error.code, 'CONNECT_FAILED');
    assert.match(error.message, /ECONNREFUSED/);
  });

  test('a key the host does not accept fails with AUTH_FAILED', async () => {
    const stranger = join(scratch, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const error = await withTransport((transport) => rejection(transport.connect(route(h1, { identities: [{ file: stranger, origin: 'option' }] }))));
    assert.equal(error.code, 'AUTH_FAILED');
    assert.match(error.message, /root@h1: authentication refused/);
  });

  test('an unknown host key is refused under strict with HOST_KEY_UNKNOWN and is not recorded', async () => {
    const file = knownHosts(knownLine(h2));
    const error = await withTransport((transport) => rejection(transport.connect(route(h1, { knownHostsFiles: [file] }))));
    assert.equal(error.code, 'HOST_KEY_UNKNOWN');
    assert.match(error.hint ?? '', /ssh-keyscan/);
    assert.equal(readFileSync(file, 'utf8'), knownLine(h2));
  });

  test('accept-new records an unknown host key in the first known_hosts file and says so', async () => {
    const file = knownHosts('');
    const warnings = await withSession(route(h1, { knownHostsFiles: [file], hostKeyPolicy: 'accept-new' }), async (session) => session.warnings);
    assert.deepEqual(warnings, [`recorded new host key of h1 in ${file}`]);
    assert.match(readFileSync(file, 'utf8'), new RegExp(`^${h1.address.replace(/\./g, '\\.')} ssh-ed25519 `));
  });

  test('off accepts an unknown host key with a warning and records nothing', async () => {
    const file = knownHosts('');
    const warnings = await withSession(route(h1, { knownHostsFiles: [file], hostKeyPolicy: 'off' }), async (session) => session.warnings);
    assert.deepEqual(warnings, ['host key of h1 was not checked: --host-key-check off']);
    assert.equal(readFileSync(file, 'utf8'), '');
  });

  for (const policy of ['strict', 'off'] as const) {
    test(`a changed host key is refused with HOST_KEY_MISMATCH under ${policy}, naming the known_hosts line`, async () => {
      const file = knownHosts(knownLine(h2, h1));
      const error = await withTransport((transport) => rejection(transport.connect(route(h1, { knownHostsFiles: [file], hostKeyPolicy: policy }))));
      assert.equal(error.code, 'HOST_KEY_MISMATCH');
      assert.equal(error.file, file);
      assert.equal(error.line, 1);
    });
  }
});

/** A home whose ~/.ssh/config logs in to h1 with a CA-signed certificate of a key h1 does not list. */
function certificateHome(): string {
  const home = join(scratch, 'cert-home');
  if (existsSync(home)) return home;
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const key = join(home, '.ssh', 'cert_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  assert.ok(farm.userCaKey);
  execFileSync('ssh-keygen', ['-q', '-s', farm.userCaKey, '-I', 'stapctl-test', '-n', 'root', '-V', '+1h', `${key}.pub`]);
  const config = [`Host h1`, `  HostName ${h1.address}`, '  User root', `  IdentityFile ${key}`, `  CertificateFile ${key}-cert.pub`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${farm.knownHostsFile}`, ''];
  writeFileSync(join(home, '.ssh', 'config'), config.join('\n'), { mode: 0o600 });
  return home;
}

function stapctl(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args, '--json'], {
    encoding: 'utf8',
    cwd: scratch,
    env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', TMPDIR: tmp, XDG_RUNTIME_DIR: '', ...env },
    timeout: 120_000,
  });
  assert.deepEqual(processesNaming(tmp), [], 'no ssh process of the run is left');
  assert.deepEqual(controlDirectoriesIn(tmp), [], 'no control directory is left');
  try {
    return { code: result.status, json: JSON.parse(result.stdout) as FleetJson & { error?: { code: string; message: string } } };
  } catch {
    assert.fail(`not JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe('fleet runs over the openssh transport', () => {
  test('a user certificate from the ssh config logs in with openssh, where ssh2 fails with AUTH_FAILED', () => {
    const home = certificateHome();
    const overSsh2 = stapctl(['-H', 'h1', 'status', '--transport', 'ssh2'], { HOME: home });
    assert.equal(overSsh2.code, 4);
    assert.equal(overSsh2.json.hosts[0]?.error?.code, 'AUTH_FAILED');
    const overOpenssh = stapctl(['-H', 'h1', 'status', '--transport', 'openssh'], { HOME: home });
    assert.equal(overOpenssh.code, 3, JSON.stringify(overOpenssh.json));
    assert.equal(overOpenssh.json.hosts[0]?.state, 'not-running');
  });

  test("a named key that cannot be read fails the host before connecting with ssh2, and is ssh's business with openssh", () => {
    const missing = ['--identity', join(scratch, 'no-such-key')];
    const overSsh2 = stapctl(['-H', 'h1', 'status', '--transport', 'ssh2', ...missing], { HOME: certificateHome() });
    assert.equal(overSsh2.json.hosts[0]?.state, 'unreachable');
    assert.equal(overSsh2.json.hosts[0]?.error?.code, 'IDENTITY_UNREADABLE');
    const overOpenssh = stapctl(['-H', 'h1', 'status', '--transport', 'openssh', ...missing], { HOME: certificateHome() });
    assert.equal(overOpenssh.code, 3, JSON.stringify(overOpenssh.json));
  });

  test('STAPCTL_TRANSPORT=openssh chooses the transport as --transport does', () => {
    const { code, json } = stapctl(['-H', 'h1', 'status'], { HOME: certificateHome(), STAPCTL_TRANSPORT: 'openssh' });
    assert.equal(code, 3, JSON.stringify(json));
  });

  test('without an ssh client in PATH, --transport openssh is an error before any host is contacted', () => {
    const { code, json } = stapctl(['-H', 'h1', 'status', '--transport', 'openssh'], { HOME: certificateHome(), PATH: join(scratch, 'no-such-dir') });
    assert.equal(code, 2);
    assert.equal(json.error?.code, 'SSH_CLIENT_MISSING');
  });

  test('SIGINT to the controller stops the remote agent, reports the host interrupted and leaves no ssh process', async () => {
    const fleet = ['--inventory', farm.inventoryFile, '--known-hosts', farm.knownHostsFile, '-H', 'h3'];
    // Over ssh2: this also caches the agent on the host.
    assert.equal(stapctl([...fleet, 'start', '-i', '--transport', 'ssh2']).code, 0);
    const resume = await holdServers(farm, h3);
    try {
      const child = spawn(process.execPath, [CLI, ...fleet, 'stop', '--transport', 'openssh', '--json'], {
        env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', TMPDIR: tmp, XDG_RUNTIME_DIR: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await waitFor(async () => (await remoteProcesses(h3, '/.cache/stapctl/')).length > 0, 'the agent to run on h3');
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 130, stdout);
      const json = JSON.parse(stdout) as FleetJson;
      assert.equal(json.hosts[0]?.state, 'interrupted');
      assert.deepEqual(await remoteProcesses(h3, '/.cache/stapctl/'), []);
      assert.deepEqual(processesNaming(tmp), [], 'no ssh process of the run is left');
      assert.deepEqual(controlDirectoriesIn(tmp), [], 'no control directory is left');
    } finally {
      await resume();
      stapctl([...fleet, 'stop', '--transport', 'ssh2']);
    }
  });
});
