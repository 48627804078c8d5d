/**
 * Property tests: whatever a status file holds (the stock script's, a broken one, a forged one),
 * the parser returns a server or throws STATUS_FILE_INVALID, and what it writes it reads back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StapctlError } from '../../src/errors.js';
import { formatStatusFile, parseStatusFile } from '../../src/service/status-file.js';
import { emptySpec } from '../../src/service/server-spec.js';

const key = fc.constantFrom('ARCH', 'USER', 'BUILD', 'INCLUDE', 'DEFINE', 'NICKNAME', 'RUNTIME', 'RELEASE', 'LOG', 'PORT', 'SSL', 'MAXTHREADS', 'X', '');
const statusLine = fc.tuple(key, fc.constantFrom('=', '+=', ' = ', ''), fc.string({ unit: 'binary', maxLength: 12 })).map(([k, op, value]) => `${k}${op}${value}`);
const text = fc.oneof(fc.array(statusLine, { maxLength: 30 }).map((lines) => lines.join('\n')), fc.string({ unit: 'binary', maxLength: 300 }));

/** Values that the planner and config reader accept: no control characters. */
// eslint-disable-next-line no-control-regex
const value = fc.string({ unit: 'grapheme', maxLength: 10 }).filter((v) => !/[\u0000-\u001f\u007f]/.test(v));
const item = value.filter((v) => v !== '' && v !== '()');

describe('status-file properties', () => {
  test('any text parses or throws STATUS_FILE_INVALID with its line', () => {
    fc.assert(
      fc.property(text, (input) => {
        try {
          parseStatusFile(input, '/s/1.stat');
        } catch (error) {
          assert.ok(error instanceof StapctlError, `not a StapctlError: ${String(error)}`);
          assert.equal(error.code, 'STATUS_FILE_INVALID');
          assert.ok(error.line !== undefined && error.line >= 1);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a written status file reads back as the same server', () => {
    fc.assert(
      fc.property(value, value, fc.array(item, { maxLength: 4 }), fc.array(item, { maxLength: 4 }), (arch, nickname, releases, defines) => {
        const spec = { ...emptySpec(), arch, nickname, releases, defines, user: 'stap-server', log: '/l' };
        assert.deepEqual(parseStatusFile(formatStatusFile(spec), '/s/1.stat'), spec);
      }),
      { numRuns: 1000 },
    );
  });

  test('100000 += lines parse in a generous time bound', () => {
    const input = Array.from({ length: 100_000 }, (_, index) => `DEFINE+=D${index}`).join('\n');
    const began = performance.now();
    assert.equal(parseStatusFile(input, '/s/1.stat').defines.length, 100_000);
    assert.ok(performance.now() - began < 4000, `took ${performance.now() - began} ms`);
  });
});
