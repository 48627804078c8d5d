import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FinalState, Progress } from '../../../src/fleet/run/fan-out.js';
import { batchSizes, failuresAllowed, parseMaxFail, parseSerial, runInBatches } from '../../../src/fleet/run/rolling.js';
import { failure } from '../../support/expect.js';

type Result = { host: string; state: FinalState };
const hosts = (count: number) => Array.from({ length: count }, (_, index) => `h${index + 1}`);
const skip = (host: string): Result => ({ host, state: 'skipped' });

describe('rolling runs', () => {
  test('a list of sizes runs in those batches and repeats the last one, as Ansible serial does', () => {
    assert.deepEqual(batchSizes(20, parseSerial('1,5,25%')), [1, 5, 5, 5, 4]);
  });

  test('a percentage rounds down but never to an empty batch', () => {
    assert.deepEqual(batchSizes(3, parseSerial('10%')), [1, 1, 1]);
  });

  test('a bad --serial or --max-fail is a usage error', () => {
    failure(() => parseSerial('0'), 'USAGE');
    failure(() => parseSerial('1,,2'), 'USAGE');
    failure(() => parseMaxFail('150%'), 'USAGE');
    failure(() => parseMaxFail('many'), 'USAGE');
  });

  test('--max-fail counts hosts or a percentage of all hosts; without it every batch runs', () => {
    assert.equal(failuresAllowed(40, parseMaxFail('10%')), 4);
    assert.equal(failuresAllowed(40, parseMaxFail('2')), 2);
    assert.equal(failuresAllowed(40, undefined), Number.POSITIVE_INFINITY);
  });

  test('batches run one after the other in host order', async () => {
    const batches: string[][] = [];
    await runInBatches(hosts(5), { serial: parseSerial('2') }, async (batch) => {
      batches.push(batch);
      return batch.map((host) => ({ host, state: 'ok' as const }));
    }, skip);
    assert.deepEqual(batches, [['h1', 'h2'], ['h3', 'h4'], ['h5']]);
  });

  test('more failures than --max-fail allows start no new batch, and the rest are skipped', async () => {
    const started: string[] = [];
    const results = await runInBatches(hosts(6), { serial: parseSerial('2'), maxFail: parseMaxFail('0') }, async (batch) => {
      started.push(...batch);
      return batch.map((host) => ({ host, state: host === 'h3' ? ('failed' as const) : ('ok' as const) }));
    }, skip);
    assert.deepEqual(started, ['h1', 'h2', 'h3', 'h4']);
    assert.deepEqual(results.map((result) => `${result.host}:${result.state}`), ['h1:ok', 'h2:ok', 'h3:failed', 'h4:ok', 'h5:skipped', 'h6:skipped']);
  });

  test('failures up to --max-fail let the run go on', async () => {
    const results = await runInBatches(hosts(4), { serial: parseSerial('1'), maxFail: parseMaxFail('1') }, async (batch) => batch.map((host) => ({ host, state: host === 'h1' ? ('unreachable' as const) : ('ok' as const) })), skip);
    assert.equal(results.filter((result) => result.state === 'skipped').length, 0);
  });

  test('progress counts the whole run: earlier batches done, later ones queued', async () => {
    const seen: Progress[] = [];
    await runInBatches(
      hosts(3),
      { serial: parseSerial('1') },
      async (batch, onProgress) => {
        onProgress({ total: 1, counts: { queued: 0, running: 1, ok: 0, failed: 0, 'not-running': 0, unreachable: 0, interrupted: 0, skipped: 0 }, running: [] });
        return batch.map((host) => ({ host, state: 'ok' as const }));
      },
      skip,
      (progress) => seen.push(progress),
    );
    assert.deepEqual(seen.map((progress) => [progress.total, progress.counts.ok, progress.counts.running, progress.counts.queued]), [
      [3, 0, 1, 2],
      [3, 1, 1, 1],
      [3, 2, 1, 0],
    ]);
  });
});
