/**
 * Faults: a local run is interrupted (Ctrl-C, kill, a closed terminal) in the middle of starting
 * servers. It releases its lock, and every server is either recorded or gone: no orphan.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LOCK_FILE } from '../../src/service/lock.js';
import { cleanUp, makeRoot, recordedPids, runCli, serversOf, statFiles, waitFor } from './local-support.js';

after(cleanUp);

const CONFIGS = Object.fromEntries(['a', 'b', 'c'].map((name) => [`${name}.conf`, `RELEASE=6.1.0-fault-${name}\nNICKNAME=${name}\n`]));

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  describe(`an interrupted start (${signal})`, () => {
    test(`${signal} during start releases the lock and leaves every server recorded or gone`, async () => {
      const scratch = makeRoot({ conf: CONFIGS });
      const result = await runCli(scratch, ['start'], (child) => {
        // Once the first server is recorded the run is inside its lock, with servers to go.
        void waitFor(() => statFiles(scratch).length > 0).then(() => child.kill(signal));
      });
      assert.equal(result.signal, signal, `exit ${result.code}: ${result.stderr}`);
      assert.equal(existsSync(join(scratch.statPath, LOCK_FILE)), false);
      assert.ok(recordedPids(scratch).length < 3, 'the run was interrupted before it finished');
      // A server whose start was cut short exits once the gate sees stapctl gone.
      assert.ok(await waitFor(() => serversOf(scratch).every((pid) => recordedPids(scratch).includes(pid)), 5000), `unrecorded: ${serversOf(scratch).join(' ')} recorded: ${recordedPids(scratch).join(' ')}`);
    });
  });
}
