/**
 * Faults on the remote side of a fleet run (issue 6): a broken or hostile host, a dead link, a
 * killed agent, a tampered agent cache, Ctrl-C. Each run mixes two real farm hosts (sshd, real
 * stap-serverd servers) with the faulty one, and asserts what survived: the other hosts' results,
 * status files that match the running servers, no orphaned stap-serverd, no agent left running.
 * Hostile hosts are ssh2 servers on 127.N.250.1 (test/support/ssh2-host.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { FleetJson } from '../../src/cli/fleet-json.js';
import { findAgentBundle } from '../../src/fleet/agent/local-bundle.js';
import { inFarmNetwork, startFarm, type Farm, type FarmHost } from '../fleet/farm.js';
import { finish, startSsh2Host, type ExecRequest, type Ssh2Host } from '../support/ssh2-host.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const HOSTILE_ADDRESS = inFarmNetwork('127.0.250.1');
const MIB = 1024 * 1024;

let farm: Farm;
let scratch: string;
const hostiles: Ssh2Host[] = [];
const silent: { server: Server; sockets: Socket[] }[] = [];

interface Run {
  code: number | null;
  json: FleetJson;
  stderr: string;
  ms: number;
}

/** An inventory of the farm's hosts plus EXTRA, and a known_hosts file that knows them all. */
function inventoryWith(extra: Record<string, { port: number; knownHostsLine?: string }>): { inventory: string; knownHosts: string } {
  const hosts: Record<string, object> = {};
  for (const host of farm.hosts) hosts[host.name] = { ansible_host: host.address, ansible_port: host.port, ansible_user: 'root', ansible_ssh_private_key_file: farm.clientKey };
  for (const [name, { port }] of Object.entries(extra)) hosts[name] = { ansible_host: HOSTILE_ADDRESS, ansible_port: port, ansible_user: 'root', ansible_ssh_private_key_file: farm.clientKey };
  const dir = mkdtempSync(join(scratch, 'run-'));
  const inventory = join(dir, 'inventory.yaml');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(inventory, stringify({ all: { vars: { stapctl_server_user: 'stap-server' }, hosts } }));
  const lines = Object.values(extra).flatMap(({ knownHostsLine }) => (knownHostsLine === undefined ? [] : [knownHostsLine]));
  writeFileSync(knownHosts, readFileSync(farm.knownHostsFile, 'utf8') + lines.map((line) => `${line}\n`).join(''));
  return { inventory, knownHosts };
}

function argv(files: { inventory: string; knownHosts: string }, args: string[]): string[] {
  return [CLI, '--inventory', files.inventory, '--known-hosts', files.knownHosts, ...args, '--json'];
}

