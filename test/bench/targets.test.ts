import assert from 'node:assert/strict';
import { test } from 'node:test';
import { targetRows } from '../../bench/fleet.js';

const sample = (farmHosts: number, scenario: string, tool: string, controllerCpuS: number) => ({
  farmHosts,
  scenario,
  tool,
  round: 0,
  wallMs: 1000,
  maxRssKb: 65536,
  controllerCpuS,
  machineCpuS: 2,
  actionCpuS: 2,
});

const rowNamed = (rows: ReturnType<typeof targetRows>, start: string) => rows.find((row) => row.measure.startsWith(start));

test('a run of 64 hosts alone reports the 1000-host rows as not measured, not the farm against itself', () => {
  const rows = targetRows([sample(64, 'status, no server running', 'stapctl', 0.4)], []);
  const growth = rowNamed(rows, '1000 hosts status: controller CPU per host vs 64 hosts');
  assert.deepEqual({ value: growth?.value, met: growth?.met }, { value: 'not measured', met: undefined });
  assert.equal(rowNamed(rows, '64 hosts status:'), undefined);
});

test('a run of 64 and 1000 hosts compares the 1000-host farm with the 64-host one', () => {
  const rows = targetRows([sample(64, 'status, no server running', 'stapctl', 0.64), sample(1000, 'status, no server running', 'stapctl', 5)], []);
  const growth = rowNamed(rows, '1000 hosts status: controller CPU per host vs 64 hosts');
  assert.deepEqual({ value: growth?.value, met: growth?.met }, { value: '0.50x', met: true });
});

test("ssh2 alone is reported under stapctl's controller CPU per host, with no target of its own", () => {
  const rows = targetRows([sample(64, 'status', 'stapctl', 0.48), sample(64, 'status', 'ssh2', 0.64)], []);
  const index = rows.findIndex((row) => row.measure.startsWith('controller CPU per host, status, 64 hosts'));
  assert.deepEqual(rows[index + 1], { measure: "the same for ssh2 alone, 64 hosts (bench/ssh2-client.ts; no target)", value: '10.0 ms', target: '', met: undefined });
  assert.equal(rows[index]?.value, '7.5 ms');
});
