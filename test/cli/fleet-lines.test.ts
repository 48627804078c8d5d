import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderFleetLines, renderGatheredLines } from '../../src/cli/fleet-lines.js';
import { hostSetLines } from '../../src/cli/fleet-table.js';
import type { HostResult } from '../../src/fleet/run/fleet-run.js';
import { gatherResults } from '../../src/fleet/run/gather.js';
import { emptySpec } from '../../src/service/server-spec.js';

const spec = { ...emptySpec(), arch: 'x86_64', releases: ['6.1.0-a'], user: 'stap-server', log: '/var/log/stap-server/log' };
const started = (host: string, pid: number): HostResult => ({
  host,
  address: host,
  state: 'ok',
  durationMs: 1,
  warnings: [],
  report: { action: 'start', exitCode: 0, warnings: [], steps: [{ kind: 'start', spec, outcome: 'started', pid, port: 40000 + pid }] },
});
const broken: HostResult = {
  host: 'b9',
  address: 'b9',
  state: 'failed',
  durationMs: 1,
  warnings: [],
  error: { code: 'AGENT_FAILED', message: 'the agent failed (exit 1)', detail: 'line one\nline two', hint: 'run with --verbose' },
};
const plain = { color: false, verbose: false };

describe('the lines view', () => {
  test('prints one host: result line per host with its servers', () => {
    assert.equal(renderFleetLines([started('b1', 101), started('b2', 102)], plain), [
      'b1: ok: started 6.1.0-a x86_64 pid 101 port 40101',
      'b2: ok: started 6.1.0-a x86_64 pid 102 port 40102',
    ].join('\n'));
  });

  test('keeps a multi-line error on its host line under --verbose', () => {
    const text = renderFleetLines([broken], { color: false, verbose: true });
    assert.equal(text.split('\n').length, 1);
    assert.match(text, /^b9: failed: the agent failed \(exit 1\); hint: run with --verbose; line one\\nline two$/);
  });

  test('gathered, prints one line per group of equal results with the hosts folded', () => {
    const text = renderGatheredLines(gatherResults([started('b1', 101), started('b2', 102), started('b3', 7), broken]), plain);
    assert.equal(text, ['b[1-3] (3): ok: started 6.1.0-a x86_64', 'b9 (1): failed: the agent failed (exit 1)'].join('\n'));
  });

  test('colours the result word only when asked to', () => {
    assert.ok(renderFleetLines([broken], { color: true, verbose: false }).startsWith('b9: \u001b[31mfailed\u001b[39m: '));
    assert.ok(renderFleetLines([broken], plain).startsWith('b9: failed: '));
  });
});

describe('the summary host sets', () => {
  test('name the failed, unreachable and skipped hosts as folded sets', () => {
    const results = [
      { host: 'n1', state: 'ok' as const },
      { host: 'n2', state: 'failed' as const },
      { host: 'n3', state: 'failed' as const },
      { host: 'n4', state: 'unreachable' as const },
      { host: 'n5', state: 'skipped' as const },
      { host: 'n6', state: 'skipped' as const },
    ];
    assert.deepEqual(hostSetLines(results), ['failed: n[2-3] (2)', 'unreachable: n4 (1)', 'skipped: n[5-6] (2)']);
  });
});
