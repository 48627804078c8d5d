import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatLogLine, tailLines } from '../../src/service/service-log.js';

const dir = mkdtempSync(join(tmpdir(), 'stapctl-log-lines-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('formatLogLine', () => {
  test('a single-digit day has one space, as the stock echo of an unquoted date prints it', () => {
    assert.equal(formatLogLine(new Date(2026, 10, 5, 9, 3, 1), 'Pass: x'), 'Nov 5 09:03:01: Pass: x');
  });

  test('a two-digit day and the message are kept as they are', () => {
    assert.equal(formatLogLine(new Date(2026, 0, 29, 18, 0, 45), 'a  b'), 'Jan 29 18:00:45: a  b');
  });

  test('matches the stock log() run by bash for the same moment', () => {
    const stock = execFileSync(
      'bash',
      ['-c', 'echo `LC_ALL=en date -d "2026-03-07 04:05:06" +"%b %e %T"`": $1"', 'log', 'Error: stap-server start'],
      { encoding: 'utf8' },
    ).trimEnd();
    assert.equal(formatLogLine(new Date(2026, 2, 7, 4, 5, 6), 'Error: stap-server start'), stock);
  });
});

describe('tailLines', () => {
  test('gives the last lines, or all of a short file', () => {
    const file = join(dir, 'tail');
    writeFileSync(file, 'one\ntwo\nthree\n');
    assert.deepEqual(tailLines(file, 2), ['two', 'three']);
    assert.deepEqual(tailLines(file, 10), ['one', 'two', 'three']);
  });

  test('from an offset it gives only what was written after it', () => {
    const file = join(dir, 'offset');
    writeFileSync(file, 'old\n');
    const offset = statSync(file).size;
    writeFileSync(file, 'new 1\nnew 2\n', { flag: 'a' });
    assert.deepEqual(tailLines(file, 10, offset), ['new 1', 'new 2']);
  });

  test('reads the end of a file far larger than its first chunk', () => {
    const file = join(dir, 'big');
    writeFileSync(file, `${'x'.repeat(100)}\n`.repeat(5000) + 'last\n');
    assert.deepEqual(tailLines(file, 2), ['x'.repeat(100), 'last']);
  });

  test('a missing file has no lines', () => {
    assert.deepEqual(tailLines(join(dir, 'missing'), 5), []);
  });

  test('a FIFO has no lines and does not block', () => {
    const fifo = join(dir, 'tail-fifo');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(tailLines(fifo, 5), []);
  });

  test('a symlink is not followed', () => {
    const target = join(dir, 'tail-target');
    writeFileSync(target, 'secret\n');
    symlinkSync(target, join(dir, 'tail-link'));
    assert.deepEqual(tailLines(join(dir, 'tail-link'), 5), []);
  });

  test('one endless line is read only up to a bound', () => {
    const file = join(dir, 'tail-endless');
    writeFileSync(file, 'x'.repeat(4 * 1024 * 1024));
    const [line] = tailLines(file, 1);
    assert.ok((line ?? '').length <= 256 * 1024);
  });
});
