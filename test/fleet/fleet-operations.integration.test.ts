/**
 * Fleet operations end to end on a namespace farm: gathered and line output, the retry file and
 * `-H @FILE`, rolling runs that stop at --max-fail. The built CLI against real sshd hosts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import { inFarmNetwork, startFarm, type Farm } from './farm.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let farm: Farm;
let scratch: string;
/** The farm's inventory with a host nobody answers for placed second: h1, dead, h2, h3. */
let withDeadHost: string;

function stapctl(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(process.execPath, [CLI, '--inventory', withDeadHost, '--known-hosts', farm.knownHostsFile, '--connect-timeout', '3', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SSH_AUTH_SOCK: '', HOME: scratch, ...options.env },
    timeout: 120_000,
    ...(options.input !== undefined && { input: options.input }),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json(args: string[], options?: { input?: string }): FleetJson {
  const result = stapctl([...args, '--json'], options);
  try {
    return JSON.parse(result.stdout) as FleetJson;
  } catch {
    assert.fail(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

const states = (document: FleetJson) => document.hosts.map((host) => `${host.host}:${host.state}`);

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-fleet-ops-test-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 3, firstAddress: '127.0.6.1' });
  withDeadHost = join(scratch, 'inventory.yaml');
  const dead = `        dead:\n          ansible_host: ${inFarmNetwork('127.0.6.250')}\n          ansible_user: root\n        h2:\n`;
  writeFileSync(withDeadHost, readFileSync(farm.inventoryFile, 'utf8').replace(/^ {8}h2:\n/m, dead));
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

describe('fleet output on a namespace farm', () => {
  test('into a pipe, stdout holds one host: result line per host and nothing else', () => {
    const result = stapctl(['-H', 'farm,!dead', 'status']);
    assert.equal(result.code, 3, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), ['h1: not-running: No managed stap-server is running', 'h2: not-running: No managed stap-server is running', 'h3: not-running: No managed stap-server is running']);
    assert.match(result.stderr, /^3 hosts: 3 not-running in \d+\.\d s$/m);
  });

  test('--gather folds the hosts with the same result into one folded host set', () => {
    const result = stapctl(['-H', 'farm', 'status', '-b']);
    assert.equal(result.code, 4, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), [
      'h[1-3] (3): not-running: No managed stap-server is running',
      `dead (1): unreachable: cannot connect to dead (${inFarmNetwork('127.0.6.250')}:22): ECONNREFUSED`,
    ]);
    assert.match(result.stderr, /^unreachable: dead \(1\)$/m);
  });

  test('--output table draws the table even into a pipe', () => {
    const result = stapctl(['-H', 'h1', 'status', '--output', 'table']);
    assert.match(result.stdout, /│ h1 +│ not-running │/);
  });
});

describe('retrying the hosts that did not succeed', () => {
  test('a run with failures writes them to a private file and prints the command that retries them', () => {
    const file = join(scratch, 'retry', 'failed-hosts');
    const result = stapctl(['-H', 'farm', 'status', '--failed-hosts', file]);
    assert.equal(result.code, 4);
    assert.equal(readFileSync(file, 'utf8'), 'dead\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(result.stderr.includes(`to retry the hosts that did not succeed: stapctl --inventory ${withDeadHost} --known-hosts ${farm.knownHostsFile} --connect-timeout 3 -H @${file} status --failed-hosts ${file}`), result.stderr);
  });

  test('without --failed-hosts the file is under ~/.cache/stapctl', () => {
    stapctl(['-H', 'dead,h1', 'status']);
    assert.equal(readFileSync(join(scratch, '.cache', 'stapctl', 'failed-hosts'), 'utf8'), 'dead\n');
  });

  test('-H @FILE runs exactly the hosts the file lists', () => {
    const file = join(scratch, 'two-hosts');
    writeFileSync(file, '# from a retry\nh3\nh1\n');
    assert.deepEqual(states(json(['-H', `@${file}`, 'status'])), ['h3:not-running', 'h1:not-running']);
  });

  test('-H - reads the hosts from stdin', () => {
    assert.deepEqual(states(json(['-H', '-', 'status'], { input: 'h2\n' })), ['h2:not-running']);
  });
});

describe('rolling runs', () => {
  test('--serial 1 --max-fail 0 starts no batch after the one that failed; the rest are skipped', async () => {
    const document = json(['-H', 'farm', 'start', '--serial', '1', '--max-fail', '0']);
    assert.deepEqual(states(document), ['h1:ok', 'dead:unreachable', 'h2:skipped', 'h3:skipped']);
    assert.equal(document.exitCode, 4);
    assert.deepEqual(document.hostSets.skipped, ['h[2-3]']);
    const [, h2] = farm.hosts;
    assert.ok(h2);
    const stock = await farm.exec(h2, ['/usr/bin/stap-server', 'status']);
    assert.equal(stock.stdout.trim(), 'No managed stap-server is running', 'a skipped host is left alone');
  });

  test('without --max-fail every batch runs despite a failure', () => {
    const document = json(['-H', 'farm', 'stop', '--serial', '50%']);
    assert.deepEqual(states(document), ['h1:ok', 'dead:unreachable', 'h2:ok', 'h3:ok']);
  });
});

describe('the user\'s ssh config', () => {
  /** A home of its own: its ~/.ssh/config applies to these tests only. */
  function sshHome(name: string, config: string): string {
    const home = join(scratch, name);
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'config'), config);
    return home;
  }

  function emptyKnownHosts(name: string): string {
    const file = join(scratch, name);
    writeFileSync(file, '');
    return file;
  }

  test('ProxyCommand carries the connection, run by sh with %h and %p expanded', () => {
    const proxy = join(scratch, 'proxy.cjs');
    const log = join(scratch, 'proxy.log');
    writeFileSync(
      proxy,
      "const [host, port, log] = process.argv.slice(2); require('fs').appendFileSync(log, host + ' ' + port + '\\n');\n" +
        "const socket = require('net').connect(Number(port), host); process.stdin.pipe(socket); socket.pipe(process.stdout);\n",
    );
    const home = sshHome('proxy-home', `Host h3\n  ProxyCommand "${process.execPath}" ${proxy} %h %p ${log}\n`);
    const result = stapctl(['-H', 'h3', 'status', '--json'], { env: { HOME: home } });
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const h3 = farm.hosts.find((host) => host.name === 'h3');
    assert.equal(readFileSync(log, 'utf8'), `${h3?.address} 22\n`);
  });

  test('StrictHostKeyChecking accept-new of the ssh config records an unknown host key', () => {
    const knownHosts = emptyKnownHosts('accept-new-known-hosts');
    const home = sshHome('accept-new-home', 'Host h1\n  StrictHostKeyChecking accept-new\n');
    const result = stapctl(['-H', 'h1', 'status', '--known-hosts', knownHosts, '--json'], { env: { HOME: home } });
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(readFileSync(knownHosts, 'utf8'), /ssh-ed25519|ecdsa|ssh-rsa/);
  });

  test('--host-key-check wins over StrictHostKeyChecking of the ssh config', () => {
    const knownHosts = emptyKnownHosts('strict-known-hosts');
    const home = sshHome('strict-home', 'Host h1\n  StrictHostKeyChecking no\n');
    const document = JSON.parse(stapctl(['-H', 'h1', 'status', '--known-hosts', knownHosts, '--host-key-check', 'strict', '--json'], { env: { HOME: home } }).stdout) as FleetJson;
    assert.equal(document.hosts[0]?.error?.code, 'HOST_KEY_UNKNOWN');
    assert.equal(readFileSync(knownHosts, 'utf8'), '');
  });

  test('a Match exec section is not run, and the warning is printed once on stderr for all hosts', () => {
    const marker = join(scratch, 'match-exec-ran');
    const home = sshHome('match-home', `Match exec "touch ${marker}"\n  Port 1\n`);
    const result = stapctl(['-H', 'farm,!dead', 'status'], { env: { HOME: home } });
    assert.equal(result.code, 3, result.stderr);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('Match exec is not evaluated'));
    assert.equal(warnings.length, 1, result.stderr);
    assert.match(warnings[0] ?? '', /^stapctl: warning: h\[1-3\] \(3\): .*config:1: Match exec is not evaluated/);
    assert.throws(() => statSync(marker));
  });
});
