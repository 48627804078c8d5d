import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostResult } from '../../../src/fleet/run/fleet-run.js';
import { gatherResults } from '../../../src/fleet/run/gather.js';
import { emptySpec } from '../../../src/service/server-spec.js';

const spec = { ...emptySpec(), arch: 'x86_64', releases: ['6.1.0-a'], user: 'stap-server', log: '/var/log/stap-server/log' };

function running(host: string, pid: number, port: number, releases = ['6.1.0-a']): HostResult {
  return {
    host,
    address: `10.0.0.${pid}`,
    state: 'ok',
    durationMs: pid * 10,
    warnings: [],
    report: { action: 'status', exitCode: 0, warnings: [], steps: [{ kind: 'status', spec: { ...spec, releases, nickname: String(pid) }, outcome: 'running', pid, port }] },
  };
}

function refused(host: string, address: string): HostResult {
  return { host, address, state: 'unreachable', durationMs: 5, warnings: [], error: { code: 'CONNECT_FAILED', message: `cannot connect to ${host} (${address}:22): ECONNREFUSED` } };
}

describe('gathering equal results', () => {
  test('hosts whose servers differ only in PID, port and duration are one group', () => {
    const groups = gatherResults([running('b1', 101, 4001), running('b2', 202, 4002)]);
    assert.deepEqual(groups.map((group) => group.hosts), [['b1', 'b2']]);
    assert.deepEqual(groups[0]?.servers, [{ step: 'status', outcome: 'running', nickname: '', arch: 'x86_64', releases: ['6.1.0-a'] }]);
  });

  test('another release makes another group', () => {
    const groups = gatherResults([running('b1', 101, 4001), running('b2', 101, 4001, ['6.1.0-b']), running('b3', 7, 9)]);
    assert.deepEqual(groups.map((group) => group.hosts), [['b1', 'b3'], ['b2']]);
  });

  test('errors that differ only in the host they name are one group, with the name left out', () => {
    const groups = gatherResults([refused('h7', '127.0.5.7'), refused('h8', '127.0.5.8')]);
    assert.deepEqual(groups.map((group) => group.hosts), [['h7', 'h8']]);
    assert.equal(groups[0]?.errors[0]?.message, 'cannot connect to <host> (<address>:22): ECONNREFUSED');
  });

  test('a group of one host keeps its own message', () => {
    const [group] = gatherResults([refused('h7', '127.0.5.7')]);
    assert.equal(group?.errors[0]?.message, 'cannot connect to h7 (127.0.5.7:22): ECONNREFUSED');
  });

  test('a host name inside a longer word is not taken for the host', () => {
    const one = { ...refused('h1', '127.0.0.1'), error: { code: 'AGENT_FAILED' as const, message: 'bad sha1 sum on h1' } };
    const two = { ...refused('h2', '127.0.0.2'), error: { code: 'AGENT_FAILED' as const, message: 'bad sha1 sum on h2' } };
    assert.equal(gatherResults([one, two])[0]?.errors[0]?.message, 'bad sha1 sum on <host>');
  });

  test('a different state is a different group', () => {
    const groups = gatherResults([running('b1', 1, 1), { ...running('b2', 1, 1), state: 'failed' }]);
    assert.equal(groups.length, 2);
  });
});
