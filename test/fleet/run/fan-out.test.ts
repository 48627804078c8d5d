import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fanOut, fleetExitCode, summaryLine, type Progress } from '../../../src/fleet/run/fan-out.js';

const hosts = (count: number) => Array.from({ length: count }, (_, index) => ({ name: `h${index + 1}` }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fan-out', () => {
  test('never runs more hosts at once than --forks', async () => {
    let active = 0;
    let peak = 0;
    await fanOut(
      hosts(10),
      async () => {
        active += 1;
        peak = Math.max(peak, active);
        await sleep(5);
        active -= 1;
        return 'ok' as const;
      },
      { forks: 3, classify: () => 'ok' },
    );
    assert.equal(peak, 3);
  });

  test('results keep the order of the hosts, whatever order they finish in', async () => {
    const finished = await fanOut(hosts(4), async (host) => {
      await sleep(20 - Number(host.name.slice(1)) * 5);
      return host.name;
    }, { forks: 4, classify: () => 'ok' });
    assert.deepEqual(finished.map((item) => item.result), ['h1', 'h2', 'h3', 'h4']);
  });

  test('a slow host does not hold back the others', async () => {
    const doneAt = new Map<string, number>();
    const start = Date.now();
    await fanOut(hosts(3), async (host) => {
      await sleep(host.name === 'h1' ? 200 : 5);
      doneAt.set(host.name, Date.now() - start);
    }, { forks: 3, classify: () => 'ok' });
    assert.ok((doneAt.get('h2') ?? Infinity) < 100);
    assert.ok((doneAt.get('h3') ?? Infinity) < 100);
  });

  test('progress counts each state and names the longest-running host first', async () => {
    const seen: Progress[] = [];
    let clock = 0;
    await fanOut(hosts(2), async (host) => {
      clock += host.name === 'h1' ? 0 : 10;
      return host.name === 'h1' ? 'bad' : 'good';
    }, { forks: 1, classify: (result) => (result === 'bad' ? 'failed' : 'ok'), onChange: (progress) => seen.push(progress), now: () => clock });
    const last = seen.at(-1);
    assert.deepEqual(last?.counts, { queued: 0, running: 0, ok: 1, failed: 1, 'not-running': 0, unreachable: 0, interrupted: 0, skipped: 0 });
    assert.deepEqual(seen[0]?.running.map((item) => item.host), ['h1']);
  });
});

describe('the summary and exit code', () => {
  test('the summary counts hosts by state and gives the time', () => {
    const finished = [{ state: 'ok' as const }, { state: 'ok' as const }, { state: 'failed' as const }, { state: 'unreachable' as const }];
    assert.equal(summaryLine(finished, 3210), '4 hosts: 2 ok, 1 failed, 1 unreachable in 3.2 s');
  });

  test('all ok exits 0', () => assert.equal(fleetExitCode([{ state: 'ok' }, { state: 'ok' }]), 0));
  test('an unreachable host exits 4 even when another failed', () => assert.equal(fleetExitCode([{ state: 'failed' }, { state: 'unreachable' }]), 4));
  test('a failed action exits 1 even when another host has a server not running', () => assert.equal(fleetExitCode([{ state: 'not-running' }, { state: 'failed' }]), 1));
  test('a server not running exits 3', () => assert.equal(fleetExitCode([{ state: 'ok' }, { state: 'not-running' }]), 3));
});
