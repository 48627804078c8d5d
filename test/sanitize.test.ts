import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sanitizeDeep, stripTerminalEscapes } from '../src/sanitize.js';

describe('cleaning text from hosts', () => {
  test('colour and cursor sequences are removed', () => {
    assert.equal(stripTerminalEscapes('\u001b[31mred\u001b[0m \u001b[2Kline'), 'red line');
  });

  test('a title-setting OSC sequence is removed whole', () => {
    assert.equal(stripTerminalEscapes('a\u001b]0;pwned\u0007b'), 'ab');
  });

  test('carriage returns and other control characters that could hide text are removed', () => {
    assert.equal(stripTerminalEscapes('ok\rFAKE\u0008\u009b31m'), 'okFAKE');
  });

  test('newlines, tabs and non-ASCII text are kept', () => {
    assert.equal(stripTerminalEscapes('a\tb\nc é'), 'a\tb\nc é');
  });

  test('every string inside parsed JSON is cleaned, keys and structure kept', () => {
    assert.deepEqual(sanitizeDeep({ a: ['x\u001b[1my'], b: { c: 'z\u0007' }, n: 3, t: true, u: null }), { a: ['xy'], b: { c: 'z' }, n: 3, t: true, u: null });
  });
});
