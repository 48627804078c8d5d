import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { colorEnabled, defaultView, liveProgress, type TerminalFacts } from '../../src/cli/terminal.js';

const tty: TerminalFacts = { env: {}, stdoutIsTty: true, stderrIsTty: true };
const pipe: TerminalFacts = { env: {}, stdoutIsTty: false, stderrIsTty: false };

describe('terminal decisions', () => {
  test('auto colours a terminal and not a pipe', () => {
    assert.equal(colorEnabled('auto', tty), true);
    assert.equal(colorEnabled('auto', pipe), false);
  });

  test('NO_COLOR turns auto colour off on a terminal', () => {
    assert.equal(colorEnabled('auto', { ...tty, env: { NO_COLOR: '1' } }), false);
  });

  test('an empty NO_COLOR is not set', () => {
    assert.equal(colorEnabled('auto', { ...tty, env: { NO_COLOR: '' } }), true);
  });

  test('FORCE_COLOR colours a pipe, and FORCE_COLOR=0 does not colour a terminal', () => {
    assert.equal(colorEnabled('auto', { ...pipe, env: { FORCE_COLOR: '1' } }), true);
    assert.equal(colorEnabled('auto', { ...tty, env: { FORCE_COLOR: '0' } }), false);
  });

  test('NO_COLOR outranks FORCE_COLOR', () => {
    assert.equal(colorEnabled('auto', { ...pipe, env: { NO_COLOR: '1', FORCE_COLOR: '1' } }), false);
  });

  test('TERM=dumb has no colour and no live progress line', () => {
    const dumb = { ...tty, env: { TERM: 'dumb' } };
    assert.equal(colorEnabled('auto', dumb), false);
    assert.equal(liveProgress('table', dumb), false);
  });

  test('--color always and never win over the environment', () => {
    assert.equal(colorEnabled('always', { ...pipe, env: { NO_COLOR: '1' } }), true);
    assert.equal(colorEnabled('never', { ...tty, env: { FORCE_COLOR: '1' } }), false);
  });

  test('a terminal gets the table and a pipe one line per host', () => {
    assert.equal(defaultView(tty), 'table');
    assert.equal(defaultView(pipe), 'lines');
  });

  test('json never shows the live progress line', () => {
    assert.equal(liveProgress('json', tty), false);
  });
});
