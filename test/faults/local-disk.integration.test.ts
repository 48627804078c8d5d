/**
 * Faults: the status directory's file system is full (a size-limited tmpfs mounted for the test).
 * Nothing is left half-written, and no server runs without its status file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanUp, makeRoot, runCli, serversOf, type ScratchRoot } from './local-support.js';

const PAGE = 4096;
const mounts: string[] = [];

after(async () => {
  for (const mount of mounts) execFileSync('umount', [mount]);
  await cleanUp();
});

/** The status directory on a tmpfs of `pages` pages, all but `free` of them taken by a filler file. */
function fullStatusDirectory(scratch: ScratchRoot, pages: number, free: number): void {
  mkdirSync(scratch.statPath, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${pages * PAGE},mode=0755`, 'stapctl-fault', scratch.statPath]);
  mounts.push(scratch.statPath);
  writeFileSync(join(scratch.statPath, '.filler'), Buffer.alloc((pages - free) * PAGE));
}

describe('a full disk under the status directory', () => {
  test('with no space at all, start fails with a clear error before any server starts, and leaves no file', async () => {
    const scratch = makeRoot();
    fullStatusDirectory(scratch, 4, 0);
    const result = await runCli(scratch, ['start', '-r', '6.1.0-fault-a']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot take the lock .*\.stapctl\.lock: ENOSPC/);
    assert.deepEqual([readdirSync(scratch.statPath), serversOf(scratch)], [['.filler'], []]);
  });

  test('with room for the lock but not the status file, the server is stopped and nothing is half-written', async () => {
    const scratch = makeRoot();
    fullStatusDirectory(scratch, 4, 1);
    const result = await runCli(scratch, ['start', '-r', '6.1.0-fault-a']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /\nFAILED\n$/);
    assert.match(result.stderr, /could not be recorded, so it was stopped: ENOSPC/);
    assert.deepEqual([readdirSync(scratch.statPath), serversOf(scratch)], [['.filler'], []]);
  });
});
