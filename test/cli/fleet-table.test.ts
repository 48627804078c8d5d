import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fleetJson } from '../../src/cli/fleet-json.js';
import { progressLine, renderFleetTable } from '../../src/cli/fleet-table.js';
import type { HostResult } from '../../src/fleet/run/fleet-run.js';
import { emptySpec } from '../../src/service/server-spec.js';

const spec = { ...emptySpec(), arch: 'x86_64', releases: ['6.1.0-a'], user: 'stap-server', log: '/var/log/stap-server/log' };

const ok: HostResult = {
  host: 'h1',
  address: '127.0.1.1',
  state: 'ok',
  durationMs: 120,
  hostname: 'h1',
  warnings: [],
  report: { action: 'start', exitCode: 0, warnings: [], steps: [{ kind: 'start', spec, outcome: 'started', pid: 101, port: 40001 }] },
};
const unreachable: HostResult = {
  host: 'h2',
  address: '127.0.1.2',
  state: 'unreachable',
  durationMs: 3000,
  warnings: [],
  error: { code: 'CONNECT_FAILED', message: 'connection refused by 127.0.1.2:22', hint: 'is sshd running?', detail: 'ECONNREFUSED' },
};

describe('the fleet table', () => {
  test('has one row per server with its host, release, pid, port and state', () => {
    const text = renderFleetTable([ok], { color: false, verbose: false });
    assert.match(text, /│ h1\s+│ ok\s+│ 101\s+│ 6\.1\.0-a\s+│ x86_64 │ 101 │ 40001 │ started │/);
  });

  test('a host that could not be reached shows its short error', () => {
    const text = renderFleetTable([unreachable], { color: false, verbose: false });
    assert.match(text, /h2\s+│ unreachable │.*connection refused by 127\.0\.1\.2:22/);
    assert.doesNotMatch(text, /ECONNREFUSED/);
  });

  test('--verbose adds the hint and the detail', () => {
    const text = renderFleetTable([unreachable], { color: false, verbose: true });
    assert.match(text, /hint: is sshd running\?/);
    assert.match(text, /ECONNREFUSED/);
  });

  test('a newline in a nickname is shown as \\n and forges no row of its own', () => {
    const forged: HostResult = {
      ...ok,
      report: { action: 'start', exitCode: 0, warnings: [], steps: [{ kind: 'start', spec: { ...spec, nickname: 'n\n│ h9 │ ok' }, outcome: 'started', pid: 101, port: 40001 }] },
    };
    const lines = renderFleetTable([forged], { color: false, verbose: false }).split('\n');
    assert.equal(lines.filter((line) => line.includes('h9')).length, 1);
    assert.ok(lines.some((line) => line.includes('n\\n│ h9 │ ok')));
    assert.equal(lines.length, renderFleetTable([ok], { color: false, verbose: false }).split('\n').length);
  });

  test('a bidi override in a host\'s answer is shown escaped', () => {
    const text = renderFleetTable([{ ...unreachable, error: { code: 'AGENT_FAILED', message: 'abc\u202edef' } }], { color: false, verbose: false });
    assert.ok(!text.includes('\u202e'));
    assert.ok(text.includes('abc\\u202edef'));
  });

  test('a verbose detail keeps its text but not its line breaks or escapes', () => {
    const text = renderFleetTable([{ ...unreachable, error: { code: 'AGENT_FAILED', message: 'm', detail: 'one\n\u001b]52;c;eA==\u0007two' } }], { color: false, verbose: true });
    assert.ok(text.includes('one\\ntwo'));
    assert.ok(!text.includes('\u001b'));
  });

  test('colour is used only when asked for', () => {
    const escape = String.fromCharCode(27);
    assert.equal(renderFleetTable([ok], { color: false, verbose: false }).includes(escape), false);
    assert.ok(renderFleetTable([ok], { color: true, verbose: false }).includes(`${escape}[32mok`));
  });
});

describe('the progress line', () => {
  test('counts hosts and names a slow one', () => {
    const line = progressLine({ total: 10, counts: { queued: 2, running: 3, ok: 4, failed: 1, 'not-running': 0, unreachable: 0, interrupted: 0, skipped: 0 }, running: [{ host: 'h7', elapsedMs: 3100 }] });
    assert.equal(line, '[5/10] 4 ok, 1 failed, 0 unreachable, 3 running; slowest h7 3.1 s');
  });

  test('does not name a host that is merely running', () => {
    const line = progressLine({ total: 2, counts: { queued: 0, running: 1, ok: 1, failed: 0, 'not-running': 0, unreachable: 0, interrupted: 0, skipped: 0 }, running: [{ host: 'h2', elapsedMs: 300 }] });
    assert.equal(line, '[1/2] 1 ok, 0 failed, 0 unreachable, 1 running');
  });
});

describe('the fleet JSON document', () => {
  test('has the exit code, the counts and per host its state, error and servers', () => {
    const json = fleetJson('start', [ok, unreachable], 4, '2 hosts: 1 ok, 1 unreachable in 3.0 s');
    assert.equal(json.exitCode, 4);
    assert.deepEqual(json.counts, { ok: 1, failed: 0, 'not-running': 0, unreachable: 1, interrupted: 0, skipped: 0 });
    assert.equal(json.hosts[0]?.result?.servers[0]?.port, 40001);
    assert.equal(json.hosts[1]?.error?.code, 'CONNECT_FAILED');
    assert.equal(json.hosts[1]?.result, undefined);
  });
});