function parse(stdout: string, code: number | null, stderr: string): FleetJson {
  try {
    return JSON.parse(stdout) as FleetJson;
  } catch {
    assert.fail(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
  }
}

/** Asynchronous: the hostile hosts live in this process and must go on answering meanwhile. */
async function fleet(files: { inventory: string; knownHosts: string }, args: string[]): Promise<Run> {
  const began = Date.now();
  const child = spawn(process.execPath, argv(files, args), { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeout: 60_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, json: parse(stdout, code, stderr), stderr, ms: Date.now() - began };
}

/** A hostile host that answers the facts command with a failure (so the agent is asked) and the agent's launch with ANSWER. */
async function hostile(answer: (request: ExecRequest) => void): Promise<Ssh2Host> {
  const host = await startSsh2Host({
    address: HOSTILE_ADDRESS,
    onExec: (request) => (request.command.includes('stapctl-pid') ? answer(request) : finish(request.channel, 1)),
  });
  hostiles.push(host);
  return host;
}

async function runAgainst(name: string, host: Ssh2Host, args: string[] = []): Promise<Run> {
  const files = inventoryWith({ [name]: { port: host.port, knownHostsLine: host.knownHostsLine() } });
  return fleet(files, ['-H', `h1,h2,${name}`, 'status', ...args]);
}

const hostOf = (json: FleetJson, name: string) => json.hosts.find((item) => item.host === name);

/** The farm hosts answered as if nothing had happened: both servers of each running. */
function assertFarmHostsUnaffected(json: FleetJson): void {
  for (const host of farm.hosts) {
    const result = hostOf(json, host.name);
    assert.equal(result?.state, 'ok', JSON.stringify(result));
    assert.deepEqual(
      result?.result?.servers.map((server) => server.outcome),
      ['running', 'running'],
    );
  }
}

interface HostState {
  /** The PIDs that status files name. */
  recorded: number[];
  /** The live stap-serverd processes that no other stap-serverd started. */
  servers: number[];
  agents: number;
}

async function hostState(host: FarmHost): Promise<HostState> {
  const listing = await farm.exec(host, ['sh', '-c', 'ls /var/run/stap-server; echo ---; ps -eo pid=,ppid=,stat=,args=']);
  const [files = '', ps = ''] = listing.stdout.split('---\n');
  const recorded = files.split('\n').filter((name) => name.endsWith('.stat')).map((name) => Number(name.slice(0, -5))).sort();
  const rows = ps.split('\n').filter((row) => row.trim() !== '').map((row) => row.trim().split(/\s+/));
  const live = rows.filter((row) => !(row[2] ?? '').startsWith('Z'));
  const parents = new Set(live.filter((row) => (row[3] ?? '').endsWith('stap-serverd')).map((row) => Number(row[0])));
  const servers = live.filter((row) => parents.has(Number(row[0])) && !parents.has(Number(row[1]))).map((row) => Number(row[0])).sort();
  return { recorded, servers, agents: live.filter((row) => row.join(' ').includes('/.cache/stapctl/')).length };
}

/** Every status file names a live stap-serverd and every stap-serverd has one; no agent is left. */
async function assertConsistent(host: FarmHost): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 40; attempt++) {
    const { recorded, servers, agents } = await hostState(host);
    last = `status files ${recorded.join(',')}; servers ${servers.join(',')}; agents ${agents}`;
    if (JSON.stringify(recorded) === JSON.stringify(servers) && agents === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${host.name}: ${last}`);
}

/**
 * Every live stap-serverd has its status file, and no agent is left. A file may name a server
 * that is gone: an agent killed after recording a server and before opening its gate leaves one.
 */
async function assertNoOrphan(host: FarmHost): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 40; attempt++) {
    const { recorded, servers, agents } = await hostState(host);
    last = `status files ${recorded.join(',')}; servers ${servers.join(',')}; agents ${agents}`;
    if (servers.every((pid) => recorded.includes(pid)) && agents === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${host.name}: a server without its status file, or an agent left: ${last}`);
}

async function assertFarmConsistent(): Promise<void> {
  for (const host of farm.hosts) await assertConsistent(host);
}

async function processesOf(host: FarmHost, pattern: RegExp): Promise<number[]> {
  const ps = await farm.exec(host, ['ps', '-eo', 'pid=,args=']);
  return ps.stdout.split('\n').filter((row) => pattern.test(row)).map((row) => Number(row.trim().split(/\s+/)[0]));
}

/**
 * The agents' own processes. A child the agent has forked shows the agent's command line until it
 * executes its program, and the server's gate keeps its PID through sh, setpriv and stap-serverd:
 * a kill by command line alone could end the server the agent had just reported started.
 */
async function agentsWithoutTheirChildren(host: FarmHost): Promise<number[]> {
  const ps = await farm.exec(host, ['ps', '-eo', 'pid=,ppid=,args=']);
  const agents = ps.stdout.split('\n').filter((row) => /\.cache\/stapctl\//.test(row)).map((row) => row.trim().split(/\s+/).map(Number));
  const pids = new Set(agents.map(([pid]) => pid));
  return agents.filter(([, ppid]) => !pids.has(ppid)).map(([pid]) => pid as number);
}

async function waitForProcess(host: FarmHost, pattern: RegExp, timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await processesOf(host, pattern);
    if (found.length > 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`${host.name}: no process matching ${pattern} within ${timeoutMs} ms`);
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-faults-remote-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 2, firstAddress: '127.0.1.61' });
  const started = await fleet(inventoryWith({}), ['-H', 'h1,h2', 'start', '-i']);
  assert.equal(started.code, 0, JSON.stringify(started.json, null, 2));
});

