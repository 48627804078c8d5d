/**
 * The facts path against the agent, on the same farm host: whatever state the host is in, `status`
 * decided on the controller from FACTS_COMMAND's output is the agent's own report, or the facts
 * decline and the agent answers. Real sshd, real stap-serverd, the real agent bundle.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AGENT_PROTOCOL, runAgent, type AgentBundle, type AgentResponse } from '../../../src/fleet/agent/contract.js';
import { findAgentBundle } from '../../../src/fleet/agent/local-bundle.js';
import { FACTS_COMMAND, FACTS_SCRIPT } from '../../../src/fleet/facts/facts-command.js';
import { statusFromFacts } from '../../../src/fleet/facts/status-from-facts.js';
import { planAuth } from '../../../src/fleet/ssh/auth.js';
import { connect, type SshSession } from '../../../src/fleet/ssh/transport.js';
import type { ServiceRequest } from '../../../src/service/engine.js';
import type { OptionToken } from '../../../src/service/server-options.js';
import { LOGIN_USERS, startFarm, type Farm, type FarmHost } from '../farm.js';

let farm: Farm;
let host: FarmHost;
let scratch: string;
let bundle: AgentBundle;
const sessions = new Map<string, SshSession>();

async function session(user: string): Promise<SshSession> {
  const open = sessions.get(user);
  if (open !== undefined) return open;
  const auth = await planAuth({ identities: [{ file: farm.clientKey, origin: 'option' }], identitiesOnly: true, defaultKeyDir: join(scratch, 'no-keys'), host: host.name });
  const created = await connect({ host: host.name, address: host.address, port: host.port, user, auth, hostKeyPolicy: 'strict', knownHostsFiles: [farm.knownHostsFile] });
  sessions.set(user, created);
  return created;
}

function request(action: ServiceRequest['action'], tokens: OptionToken[] = []): ServiceRequest {
  return { action, tokens, serverUser: 'stap-server' };
}

async function agent(req: ServiceRequest, user = 'root'): Promise<AgentResponse> {
  return runAgent(await session(user), host.name, { protocol: AGENT_PROTOCOL, request: req }, { bundle, deadline: Date.now() + 60_000 });
}

async function facts(req: ServiceRequest, user = 'root') {
  const result = await (await session(user)).exec(FACTS_COMMAND, { timeoutMs: 60_000 });
  assert.equal(result.code, 0, result.stderr.toString());
  return statusFromFacts(req, result.stdout, host.name);
}

/** The facts answer, then the agent's: in this order, since the agent may remove a dead server's file. */
async function bothAnswers(req: ServiceRequest, user = 'root') {
  const fromFacts = await facts(req, user);
  const fromAgent = await agent(req, user);
  assert.ok('report' in fromAgent, JSON.stringify(fromAgent));
  return { fromFacts, fromAgent };
}

async function assertSameAnswer(req: ServiceRequest, user = 'root'): Promise<void> {
  const { fromFacts, fromAgent } = await bothAnswers(req, user);
  assert.ok(fromFacts !== undefined, 'the facts declined to answer');
  assert.deepEqual(fromFacts, { hostname: fromAgent.hostname, report: 'report' in fromAgent ? fromAgent.report : undefined });
}

async function onHost(script: string): Promise<void> {
  const result = await farm.exec(host, ['sh', '-c', script]);
  assert.equal(result.code, 0, result.stderr);
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-facts-test-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 1, firstAddress: '127.0.1.61', loginUsers: true });
  host = farm.hosts[0] as FarmHost;
  bundle = findAgentBundle();
});

