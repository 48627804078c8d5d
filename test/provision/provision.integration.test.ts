/**
 * Provisioning end to end: the built CLI's apply, endpoints and trust against a namespace farm of
 * real sshd hosts running real stap-serverd, and a real stap client. The tests run in order and
 * share the farm's state, as a CI pipeline would: converge, re-apply, change, remove, trust.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import { startFarm, type Farm, type FarmHost } from '../fleet/farm.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const CHECK_DRIFT = 5;
let farm: Farm;
let scratch: string;
let inventory: string;

interface ApplyJson {
  exitCode: number;
  changed: boolean;
  summary: string;
  hosts: { host: string; state: string; apply?: { servers: { nickname: string; change: string; action: string; outcome: string; pid?: number }[] } }[];
}

interface TrustJson {
  servers: { host: string; fingerprint?: string }[];
  hosts: { host: string; state: string; trust?: { changed: string[]; trusted: string[] } }[];
}

interface EndpointsJson {
  endpoints: { host: string; address: string; port: number; nickname: string; arch: string; releases: string[]; fingerprint?: string }[];
}

function stapctl(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, '--inventory', inventory, '--known-hosts', farm.knownHostsFile, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '' },
    timeout: 180_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json<T>(args: string[]): { code: number | null; json: T } {
  const result = stapctl([...args, '--json']);
  try {
    return { code: result.code, json: JSON.parse(result.stdout) as T };
  } catch {
    assert.fail(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

const host = (name: string): FarmHost => {
  const found = farm.hosts.find((item) => item.name === name);
  assert.ok(found, `farm host ${name}`);
  return found;
};
const confDir = (name: string) => join(host(name).dir, 'state/etc/stap-server/conf.d');
const confFiles = (name: string) => (existsSync(confDir(name)) ? readdirSync(confDir(name)).sort() : []);

/** nickname -> pid (or port) of the servers `status` sees on a host. */
function running(name: string, field: 'pid' | 'port' = 'pid'): Map<string, number> {
  const { json: status } = json<FleetJson>(['-H', name, 'status']);
  const servers = status.hosts[0]?.result?.servers ?? [];
  return new Map(servers.filter((server) => server.outcome === 'running').map((server) => [server.nickname, server[field] as number]));
}

/**
 * A real stap client on the client host h4, as root with an empty home (no private trust), stdin
 * closed: a prompt would read end-of-file and refuse.
 */
function stapClient(useServer: string) {
  const home = mkdtempSync(join(scratch, 'client-home-'));
  return farm.exec(host('h4'), ['sh', '-c', 'exec "$@" </dev/null', 'sh', 'env', `HOME=${home}`, 'stap', useServer, '-p', '4', '-e', 'probe begin { exit() }']);
}

/** Three groups: every build host gets `native`; x86 adds `tapsets`; cross adds an arm64 server. h4 is a client. */
function writeInventory(overrides: { native?: string[]; x86?: object[]; h2?: object[] } = {}): void {
  const vars = (name: string) => {
    const { address, port } = host(name);
    return { ansible_host: address, ansible_port: port, ansible_user: 'root', ansible_ssh_private_key_file: farm.clientKey };
  };
  writeFileSync(
    inventory,
    stringify({
      all: {
        vars: { stapctl_server_user: 'stap-server' },
        children: {
          build: {
            vars: { stap_servers: [{ nickname: 'native', releases: overrides.native ?? ['6.1.0-a'] }] },
            children: {
              x86: {
                vars: { stap_servers: overrides.x86 ?? [{ nickname: 'tapsets', releases: ['6.1.0-b'], includes: ['/opt/tapsets'] }] },
                hosts: { h1: vars('h1'), h2: { ...vars('h2'), ...(overrides.h2 && { stap_servers: overrides.h2 }) } },
              },
              cross: {
                vars: { stap_servers: [{ nickname: 'arm', arch: 'arm64', releases: ['6.1.0-arm'] }] },
                hosts: { h3: vars('h3') },
              },
            },
          },
          clients: { hosts: { h4: vars('h4') } },
        },
      },
    }),
  );
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-provision-farm-'));
  inventory = join(scratch, 'inventory.yaml');
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 4, firstAddress: '127.0.1.61' });
  writeInventory();
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