after(async () => {
  for (const host of hostiles) await host.close();
  for (const { server, sockets } of silent) {
    sockets.forEach((socket) => socket.destroy());
    server.close();
  }
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a hostile or broken host fails alone', () => {
  test('an answer with releases as a string is that host AGENT_PROTOCOL failure naming the field', async () => {
    const response = {
      protocol: 1,
      version: '0',
      hostname: 'evil',
      report: { action: 'status', exitCode: 0, warnings: [], steps: [{ kind: 'status', outcome: 'running', pid: 7, spec: { releases: '6.1' } }] },
    };
    const run = await runAgainst('evil', await hostile(({ channel }) => finish(channel, 0, JSON.stringify(response) + '\n')));
    assert.equal(run.code, 1);
    assert.equal(hostOf(run.json, 'evil')?.error?.code, 'AGENT_PROTOCOL');
    assert.match(hostOf(run.json, 'evil')?.error?.message ?? '', /report\.steps\.0\.spec/);
    assertFarmHostsUnaffected(run.json);
    await assertFarmConsistent();
  });

  test('300k-deep JSON is that host AGENT_PROTOCOL failure, not a crash', async () => {
    const deep = '['.repeat(300_000) + ']'.repeat(300_000) + '\n';
    const run = await runAgainst('deep', await hostile(({ channel }) => finish(channel, 0, deep)));
    assert.equal(run.code, 1, run.stderr);
    assert.equal(hostOf(run.json, 'deep')?.error?.code, 'AGENT_PROTOCOL');
    assertFarmHostsUnaffected(run.json);
    await assertFarmConsistent();
  });

  test('700 MiB of output is cut at the cap quickly: OUTPUT_TOO_LARGE for that host', async () => {
    let sent = 0;
    const flood = await hostile(({ channel }) => {
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let closed = false;
      channel.on('close', () => (closed = true));
      // Streamed with back-pressure, so the host never holds more than a chunk either.
      const pump = (): void => {
        while (!closed && sent < 700 * MIB) {
          sent += chunk.length;
          if (!channel.write(chunk)) {
            channel.once('drain', pump);
            return;
          }
        }
        if (!closed) finish(channel, 0);
      };
      pump();
    });
    const run = await runAgainst('flood', flood);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(hostOf(run.json, 'flood')?.error?.code, 'OUTPUT_TOO_LARGE');
    assert.ok(sent < 64 * MIB, `the host sent ${sent} bytes before it was cut`);
    assert.ok(run.ms < 20_000, `took ${run.ms} ms`);
    assertFarmHostsUnaffected(run.json);
    await assertFarmConsistent();
  });

  test('garbage with terminal escapes is that host AGENT_FAILED failure, its excerpt cleaned', async () => {
    const garbage = Buffer.concat([Buffer.from('\u001b]52;c;cHduZWQ=\u0007\u001b[2J not json {'), Buffer.from([0xff, 0xfe, 0x00, 0x9b])]);
    const run = await runAgainst('junk', await hostile(({ channel }) => finish(channel, 0, garbage.toString('latin1'))), ['-v']);
    assert.equal(run.code, 1, run.stderr);
    const error = hostOf(run.json, 'junk')?.error;
    assert.equal(error?.code, 'AGENT_FAILED');
    assert.equal(['\u001b', '\u009b'].some((control) => (error?.detail ?? '').includes(control)), false, JSON.stringify(error));
    assertFarmHostsUnaffected(run.json);
  });

  test('a host that accepts TCP and never speaks SSH is CONNECT_TIMEOUT, the others answer', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    server.listen(0, HOSTILE_ADDRESS);
    await once(server, 'listening');
    silent.push({ server, sockets });
    const port = (server.address() as { port: number }).port;
    const run = await fleet(inventoryWith({ mute: { port } }), ['-H', 'h1,h2,mute', 'status', '--connect-timeout', '1']);
    assert.equal(run.code, 4);
    assert.equal(hostOf(run.json, 'mute')?.error?.code, 'CONNECT_TIMEOUT');
    assertFarmHostsUnaffected(run.json);
  });

  test('a host that hangs after authentication is HOST_TIMEOUT at --timeout, the others answer', async () => {
    const hang = await startSsh2Host({ address: HOSTILE_ADDRESS, hangAfterAuth: true, onExec: () => undefined });
    hostiles.push(hang);
    const files = inventoryWith({ hang: { port: hang.port, knownHostsLine: hang.knownHostsLine() } });
    const run = await fleet(files, ['-H', 'h1,h2,hang', 'status', '--timeout', '3']);
    assert.equal(run.code, 1);
    assert.equal(hostOf(run.json, 'hang')?.error?.code, 'HOST_TIMEOUT');
    // At --timeout itself, not at the later backstop (--timeout + 5 s).
    assert.ok(run.ms < 7_000, `took ${run.ms} ms`);
    assertFarmHostsUnaffected(run.json);
  });
});

