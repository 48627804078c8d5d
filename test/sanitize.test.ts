import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cellText, sanitizeDeep, stripTerminalEscapes, terminalJson } from '../src/sanitize.js';

describe('cleaning text for a terminal', () => {
  test('colour and cursor sequences are removed', () => {
    assert.equal(stripTerminalEscapes('\u001b[31mred\u001b[0m \u001b[2Kline'), 'red line');
  });

  test('a title-setting OSC sequence is removed whole', () => {
    assert.equal(stripTerminalEscapes('a\u001b]0;pwned\u0007b'), 'ab');
  });

  test('an OSC 52 clipboard write ended by ST is removed whole', () => {
    assert.equal(stripTerminalEscapes('x\u001b]52;c;Y3VybCBldmlsfHNo\u001b\\y'), 'xy');
  });

  test('an unterminated control string is removed to the end of the text', () => {
    assert.equal(stripTerminalEscapes('keep\u001bPq#0;2;0;0;0 never ended'), 'keep');
  });

  test('DCS, APC and PM strings and their 8-bit forms are removed', () => {
    assert.equal(stripTerminalEscapes('a\u001bP1$r\u001b\\b\u001b_apc\u0007c\u009dosc\u009cd\u0090dcs\u009ce'), 'abcde');
  });

  test('cursor moves that would overwrite FAILED with OK are removed', () => {
    assert.equal(stripTerminalEscapes('FAILED\u001b[1A\u001b[2K\u001b[6DOK'), 'FAILEDOK');
  });

  test('charset and save-cursor escapes are removed', () => {
    assert.equal(stripTerminalEscapes('a\u001b(0b\u001b7c\u001bcd'), 'abcd');
  });

  test('carriage returns and other control characters that could hide text are removed', () => {
    assert.equal(stripTerminalEscapes('ok\rFAKE\u0008\u009b31m'), 'okFAKE');
  });

  test('a NUL and a lone ESC are removed', () => {
    assert.equal(stripTerminalEscapes('a\u0000b\u001b'), 'ab');
  });

  test('bidi overrides and zero-width characters are shown escaped', () => {
    assert.equal(stripTerminalEscapes('evil\u202eftp.exe\u200b\u2066'), 'evil\\u202eftp.exe\\u200b\\u2066');
  });

  test('newlines, tabs and non-ASCII text are kept', () => {
    assert.equal(stripTerminalEscapes('a\tb\nc é 日本'), 'a\tb\nc é 日本');
  });

  test('a long run of unterminated introducers is cleaned in linear time', () => {
    const text = `\u001b[${'1;'.repeat(200_000)}${'\u001b]52;'.repeat(100_000)}`;
    const began = performance.now();
    const cleaned = stripTerminalEscapes(text);
    assert.ok(cleaned === '1;'.repeat(200_000), 'the CSI without a final byte loses its introducer, the OSC runs to the end');
    // A generous bound: quadratic work on this input takes minutes.
    assert.ok(performance.now() - began < 5000);
  });
});

describe('table cells', () => {
  test('a newline inside a cell is shown as \\n so that it cannot forge a row', () => {
    assert.equal(cellText('nick\n│ h9 │ ok'), 'nick\\n│ h9 │ ok');
  });

  test('a tab inside a cell is shown as \\t', () => {
    assert.equal(cellText('a\tb'), 'a\\tb');
  });
});

describe('JSON for a terminal', () => {
  test('C1 controls and bidi characters are escaped and read back unchanged', () => {
    const value = { nickname: 'a\u009b2Jb\u202ec', n: 1 };
    const text = terminalJson(value);
    assert.doesNotMatch(text, /[\u009b\u202e]/);
    assert.deepEqual(JSON.parse(text), value);
  });
});

describe('cleaning parsed JSON', () => {
  test('every string inside parsed JSON is cleaned, keys and structure kept', () => {
    assert.deepEqual(sanitizeDeep({ a: ['x\u001b[1my'], b: { c: 'z\u0007' }, n: 3, t: true, u: null }), { a: ['xy'], b: { c: 'z' }, n: 3, t: true, u: null });
  });

  test('keys are cleaned too', () => {
    assert.deepEqual(sanitizeDeep({ 'k\u001b[2Jey': 1 }), { key: 1 });
  });

  test('a "__proto__" key stays data and does not change the prototype', () => {
    const cleaned = sanitizeDeep(JSON.parse('{"__proto__": {"polluted": true}}') as object);
    assert.equal(Object.getPrototypeOf(cleaned), Object.prototype);
    assert.deepEqual(Object.keys(cleaned), ['__proto__']);
  });

  test('a value nested 300000 deep is cleaned without exhausting the stack', () => {
    const depth = 300_000;
    const parsed = JSON.parse(`${'['.repeat(depth)}"\\u001b[31mdeep"${']'.repeat(depth)}`) as unknown;
    let inner = sanitizeDeep(parsed);
    for (let level = 0; level < depth; level += 1) inner = (inner as unknown[])[0];
    assert.equal(inner, 'deep');
  });
});