describe('provisioning a farm from the inventory', () => {
  test('apply --check before anything exists exits with the drift code and writes nothing', () => {
    const { code, json: plan } = json<ApplyJson>(['-H', 'build', 'apply', '--check']);
    assert.equal(code, CHECK_DRIFT);
    assert.equal(plan.changed, true);
    for (const name of ['h1', 'h2', 'h3']) assert.deepEqual(confFiles(name), []);
  });

  test('apply converges a three-group inventory: each host runs the servers its groups declare', () => {
    const { code, json: applied } = json<ApplyJson>(['-H', 'build', 'apply']);
    assert.equal(code, 0, JSON.stringify(applied, null, 1));
    assert.deepEqual(confFiles('h1'), ['native.conf', 'tapsets.conf']);
    assert.deepEqual(confFiles('h3'), ['arm.conf', 'native.conf']);
    assert.deepEqual([...running('h1').keys()].sort(), ['native', 'tapsets']);
    assert.deepEqual([...running('h3').keys()].sort(), ['arm', 'native']);
  });

  test('a second apply changes nothing and says so', () => {
    const before = running('h1');
    const result = stapctl(['-H', 'build', 'apply']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /no changes/);
    assert.deepEqual(running('h1'), before);
  });

  test('apply --check after convergence reports no drift', () => {
    const { code, json: plan } = json<ApplyJson>(['-H', 'build', 'apply', '--check']);
    assert.equal(code, 0);
    assert.equal(plan.changed, false);
  });

  test('--diff shows the change of one release as a unified diff of its conf.d file', () => {
    writeInventory({ native: ['6.1.0-new'] });
    const result = stapctl(['-H', 'h1', 'apply', '--check', '--diff']);
    assert.equal(result.code, CHECK_DRIFT);
    assert.match(result.stdout, /^--- a\/h1\/etc\/stap-server\/conf\.d\/native\.conf$/m);
    assert.match(result.stdout, /^-RELEASE=6\.1\.0-a$/m);
    assert.match(result.stdout, /^\+RELEASE=6\.1\.0-new$/m);
  });

  test('changing one release restarts only that server', () => {
    writeInventory({ native: ['6.1.0-new'] });
    const before = running('h1');
    const { code } = json<ApplyJson>(['-H', 'h1', 'apply']);
    assert.equal(code, 0);
    const after = running('h1');
    assert.notEqual(after.get('native'), before.get('native'));
    assert.equal(after.get('tapsets'), before.get('tapsets'));
  });

  test('removing a server stops it and deletes only its managed file; a hand-written file survives', async () => {
    writeFileSync(join(confDir('h2'), 'hand.conf'), 'NICKNAME=hand\nRELEASE=6.1.0-h\n');
    writeInventory({ native: ['6.1.0-new'], x86: [] });
    const { code, json: applied } = json<ApplyJson>(['-H', 'h2', 'apply']);
    assert.equal(code, 0);
    const removed = applied.hosts[0]?.apply?.servers.find((server) => server.nickname === 'tapsets');
    assert.equal(removed?.change, 'removed');
    assert.deepEqual(confFiles('h2'), ['hand.conf', 'native.conf']);
    assert.deepEqual([...running('h2').keys()], ['native']);
  });

  test('a bad stap_servers entry is an error with its place and changes nothing on any host', () => {
    writeInventory({ native: ['6.1.0-new'], x86: [], h2: [{ nickname: 'bad', port: 'x' }] });
    const before = confFiles('h1').map((name) => readFileSync(join(confDir('h1'), name), 'utf8'));
    const result = stapctl(['-H', 'build', 'apply']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /inventory\.yaml:\d+:\d+: stap_servers\[0\]\.port must be a port number/);
    assert.deepEqual(confFiles('h1').map((name) => readFileSync(join(confDir('h1'), name), 'utf8')), before);
    writeInventory({ native: ['6.1.0-new'], x86: [] });
  });

  test('endpoints lists the servers status sees, with their ports', () => {
    const { code, json: listed } = json<EndpointsJson>(['-H', 'build', 'endpoints']);
    assert.equal(code, 0);
    for (const name of ['h1', 'h2', 'h3']) {
      const ports = new Map(listed.endpoints.filter((endpoint) => endpoint.host === name).map((endpoint) => [endpoint.nickname, endpoint.port]));
      assert.deepEqual(ports, running(name, 'port'), name);
    }
    assert.ok(listed.endpoints.every((endpoint) => /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/.test(endpoint.fingerprint ?? '')));
  });

  test('endpoints --format use-server prints the stap argument, filtered by --arch', () => {
    const result = stapctl(['-H', 'build', 'endpoints', '--format', 'use-server', '--arch', 'arm64']);
    assert.equal(result.code, 0);
    assert.match(result.stdout.trim(), new RegExp(`^--use-server=${host('h3').address.replace(/\./g, '\\.')}:\\d+$`));
  });

  test('after trust, a stap client on a client host is accepted by the server without a trust prompt', async () => {
    const useServer = stapctl(['-H', 'h1', 'endpoints', '--format', 'use-server', '--release', '6.1.0-new']).stdout.trim();
    assert.match(useServer, /^--use-server=\S+:\d+$/);
    const log = join(host('h1').dir, 'state/var/log/stap-server/log');
    const client = () => stapClient(useServer);

    const untrusted = readFileSync(log, 'utf8').length;
    await client();
    assert.match(readFileSync(log, 'utf8').slice(untrusted), /SSL peer cannot verify your certificate/, 'without trust the client refuses the server');

    const trusted = stapctl(['-H', 'h4', 'trust', '--servers', 'h1']);
    assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
    const mark = readFileSync(log, 'utf8').length;
    await client();
    const since = readFileSync(log, 'utf8').slice(mark);
    assert.match(since, /Options passed from the client/);
    assert.doesNotMatch(since, /cannot verify/);
  });

  test('trust --revoke makes the client refuse the server again', async () => {
    const revoked = stapctl(['-H', 'h4', 'trust', '--servers', 'h1', '--revoke']);
    assert.equal(revoked.code, 0, revoked.stdout + revoked.stderr);
    const useServer = stapctl(['-H', 'h1', 'endpoints', '--format', 'use-server']).stdout.trim();
    const log = join(host('h1').dir, 'state/var/log/stap-server/log');
    const mark = readFileSync(log, 'utf8').length;
    await stapClient(useServer);
    assert.match(readFileSync(log, 'utf8').slice(mark), /SSL peer cannot verify your certificate/);
  });

  test('trust --revoke works while the servers are stopped, from what the client recorded', async () => {
    const trusted = json<TrustJson>(['-H', 'h4', 'trust', '--servers', 'h1']);
    assert.equal(trusted.code, 0);
    const fingerprint = trusted.json.servers[0]?.fingerprint;
    assert.ok(fingerprint !== undefined && trusted.json.hosts[0]?.trust?.trusted.includes(fingerprint));
    assert.equal(stapctl(['-H', 'h1', 'stop']).code, 0);
    assert.deepEqual([...running('h1').keys()], []);

    const revoked = json<TrustJson>(['-H', 'h4', 'trust', '--servers', 'h1', '--revoke']);
    assert.equal(revoked.code, 0, JSON.stringify(revoked.json));
    assert.deepEqual(revoked.json.hosts[0]?.trust?.changed, [fingerprint]);
    assert.equal(revoked.json.hosts[0]?.trust?.trusted.includes(fingerprint), false);

    // Started again with the same certificate, the server is refused by the client.
    assert.equal(stapctl(['-H', 'h1', 'apply']).code, 0);
    const useServer = stapctl(['-H', 'h1', 'endpoints', '--format', 'use-server']).stdout.trim();
    const log = join(host('h1').dir, 'state/var/log/stap-server/log');
    const mark = readFileSync(log, 'utf8').length;
    await stapClient(useServer);
    assert.match(readFileSync(log, 'utf8').slice(mark), /SSL peer cannot verify your certificate/);
  });
});