describe('a tampered agent cache on a real host', () => {
  const bundle = findAgentBundle();
  const evilMark = '/tmp/stapctl-evil-agent-ran';

  for (const [name, content] of [
    ['a replaced cached agent', `require("fs").writeFileSync(${JSON.stringify(evilMark)}, "ran")`],
    ['an empty cached agent', ''],
  ] as const) {
    test(`${name} is replaced by the bundle and never run`, async () => {
      const [h1] = farm.hosts;
      assert.ok(h1);
      const cached = `/root/${bundle.remotePath}`;
      // The first runs may not have needed the agent (status is answered from the facts).
      await farm.exec(h1, ['sh', '-c', `umask 077; mkdir -p "$(dirname ${cached})" && printf '%s' "$1" > ${cached}; rm -f ${evilMark}`, 'sh', content]);
      const run = await fleet(inventoryWith({}), ['-H', 'h1,h2', 'reload']);
      // reload is the stock script's "not supported" (exit 3): any answer shows the agent ran.
      assert.equal(hostOf(run.json, 'h1')?.error, undefined, JSON.stringify(hostOf(run.json, 'h1')));
      assert.equal(hostOf(run.json, 'h1')?.result?.exitCode, 3);
      assert.equal((await farm.exec(h1, ['sh', '-c', `test -e ${evilMark} && echo ran || echo never`])).stdout.trim(), 'never');
      assert.equal((await farm.exec(h1, ['sha256sum', cached])).stdout.split(' ')[0], bundle.sha256);
      await assertFarmConsistent();
    });
  }

  test('a symlink planted at the cached agent\'s name is replaced, never written through', async () => {
    const [h1] = farm.hosts;
    assert.ok(h1);
    const cached = `/root/${bundle.remotePath}`;
    const target = '/tmp/stapctl-planted-target';
    await farm.exec(h1, ['sh', '-c', `umask 077; mkdir -p "$(dirname ${cached})" && rm -f ${cached} && printf precious > ${target} && ln -s ${target} ${cached}`]);
    const run = await fleet(inventoryWith({}), ['-H', 'h1,h2', 'reload']);
    assert.equal(hostOf(run.json, 'h1')?.result?.exitCode, 3, JSON.stringify(hostOf(run.json, 'h1')));
    assert.equal((await farm.exec(h1, ['cat', target])).stdout, 'precious');
    assert.equal((await farm.exec(h1, ['sh', '-c', `test -f ${cached} && test ! -L ${cached} && sha256sum ${cached}`])).stdout.split(' ')[0], bundle.sha256);
    await assertFarmConsistent();
  });

  for (const [name, change, restore] of [
    ['writable by its group', 'chmod 0770', 'chmod 0700'],
    ['owned by another user', 'chown 65534', 'chown 0'],
  ] as const) {
    test(`a cache directory ${name} is AGENT_CACHE_UNSAFE on that host, nothing is written there, the other host answers`, async () => {
      const [h1] = farm.hosts;
      assert.ok(h1);
      const directory = `/root/${bundle.remotePath.slice(0, bundle.remotePath.lastIndexOf('/'))}`;
      await farm.exec(h1, ['sh', '-c', `umask 077; mkdir -p ${directory} && rm -f ${directory}/* && ${change} ${directory}`]);
      try {
        const run = await fleet(inventoryWith({}), ['-H', 'h1,h2', 'reload']);
        assert.equal(hostOf(run.json, 'h1')?.error?.code, 'AGENT_CACHE_UNSAFE', JSON.stringify(hostOf(run.json, 'h1')));
        assert.equal(hostOf(run.json, 'h2')?.result?.exitCode, 3, JSON.stringify(hostOf(run.json, 'h2')));
        assert.equal((await farm.exec(h1, ['ls', '-A', directory])).stdout, '');
      } finally {
        await farm.exec(h1, ['sh', '-c', `${restore} ${directory}`]);
      }
      await assertFarmConsistent();
    });
  }
});

