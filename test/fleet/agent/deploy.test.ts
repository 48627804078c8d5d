import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AGENT_MISSING, agentCommand, agentKillCommand, agentRemotePath, NODE_MISSING } from '../../../src/fleet/agent/deploy.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-agent-deploy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function runCommand(command: string, env: Record<string, string>) {
  return spawnSync('/bin/sh', ['-c', command], { env, encoding: 'utf8', input: '{"hello":1}' });
}

describe('the agent on a host', () => {
  test('its cache path changes with the bundle content and the version', () => {
    const a = agentRemotePath(Buffer.from('one'), '1.0.0');
    assert.match(a, /^\.cache\/stapctl\/1\.0\.0-[0-9a-f]{12}\/stapctl\.cjs$/);
    assert.notEqual(a, agentRemotePath(Buffer.from('two'), '1.0.0'));
    assert.notEqual(a, agentRemotePath(Buffer.from('one'), '1.0.1'));
  });

  test('the command exits 97 when the agent is not cached yet', () => {
    const home = join(scratch, 'empty-home');
    mkdirSync(home, { recursive: true });
    const result = runCommand(agentCommand({ localPath: '/nonexistent', remotePath: '.cache/stapctl/x/stapctl.cjs' }, false), { HOME: home, PATH: process.env.PATH ?? '' });
    assert.equal(result.status, AGENT_MISSING);
  });

  test('the command exits 98 with a message when the host has no node', () => {
    const result = runCommand(agentCommand({ localPath: '/nonexistent', remotePath: '.cache/stapctl/x/stapctl.cjs' }, false), { HOME: scratch, PATH: '/nonexistent-bin' });
    assert.equal(result.status, NODE_MISSING);
    assert.match(result.stderr, /node not found/);
  });

  test('the command runs the cached agent with the request on its stdin', () => {
    const home = join(scratch, 'home');
    mkdirSync(join(home, '.cache/stapctl/x'), { recursive: true });
    writeFileSync(join(home, '.cache/stapctl/x/stapctl.cjs'), 'process.stdin.pipe(process.stdout)');
    const result = runCommand(agentCommand({ localPath: '/nonexistent', remotePath: '.cache/stapctl/x/stapctl.cjs' }, false), { HOME: home, PATH: process.env.PATH ?? '' });
    assert.equal(result.status, 0);
    assert.equal(result.stdout, '{"hello":1}');
  });

  test('become runs the agent through sudo -n, which never asks for a password', () => {
    assert.match(agentCommand({ localPath: '/x', remotePath: '.cache/stapctl/x/stapctl.cjs' }, true), /exec sudo -n -- "\$n" "\$a" agent/);
  });

  test('a remote path with shell characters is refused', () => {
    assert.throws(() => agentCommand({ localPath: '/x', remotePath: '.cache/$(id)/a' }, false), /unsafe/);
  });

  for (const become of [false, true]) {
    test(`the kill command ${become ? '(become: through sudo -n and node) ' : ''}ends the whole process group of an agent`, async () => {
      const group = spawn('/bin/sh', ['-c', 'sleep 60 & exec sleep 60'], { detached: true, stdio: 'ignore' });
      assert.ok(group.pid);
      const ended = once(group, 'exit');
      const kill = spawnSync('/bin/sh', ['-c', agentKillCommand(group.pid, become)], { encoding: 'utf8', timeout: 10_000 });
      if (kill.status !== 0) process.kill(-group.pid, 'SIGKILL');
      assert.equal(kill.status, 0, kill.stderr);
      assert.deepEqual(await ended, [null, 'SIGKILL']);
      // A killed background child may linger as a zombie until it is reaped: dead all the same.
      const left = spawnSync('ps', ['-o', 'stat=', '-g', String(group.pid)], { encoding: 'utf8' });
      assert.deepEqual(left.stdout.split('\n').filter((stat) => stat !== '' && !stat.startsWith('Z')), [], 'a process of the group survived');
    });
  }

  test('the kill command refuses a process group that would mean every process', () => {
    assert.throws(() => agentKillCommand(1, true), /not a process group/);
    assert.throws(() => agentKillCommand(0, false), /not a process group/);
  });
});
