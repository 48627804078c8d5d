/**
 * Faults: two root runs of `stapctl start` race on one host. Exactly one server per config runs,
 * and each is recorded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanUp, makeRoot, recordedPids, runCli, serversOf } from './local-support.js';

after(cleanUp);

describe('two starts racing', () => {
  test('two stapctl start processes at once leave exactly one server per config, each recorded', async () => {
    const scratch = makeRoot({
      conf: { 'a.conf': 'RELEASE=6.1.0-fault-a\nNICKNAME=alpha\n', 'b.conf': 'RELEASE=6.1.0-fault-b\nNICKNAME=beta\n' },
    });
    const results = await Promise.all([runCli(scratch, ['start']), runCli(scratch, ['start'])]);
    assert.deepEqual(results.map((result) => result.code), [0, 0], results.map((result) => result.stderr).join('\n'));
    const recorded = recordedPids(scratch);
    assert.deepEqual(serversOf(scratch), recorded);
    const nicknames = recorded.map((pid) => /^NICKNAME=(.*)$/m.exec(readFileSync(join(scratch.statPath, `${pid}.stat`), 'utf8'))?.[1]).sort();
    assert.deepEqual(nicknames, ['alpha', 'beta']);
  });
});
