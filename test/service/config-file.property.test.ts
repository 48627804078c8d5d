/**
 * Property tests: whatever bytes a config file holds, the reader returns settings and errors of
 * its own kind, never another exception, and in time linear in the input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StapctlError } from '../../src/errors.js';
import { parseGlobalConfig, parseServerConfig, type ConfigContext } from '../../src/service/config-file.js';

const ctx: ConfigContext = { homeOf: (user) => (user === undefined || user === 'stap-server' ? '/home/x' : undefined) };

/** Lines made of the pieces the grammar cares about, so that most runs get past the first character. */
const piece = fc.constantFrom('ARCH', 'DEFINE', 'INCLUDE', 'NICKNAME', 'STAT_PATH', '=', '+=', '(', ')', "'", '"', '\\', '$', '$(', '$[', '`', '~', '~stap-server', '#', ' ', '\t', '/', 'a', 'é', '\u0000', '\u001b', '\r', '[', '*');
const line = fc.array(fc.oneof(piece, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 12 }).map((parts) => parts.join(''));
const text = fc.oneof(fc.array(line, { maxLength: 20 }).map((lines) => lines.join('\n')), fc.string({ unit: 'binary', maxLength: 200 }));

function onlyOwnErrors(parse: () => { errors: StapctlError[] }): void {
  let result: { errors: StapctlError[] };
  try {
    result = parse();
  } catch (error) {
    assert.ok(error instanceof StapctlError, `not a StapctlError: ${String(error)}`);
    return;
  }
  for (const error of result.errors) {
    assert.ok(error instanceof StapctlError);
    assert.ok(error.line !== undefined && error.line >= 1, 'each error names its line');
  }
}

describe('config-file properties', () => {
  test('a server config of any text parses or gives file:line errors, nothing else', () => {
    fc.assert(fc.property(text, (input) => onlyOwnErrors(() => parseServerConfig(input, 'f.conf', ctx))), { numRuns: 2000 });
  });

  test('a global config of any text parses or gives file:line errors, nothing else', () => {
    fc.assert(fc.property(text, (input) => onlyOwnErrors(() => parseGlobalConfig(input, 'g', ctx))), { numRuns: 2000 });
  });

  test('a config repeated a thousand times takes no more than a generous multiple of one copy', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), (lines) => {
        const input = `${lines.join('\n')}\n`.repeat(1000);
        // 1000 copies of at most 5 short lines: linear work is milliseconds; quadratic is seconds,
        // every time. The fastest of three tries, so that a moment of a loaded machine (50 cases
        // each time) is not taken for the algorithm.
        const fastest = Math.min(...[1, 2, 3].map(() => {
          const began = performance.now();
          parseServerConfig(input, 'f.conf', ctx);
          return performance.now() - began;
        }));
        assert.ok(fastest < 2000, `took ${fastest} ms`);
      }),
      { numRuns: 50 },
    );
  });
});
