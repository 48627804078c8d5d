import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isMissingFile, StapctlError } from '../src/errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-errors-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function readError(path: string): unknown {
  try {
    readFileSync(path);
  } catch (error) {
    return error;
  }
  return undefined;
}

test('a path that does not exist is a missing file', () => {
  assert.equal(isMissingFile(readError(join(scratch, 'absent'))), true);
});

test('a path through a regular file is a missing file, as ssh treats it', () => {
  writeFileSync(join(scratch, 'file'), '');
  assert.equal(isMissingFile(readError(join(scratch, 'file', 'config'))), true);
});

test('reading a directory is not a missing file', () => {
  assert.equal(isMissingFile(readError(scratch)), false);
});

test('an error with a code names its place as file:line:column', () => {
  const error = new StapctlError('CONFIG_SYNTAX', 'invalid line', { file: '/etc/x.conf', line: 3, column: 1 });
  assert.equal(error.located, '/etc/x.conf:3:1: invalid line');
});
