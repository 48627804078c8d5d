/**
 * Fleet mode end to end: the built CLI against a namespace farm of real sshd hosts, each running
 * real stap-serverd servers, once per transport (ssh2, then the system ssh client). Traffic stays
 * on 127.0.1.x (127.N.1.x with STAPCTL_FARM_NET=N).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import { TRANSPORTS, type TransportName } from '../../src/fleet/ssh/transport-names.js';
import { acceptsTcp } from '../support/expect.js';
import { controlDirectoriesIn, processesNaming } from '../support/ssh-leftovers.js';
import { holdServers, inFarmNetwork, startFarm, type Farm } from './farm.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const HOSTS = 3;
let farm: Farm;
let scratch: string;

let transport: TransportName = 'ssh2';

/**
 * The CLI on the farm with the current transport. Every openssh run keeps its control directory
 * under its own TMPDIR, and must leave neither an ssh process nor that directory behind.
 */
function stapctl(args: string[], options: { knownHosts?: string; inventory?: string } = {}) {
  const tmp = join(scratch, `tmp-${transport}`);
  mkdirSync(tmp, { recursive: true });
  const result = spawnSync(
    process.execPath,
    [CLI, '--inventory', options.inventory ?? farm.inventoryFile, '--known-hosts', options.knownHosts ?? farm.knownHostsFile, '--transport', transport, ...args],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', TMPDIR: tmp, XDG_RUNTIME_DIR: '' }, timeout: 120_000 },
  );
  assert.deepEqual(processesNaming(tmp), [], 'no ssh process of the run is left');
  assert.deepEqual(controlDirectoriesIn(tmp), [], 'no control directory is left');
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fleet(args: string[], options?: { knownHosts?: string; inventory?: string }): { code: number | null; json: FleetJson; stderr: string } {
  const result = stapctl([...args, '--json'], options);
  let json: FleetJson;
  try {
    json = JSON.parse(result.stdout) as FleetJson;
  } catch {
    assert.fail(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { code: result.code, json, stderr: result.stderr };
}

function addressOf(name: string): string {
  const host = farm.hosts.find((item) => item.name === name);
  assert.ok(host, `the farm has a host ${name}`);
  return host.address;
}

const serversOf = (json: FleetJson, host: string) => json.hosts.find((item) => item.host === host)?.result?.servers ?? [];

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-fleet-test-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: HOSTS, firstAddress: '127.0.1.21' });
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

for (const name of TRANSPORTS) describe(`fleet mode on a namespace farm over ${name}`, () => {
  before(() => {
    transport = name;
  });

  test('hosts lists the resolved hosts and their settings without connecting', () => {
    const result = stapctl(['-H', 'farm,!h2', 'hosts']);
    assert.equal(result.code, 0);
    assert.ok(result.stdout.split('\n').some((line) => line.startsWith(`h1  root@${addressOf('h1')}:22  (server user stap-server)  [${farm.inventoryFile}:`)), result.stdout);
    assert.ok(result.stdout.split('\n').some((line) => line.startsWith(`h3  root@${addressOf('h3')}:22`)), result.stdout);
    assert.doesNotMatch(result.stdout, /^h2 /m);
    assert.match(result.stdout, /^2 hosts$/m);
  });

  test('start -i starts one verified server per release on every host', () => {
    const { code, json } = fleet(['-H', 'farm', 'start', '-i']);
    assert.equal(code, 0, JSON.stringify(json, null, 2));
    assert.deepEqual(json.counts, { ok: HOSTS, failed: 0, 'not-running': 0, unreachable: 0, interrupted: 0, skipped: 0 });
    for (const host of farm.hosts) {
      const servers = serversOf(json, host.name);
      assert.deepEqual(
        servers.map((server) => [server.outcome, server.releases]),
        [
          ['started', [`6.1.0-${host.name}-a`]],
          ['started', [`6.1.0-${host.name}-b`]],
        ],
      );
      for (const server of servers) assert.ok(server.pid && server.port);
    }
  });

  test('the first run installed the agent through its launcher (the hosts offer no SFTP), and the next run reuses it', () => {
    const cacheOf = (host: (typeof farm.hosts)[number]) => join(host.dir, 'state/root/.cache/stapctl');
    const [host] = farm.hosts;
    assert.ok(host);
    const versions = readdirSync(cacheOf(host));
    assert.equal(versions.length, 1);
    assert.deepEqual(readdirSync(join(cacheOf(host), versions[0] as string)), ['agent']);
    const agent = join(cacheOf(host), versions[0] as string, 'agent');
    assert.equal(statSync(agent).mode & 0o777, 0o600);
    const before = statSync(agent).mtimeMs;
    assert.equal(fleet(['-H', 'h1', 'status']).code, 0);
    assert.equal(statSync(agent).mtimeMs, before);
  });

  test('status shows every server running, as a table with a summary', () => {
    const result = stapctl(['-H', 'farm', 'status', '--output', 'table']);
    assert.equal(result.code, 0, result.stderr);
    for (const host of farm.hosts) assert.match(result.stdout, new RegExp(`${host.name}\\s.*ok`));
    assert.equal((result.stdout.match(/6\.1\.0-h\d-[ab]/g) ?? []).length, 2 * HOSTS);
    assert.match(result.stdout, /^3 hosts: 3 ok in \d+\.\d s$/m);
  });

  test("a run with more hosts in flight than Node's default listener limit writes no Node warning", () => {
    const [host] = farm.hosts;
    assert.ok(host);
    const names = Array.from({ length: 12 }, (_, index) => `alias${index + 1}`);
    const inventory = join(scratch, 'aliases.yaml');
    writeFileSync(inventory, `all:\n  hosts:\n${names.map((name) => `    ${name}: { ansible_host: ${host.address}, ansible_user: root, ansible_ssh_private_key_file: ${farm.clientKey} }\n`).join('')}`);
    const { json, stderr } = fleet(['-H', 'all', '-f', '12', 'status'], { inventory });
    assert.deepEqual(json.hosts.map((item) => item.host).sort(), [...names].sort());
    assert.doesNotMatch(stderr, /Warning|\(node:\d+\)/);
  });

  test("the stock stap-server status on a host lists the servers the fleet started", async () => {
    const [host] = farm.hosts;
    assert.ok(host);
    const stock = await farm.exec(host, ['/usr/bin/stap-server', 'status']);
    assert.equal(stock.code, 0, stock.stdout + stock.stderr);
    const lines = stock.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /^stap-server -a "\S+" -r "6\.1\.0-h1-[ab]" -u "stap-server" -n "\d+" --log "\/var\/log\/stap-server\/log" running as PID \d+$/);
  });

  test('a stap client reaches a server that the fleet started', async () => {
    const { json } = fleet(['-H', 'h2', 'status']);
    const [server] = serversOf(json, 'h2');
    assert.ok(server?.port);
    const host = farm.hosts.find((item) => item.name === 'h2');
    assert.ok(host);
    const client = spawnSync('stap', [`--use-server=${host.address}:${server.port}`, '--trust-servers=ssl,no-prompt', '-p', '4', '-e', 'probe begin { exit() }'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HOME: scratch },
    });
    // The kernels are fake, so the compile itself fails; what matters is that the server took the request.
    const log = readFileSync(join(host.dir, 'state/var/log/stap-server/log'), 'utf8');
    assert.match(log, /Accepted connection|Connection established|Request from/i, `client said:\n${client.stderr}`);
  });

  test('restart replaces every server on the chosen hosts', () => {
    const before = fleet(['-H', 'h1', 'status']).json;
    const { code, json } = fleet(['-H', 'h1', 'restart']);
    assert.equal(code, 0);
    const oldPids = serversOf(before, 'h1').map((server) => server.pid);
    const newPids = serversOf(json, 'h1').filter((server) => server.step === 'start').map((server) => server.pid);
    assert.equal(newPids.length, 2);
    for (const pid of newPids) assert.ok(!oldPids.includes(pid));
  });

  test('condrestart restarts only what runs', () => {
    const { code, json } = fleet(['-H', 'h2', 'condrestart']);
    assert.equal(code, 0);
    assert.deepEqual(
      serversOf(json, 'h2').map((server) => `${server.step}:${server.outcome}`),
      ['stop:stopped', 'stop:stopped', 'start:started', 'start:started'],
    );
  });

  test('an unreachable host is reported as such while the other hosts succeed, and the run exits 4', () => {
    const inventory = join(scratch, 'with-dead-host.yaml');
    writeFileSync(inventory, readFileSync(farm.inventoryFile, 'utf8').replace(/children:/, `hosts:\n    dead:\n      ansible_host: ${inFarmNetwork('127.0.1.250')}\n      ansible_user: root\n  children:`));
    const { code, json } = fleet(['-H', 'all', 'status', '--connect-timeout', '3'], { inventory });
    assert.equal(code, 4);
    const dead = json.hosts.find((item) => item.host === 'dead');
    assert.equal(dead?.state, 'unreachable');
    assert.equal(dead?.error?.code, 'CONNECT_FAILED');
    assert.equal(json.counts.ok, HOSTS);
  });

  test('an unknown host key refuses that host only, says how to add it, and the run exits 4', () => {
    const knownHosts = join(scratch, 'partial_known_hosts');
    writeFileSync(knownHosts, readFileSync(farm.knownHostsFile, 'utf8').split('\n').filter((line) => !(line.split(' ')[0] ?? '').split(',').includes('h3')).join('\n'));
    const { code, json } = fleet(['-H', 'farm', 'status'], { knownHosts });
    assert.equal(code, 4);
    const h3 = json.hosts.find((item) => item.host === 'h3');
    assert.equal(h3?.state, 'unreachable');
    assert.equal(h3?.error?.code, 'HOST_KEY_UNKNOWN');
    assert.match(h3?.error?.hint ?? '', /ssh-keyscan/);
    assert.deepEqual(json.hosts.filter((item) => item.host !== 'h3').map((item) => item.state), ['ok', 'ok']);
    assert.equal(readFileSync(knownHosts, 'utf8').includes(addressOf('h3')), false, 'strict mode records nothing');
  });

  test('a host that exceeds --timeout fails with HOST_TIMEOUT and its agent is stopped', async () => {
    const host = farm.hosts.find((item) => item.name === 'h3');
    assert.ok(host);
    // Held servers make the stop wait 10 s before SIGKILL: far past this timeout, yet a loaded
    // machine still has time to connect.
    const resume = await holdServers(farm, host);
    try {
      const { code, json } = fleet(['-H', 'h3', 'stop', '--timeout', '4']);
      assert.equal(code, 1);
      assert.equal(json.hosts[0]?.state, 'failed');
      assert.equal(json.hosts[0]?.error?.code, 'HOST_TIMEOUT');
      assert.match(json.hosts[0]?.error?.message ?? '', /within --timeout 4 s/);
      const ps = await farm.exec(host, ['ps', '-eo', 'args']);
      assert.doesNotMatch(ps.stdout, /\.cache\/stapctl\//);
    } finally {
      await resume();
    }
  });

  test('force-reload on every host stops all servers and starts the default one', () => {
    const { code, json } = fleet(['-H', 'farm', 'force-reload']);
    assert.equal(code, 0);
    for (const host of farm.hosts) {
      const started = serversOf(json, host.name).filter((server) => server.step === 'start');
      assert.deepEqual(started.map((server) => server.outcome), ['started']);
    }
  });

  test('stop ends every server on every host and status then exits 3', async () => {
    assert.equal(fleet(['-H', 'farm', 'stop']).code, 0);
    const { code, json } = fleet(['-H', 'farm', 'status']);
    assert.equal(code, 3);
    assert.deepEqual(json.counts, { ok: 0, failed: 0, 'not-running': HOSTS, unreachable: 0, interrupted: 0, skipped: 0 });
    for (const host of farm.hosts) {
      const stock = await farm.exec(host, ['/usr/bin/stap-server', 'status']);
      assert.equal(stock.stdout.trim(), 'No managed stap-server is running');
    }
  });

  test('a port nobody listens on is closed on the hosts once the fleet stopped', async () => {
    const { json } = fleet(['-H', 'h1', 'start', '-r', '6.1.0-h1-a']);
    const [server] = serversOf(json, 'h1');
    assert.ok(server?.port);
    fleet(['-H', 'h1', 'stop']);
    const open = await acceptsTcp(addressOf('h1'), server.port);
    assert.equal(open, false);
  });
});
