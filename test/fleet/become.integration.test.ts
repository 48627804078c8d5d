/**
 * `become: true` end to end: the built CLI logs in to namespace hosts as a non-root user and runs
 * the agent through the hosts' real sudo, once per transport (ssh2, then the system ssh client).
 * Traffic stays on 127.0.4.x.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import { TRANSPORTS, type TransportName } from '../../src/fleet/ssh/transport-names.js';
import { holdServers, homeOf, LOGIN_USERS, startFarm, type Farm, type FarmHost } from './farm.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const STATUS_DIR = '/var/run/stap-server';
let farm: Farm;
let scratch: string;
let h1: FarmHost;
let h2: FarmHost;

/** An inventory of every farm host, all logging in as USER with the farm's client key. */
function writeInventory(name: string, user: string, become: boolean): string {
  const hosts = farm.hosts.map((host) => [
    host.name,
    { ansible_host: host.address, ansible_user: user, become, ansible_ssh_private_key_file: farm.clientKey },
  ]);
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, stringify({ all: { vars: { stapctl_server_user: 'stap-server' }, hosts: Object.fromEntries(hosts) } }));
  return file;
}

let transport: TransportName = 'ssh2';

function fleet(inventory: string, args: string[]): { code: number | null; json: FleetJson } {
  const result = spawnSync(process.execPath, [CLI, '--inventory', inventory, '--known-hosts', farm.knownHostsFile, '--transport', transport, ...args, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' },
    timeout: 120_000,
  });
  try {
    return { code: result.status, json: JSON.parse(result.stdout) as FleetJson };
  } catch {
    assert.fail(`not JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

const hostOf = (json: FleetJson, host: FarmHost) => json.hosts.find((item) => item.host === host.name);

async function statusFiles(host: FarmHost): Promise<string[]> {
  const listing = await farm.exec(host, ['ls', '-A', STATUS_DIR]);
  assert.equal(listing.code, 0, listing.stderr);
  return listing.stdout.split('\n').filter((entry) => entry.endsWith('.stat'));
}

async function processes(host: FarmHost): Promise<string> {
  return (await farm.exec(host, ['ps', '-eo', 'user:32,args'])).stdout;
}

async function homeOn(host: FarmHost, user: string): Promise<string> {
  const home = homeOf((await farm.exec(host, ['cat', '/etc/passwd'])).stdout, user);
  assert.ok(home !== undefined, `${user} does not exist on ${host.name}`);
  return home;
}

let sudoers: string;
let passwordSudo: string;
let withoutBecome: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-become-test-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 2, firstAddress: '127.0.4.1', loginUsers: true });
  [h1, h2] = farm.hosts as [FarmHost, FarmHost];
  sudoers = writeInventory('passwordless-sudo', LOGIN_USERS.passwordlessSudo, true);
  passwordSudo = writeInventory('password-sudo', LOGIN_USERS.passwordSudo, true);
  withoutBecome = writeInventory('without-become', LOGIN_USERS.passwordlessSudo, false);
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

for (const name of TRANSPORTS) describe(`become over ${name}: the agent runs as root through sudo -n`, () => {
  before(async () => {
    transport = name;
    // What the previous transport's timeout test left (a server stopped half-way) goes first.
    assert.equal(fleet(sudoers, ['-H', 'h1,h2', 'stop']).code, 0);
    assert.deepEqual(await statusFiles(h1), []);
  });

  test('the login users and their homes exist only inside the farm hosts', async () => {
    const home = await homeOn(h1, LOGIN_USERS.passwordlessSudo);
    assert.equal(homeOf(readFileSync('/etc/passwd', 'utf8'), LOGIN_USERS.passwordlessSudo) === home, false);
    assert.equal(existsSync(home), false, `${home} exists outside the host`);
    const rule = await farm.exec(h1, ['stat', '-c', '%a %U', `/etc/sudoers.d/stapctl-${LOGIN_USERS.passwordlessSudo}`]);
    assert.equal(rule.stdout.trim(), '440 root');
  });

  test('start as a login user with passwordless sudo starts a verified server recorded in the root-only status directory', async () => {
    const { code, json } = fleet(sudoers, ['-H', 'h1', 'start', '-r', `6.1.0-h1-a`]);
    assert.equal(code, 0, JSON.stringify(json));
    const [server] = hostOf(json, h1)?.result?.servers ?? [];
    assert.equal(server?.outcome, 'started');
    assert.equal(server.user, 'stap-server');
    assert.deepEqual(await statusFiles(h1), [`${server.pid}.stat`]);
    const owner = await farm.exec(h1, ['ps', '-o', 'user:32=,comm=', '-p', String(server.pid)]);
    assert.equal(owner.stdout.trim().replace(/\s+/g, ' '), 'stap-server stap-serverd');
    const writable = await farm.exec(h1, ['runuser', '-u', LOGIN_USERS.passwordlessSudo, '--', 'test', '-w', STATUS_DIR]);
    assert.equal(writable.code, 1, `${LOGIN_USERS.passwordlessSudo} can write ${STATUS_DIR} itself: the test proves nothing`);
  });

  test("the agent is cached in the login user's home, not in root's", async () => {
    const home = await homeOn(h1, LOGIN_USERS.passwordlessSudo);
    const cached = await farm.exec(h1, ['find', `${home}/.cache/stapctl`, '/root', '-name', 'agent', '-printf', '%u %p\n']);
    const lines = cached.stdout.trim().split('\n');
    assert.equal(lines.length, 1, cached.stdout);
    assert.match(lines[0] ?? '', new RegExp(`^${LOGIN_USERS.passwordlessSudo} ${home}/\\.cache/stapctl/[^/]+/agent$`));
  });

  test('status through sudo lists the running server', () => {
    const { code, json } = fleet(sudoers, ['-H', 'h1', 'status']);
    assert.equal(code, 0);
    const servers = hostOf(json, h1)?.result?.servers ?? [];
    assert.deepEqual(
      servers.map((server) => [server.releases, server.outcome]),
      [[['6.1.0-h1-a'], 'running']],
    );
  });

  test('stop through sudo ends the server and removes its status file', async () => {
    const { code, json } = fleet(sudoers, ['-H', 'h1', 'stop']);
    assert.equal(code, 0, JSON.stringify(json));
    assert.deepEqual(await statusFiles(h1), []);
    assert.doesNotMatch(await processes(h1), /stap-serverd/);
  });

  test('a root agent past --timeout is killed through sudo, even when sudo allows the login user only node', async () => {
    assert.equal(fleet(sudoers, ['-H', 'h1', 'start', '-r', '6.1.0-h1-b']).code, 0);
    const rule = `/etc/sudoers.d/stapctl-${LOGIN_USERS.passwordlessSudo}`;
    const original = (await farm.exec(h1, ['cat', rule])).stdout;
    // The node the agent runs with: the hosts' sshd puts this machine's node first in PATH.
    await farm.exec(h1, ['sh', '-c', `echo "${LOGIN_USERS.passwordlessSudo} ALL=(root) NOPASSWD: ${process.execPath}" >${rule}`]);
    try {
      // Held servers make the stop wait 10 s before SIGKILL: far past this timeout.
      const resume = await holdServers(farm, h1);
      try {
        const { code, json } = fleet(sudoers, ['-H', 'h1', 'stop', '--timeout', '4']);
        assert.equal(code, 1);
        assert.equal(hostOf(json, h1)?.error?.code, 'HOST_TIMEOUT');
        assert.doesNotMatch(await processes(h1), /\.cache\/stapctl\/|sudo/);
      } finally {
        await resume();
      }
    } finally {
      await farm.exec(h1, ['sh', '-c', `printf '%s' "$1" >${rule}`, 'sh', original]);
    }
  });

  test('a login user whose sudo asks for a password fails that host with AGENT_FAILED and starts nothing', async () => {
    const { code, json } = fleet(passwordSudo, ['-H', 'h2', 'start', '-r', '6.1.0-h2-a']);
    assert.equal(code, 1);
    const result = hostOf(json, h2);
    assert.equal(result?.state, 'failed');
    assert.equal(result.error?.code, 'AGENT_FAILED');
    assert.equal(result.error.message, 'sudo needs a password on this host');
    assert.match(result.error.hint ?? '', /passwordless sudo/);
    assert.deepEqual(await statusFiles(h2), []);
    assert.doesNotMatch(await processes(h2), /stap-serverd/);
  });

  test('without become the login user cannot start a server: PERMISSION_DENIED and nothing written', async () => {
    const { code, json } = fleet(withoutBecome, ['-H', 'h2', 'start', '-r', '6.1.0-h2-a']);
    assert.equal(code, 1);
    const result = hostOf(json, h2);
    assert.equal(result?.state, 'failed');
    assert.deepEqual(
      result.result?.errors.map((error) => [error.code, error.file]),
      [['PERMISSION_DENIED', STATUS_DIR]],
    );
    const listing = await farm.exec(h2, ['ls', '-A', STATUS_DIR]);
    assert.equal(listing.stdout, '');
    assert.doesNotMatch(await processes(h2), /stap-serverd/);
  });
});