describe('the link or the agent dies mid-run', () => {
  test('the agent killed mid-start fails that host and leaves no server unrecorded; the next status makes files and servers match', async () => {
    const [h1] = farm.hosts;
    assert.ok(h1);
    const files = inventoryWith({});
    // Under load the agent can finish between being seen and being killed: that host is then ok,
    // and the attempt is repeated after stopping the server it started. Every attempt must leave
    // the farm consistent; one of them must be the kill mid-start.
    const states: (string | undefined)[] = [];
    for (let attempt = 0; attempt < 3 && !states.includes('failed'); attempt++) {
      // -D makes it a server of its own: without it the release's running server is already-running,
      // and the agent has nothing to be killed in the middle of.
      const child = spawn(process.execPath, argv(files, ['-H', 'h1', 'start', '-n', 'late', '-r', '6.1.0-h1-a', '-D', 'LATE=1']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = once(child, 'exit');
      await waitForProcess(h1, /\.cache\/stapctl\//);
      await farm.exec(h1, ['kill', '-KILL', ...(await agentsWithoutTheirChildren(h1)).map(String)]).catch(() => undefined);
      const [code] = (await exited) as [number | null];
      const host = hostOf(parse(stdout, code, ''), 'h1');
      states.push(host?.state);
      if (host?.state === 'failed') assert.equal(host.error?.code, 'AGENT_FAILED', JSON.stringify(host));
      else assert.equal(host?.state, 'ok', JSON.stringify(host));
      await assertNoOrphan(h1);
      // A record left by the kill names a dead server: status reports it and removes it (README).
      await fleet(files, ['-H', 'h1', 'status']);
      await assertFarmConsistent();
      // Killed mid-start, the server may be running (the gate had opened) or gone with its record.
      const stopped = await fleet(files, ['-H', 'h1', 'stop', '-n', 'late']);
      if (host?.state === 'ok') assert.equal(stopped.code, 0, JSON.stringify(stopped.json));
      await assertFarmConsistent();
    }
    assert.ok(states.includes('failed'), `the kill never came mid-start: ${states.join(', ')}`);
  });

  test('sshd killed mid-run fails that host with a lost connection; the other host is unaffected', async () => {
    const [h1, h2] = farm.hosts;
    assert.ok(h1 && h2);
    const files = inventoryWith({});
    const child = spawn(process.execPath, argv(files, ['-H', 'h1,h2', 'restart']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = once(child, 'exit');
    await waitForProcess(h1, /\.cache\/stapctl\//);
    // The connection's own sshd processes, not the host's listener (its PID 1).
    const sessions = (await processesOf(h1, /sshd/)).filter((pid) => pid !== 1);
    await farm.exec(h1, ['kill', '-KILL', ...sessions.map(String)]);
    const [code] = (await exited) as [number | null];
    const json = parse(stdout, code, '');
    assert.equal(hostOf(json, 'h1')?.error?.code, 'CONNECT_FAILED', JSON.stringify(hostOf(json, 'h1')));
    assert.match(hostOf(json, 'h1')?.error?.message ?? '', /connection lost/);
    assert.equal(hostOf(json, 'h2')?.state, 'ok', JSON.stringify(hostOf(json, 'h2')));
    await assertFarmConsistent();
  });
});

describe('Ctrl-C', () => {
  test('SIGINT mid-run exits 130 with the partial table, the interrupted hosts marked and their agents gone', async () => {
    const files = inventoryWith({});
    const child = spawn(process.execPath, argv(files, ['-H', 'h1,h2', 'restart']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = once(child, 'exit');
    for (const host of farm.hosts) await waitForProcess(host, /\.cache\/stapctl\//);
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 130);
    const json = parse(stdout, code, '');
    assert.equal(json.exitCode, 130);
    // A host may have finished in the moment before the signal; none ends any other way.
    assert.ok(json.hosts.every((host) => host.state === 'ok' || host.state === 'interrupted'), JSON.stringify(json.hosts));
    const cut = json.hosts.filter((host) => host.state === 'interrupted');
    assert.ok(cut.length > 0);
    assert.ok(cut.every((host) => host.error?.code === 'INTERRUPTED'));
    // An agent killed after it recorded a server but before the server's gate opened leaves that
    // record without a process (never the reverse: an orphan). The next status reports it dead
    // and removes it, as README says; after that, files and servers match exactly.
    const status = spawn(process.execPath, argv(files, ['-H', 'h1,h2', 'status']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    await once(status, 'exit');
    await assertFarmConsistent();
  });
});
