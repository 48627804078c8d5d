import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { defaultRetryFile, writeRetryFile } from '../../../src/fleet/run/retry-file.js';
import { failure } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-fleet-ops-retry-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the retry file', () => {
  test('lives under the cache directory, XDG_CACHE_HOME first', () => {
    assert.equal(defaultRetryFile({ HOME: '/home/u' }), '/home/u/.cache/stapctl/failed-hosts');
    assert.equal(defaultRetryFile({ HOME: '/home/u', XDG_CACHE_HOME: '/c' }), '/c/stapctl/failed-hosts');
  });

  test('holds one host per line, is private to its owner, in a private new directory', () => {
    const file = join(scratch, 'new-dir', 'failed-hosts');
    writeRetryFile(file, ['h3', 'h7']);
    assert.equal(readFileSync(file, 'utf8'), 'h3\nh7\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(scratch, 'new-dir')).mode & 0o777, 0o700);
  });

  test('replaces a symlink at its place instead of writing through it', () => {
    const target = join(scratch, 'precious');
    writeFileSync(target, 'keep me\n');
    const file = join(scratch, 'linked-failed-hosts');
    symlinkSync(target, file);
    writeRetryFile(file, ['h1']);
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
    assert.equal(lstatSync(file).isFile(), true);
  });

  test('an unwritable place is an error that names the file and leaves no temporary file', () => {
    const dir = join(scratch, 'blocked');
    writeFileSync(dir, 'a file, not a directory');
    const error = failure(() => writeRetryFile(join(dir, 'failed-hosts'), ['h1']), 'RETRY_FILE_UNWRITABLE');
    assert.equal(error.file, join(dir, 'failed-hosts'));
    assert.deepEqual(readdirSync(scratch).filter((name) => name.endsWith('.tmp')), []);
  });
});