after(async () => {
  for (const open of sessions.values()) open.close();
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

describe('status from the host facts', () => {
  test('with no server running it is the agent report', async () => {
    await assertSameAnswer(request('status'));
  });

  test('with two servers running it is the agent report, ports included', async () => {
    const started = await agent(request('start', [{ flag: 'i' }]));
    assert.equal('report' in started && started.report.exitCode, 0);
    await assertSameAnswer(request('status'));
  });

  test('the script run by bash, as on a host without dash, gives the answer the command gives through dash', async () => {
    const root = await session('root');
    assert.equal((await farm.exec(host, ['test', '-x', '/bin/dash'])).code, 0, 'the farm host has no dash');
    const viaDash = await statusFromFacts(request('status'), (await root.exec(FACTS_COMMAND, { timeoutMs: 60_000 })).stdout, host.name);
    const viaBash = await statusFromFacts(request('status'), (await root.exec(`exec bash -c '${FACTS_SCRIPT.replaceAll("'", "'\\''")}'`, { timeoutMs: 60_000 })).stdout, host.name);
    const ports = viaDash?.report.steps.map((step) => (step.kind === 'status' ? step.port : undefined));
    assert.ok(ports?.length === 2 && ports.every((port) => port !== undefined), JSON.stringify(viaDash));
    assert.deepEqual(viaBash, viaDash);
  });

  test("the TCP tables come back as their header and the rows of the servers' own sockets only", async () => {
    const output = (await (await session('root')).exec(FACTS_COMMAND, { timeoutMs: 60_000 })).stdout.toString('latin1');
    const inodes = [...output.matchAll(/socket:\[(\d+)\]/g)].map((match) => match[1]);
    // The files' lines follow the `lines` record, each as PATH NUL LINE NEWLINE.
    const lines = output.slice(output.indexOf('\0lines\0') + '\0lines\0'.length);
    const rows = [...lines.matchAll(/(?:^|\n)\/proc\/\d+\/net\/tcp6?\0([^\n]*)/g)].map((match) => match[1] as string);
    const listening = await farm.exec(host, ['sh', '-c', "grep -c ' 0A ' /proc/net/tcp /proc/net/tcp6 | awk -F: '{ n += $2 } END { print n }'"]);
    assert.ok(inodes.length >= 2, output);
    // The farm's hosts share one network namespace: its tables hold every farm sshd's socket too.
    assert.ok(Number(listening.stdout) > inodes.length, listening.stdout);
    for (const row of rows) assert.ok(row.includes('local_address') || inodes.some((inode) => row.includes(` ${inode} `)), row);
    assert.ok(rows.some((row) => !row.includes('local_address')), 'no socket row at all');
  });

  test('the two servers, in one network namespace, have its tcp6 table read once and tcp not at all', async () => {
    const output = (await (await session('root')).exec(FACTS_COMMAND, { timeoutMs: 60_000 })).stdout.toString('latin1');
    const tables = new Set([...output.matchAll(/\/proc\/\d+\/net\/tcp6?(?=\0)/g)].map((match) => match[0]));
    const namespaces = new Set([...output.matchAll(/\/proc\/\d+\/ns\/net\0(net:\[\d+\])/g)].map((match) => match[1]));
    assert.equal(namespaces.size, 1, output);
    assert.equal(tables.size, 1, [...tables].join(' '));
    assert.match([...tables][0] as string, /tcp6$/);
  });

  test('files in the login directory named like a socket link change nothing: it is the agent report, ports included', async () => {
    await onHost('cd ~root && for d in 0 1 2 3 4 5 6 7 8 9; do touch "socket:$d"; done');
    try {
      await assertSameAnswer(request('status'));
    } finally {
      await onHost('cd ~root && rm -f socket:?');
    }
  });

  test('on a kernel without /proc/sys/kernel/arch (uname -m prints the machine) it is the agent report', async () => {
    // Inside the host's own mount namespace: a directory holding only hostname and osrelease hides kernel/.
    await onHost(
      'mkdir /root/kernel && mount -t tmpfs none /root/kernel && for f in hostname osrelease; do touch /root/kernel/$f && mount --bind /proc/sys/kernel/$f /root/kernel/$f; done && mount --rbind /root/kernel /proc/sys/kernel',
    );
    try {
      const output = (await (await session('root')).exec(FACTS_COMMAND, { timeoutMs: 60_000 })).stdout.toString('latin1');
      const machine = (await farm.exec(host, ['uname', '-m'])).stdout;
      assert.ok(output.includes(`\0machine\0${machine}\0`), output.slice(0, 200));
      await assertSameAnswer(request('status'));
    } finally {
      await onHost('umount -R /proc/sys/kernel; umount -R /root/kernel; rmdir /root/kernel');
    }
  });

  test('for servers named by -n, -p, -r and an unknown nickname it is the agent report', async () => {
    const status = await agent(request('status'));
    const first = 'report' in status ? status.report.steps[0] : undefined;
    assert.ok(first?.kind === 'status' && first.pid !== undefined);
    await assertSameAnswer(request('status', [{ flag: 'n', value: first.spec.nickname }]));
    await assertSameAnswer(request('status', [{ flag: 'p', value: String(first.pid) }]));
    await assertSameAnswer(request('status', [{ flag: 'r', value: '9.9.9-none' }]));
    await assertSameAnswer(request('status', [{ flag: 'n', value: 'nobody-has-this' }]));
  });

  test('a conf.d file with a bad line gives the agent error, file and line included', async () => {
    await onHost("printf 'ARCH=x86_64\\nRELEASE=$(id)\\n' > /etc/stap-server/conf.d/bad.conf");
    try {
      await assertSameAnswer(request('status'));
    } finally {
      await onHost('rm -f /etc/stap-server/conf.d/bad.conf');
    }
  });

  test('a junk status file name and an invalid status file give the agent answer', async () => {
    await onHost("printf 'x' > /var/run/stap-server/junk.stat && printf 'NOT A LINE\\n' > /var/run/stap-server/4194000.stat");
    try {
      await assertSameAnswer(request('status'));
    } finally {
      await onHost('rm -f /var/run/stap-server/junk.stat /var/run/stap-server/4194000.stat');
    }
  });

  test('a status file the server account wrote, or a symlink, is ignored by both with the same warning', async () => {
    await onHost(
      "printf 'NOT A LINE\\n' > /var/run/stap-server/4194001.stat && chown stap-server /var/run/stap-server/4194001.stat && ln -s /etc/hostname /var/run/stap-server/4194002.stat",
    );
    try {
      await assertSameAnswer(request('status'));
    } finally {
      await onHost('rm -f /var/run/stap-server/4194001.stat /var/run/stap-server/4194002.stat');
    }
  });

  test('a dead server that root would forget is left to the agent, which removes its status file', async () => {
    await onHost("printf 'ARCH=x86_64\\nUSER=stap-server\\nNICKNAME=gone\\nRELEASE+=1.2.3\\n' > /var/run/stap-server/4194001.stat");
    const { fromFacts, fromAgent } = await bothAnswers(request('status'));
    assert.equal(fromFacts, undefined);
    assert.ok('report' in fromAgent && fromAgent.report.steps.some((step) => step.kind === 'status' && step.outcome === 'dead'));
    const listing = await farm.exec(host, ['ls', '/var/run/stap-server']);
    assert.doesNotMatch(listing.stdout, /4194001\.stat/);
  });

  test('for a login user who is not root (read-only, /proc/PID/exe unreadable) it is the agent report', async () => {
    await assertSameAnswer(request('status'), LOGIN_USERS.passwordlessSudo);
  });

  test('a dead server seen by a user who cannot remove its file is reported dead by both', async () => {
    await onHost("printf 'ARCH=x86_64\\nUSER=stap-server\\nNICKNAME=gone\\nRELEASE+=1.2.3\\n' > /var/run/stap-server/4194002.stat");
    try {
      await assertSameAnswer(request('status'), LOGIN_USERS.passwordlessSudo);
    } finally {
      await onHost('rm -f /var/run/stap-server/4194002.stat');
    }
  });

  test('after stop, with nothing running again, it is the agent report', async () => {
    const stopped = await agent(request('stop'));
    assert.equal('report' in stopped && stopped.report.exitCode, 0);
    await assertSameAnswer(request('status'));
  });
});
