import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expandRange, isGlob, matchGlob, MAX_EXPANSION } from '../../../src/fleet/targets/host-range.js';
import { failure } from '../../support/expect.js';

describe('expandRange', () => {
  test('a name without brackets expands to itself', () => {
    assert.deepEqual(expandRange('build01.example'), ['build01.example']);
  });

  test('a dash range keeps the zero padding of its first bound', () => {
    assert.deepEqual(expandRange('build[08-11]'), ['build08', 'build09', 'build10', 'build11']);
  });

  test('a colon range is the same as a dash range', () => {
    assert.deepEqual(expandRange('build[01:03].lab'), ['build01.lab', 'build02.lab', 'build03.lab']);
  });

  test('a range without a leading zero is not padded', () => {
    assert.deepEqual(expandRange('n[9-11]'), ['n9', 'n10', 'n11']);
  });

  test('a padded first bound pads every value to its width', () => {
    assert.deepEqual(expandRange('n[001-2]'), ['n001', 'n002']);
  });

  test('two ranges expand as a cartesian product, the leftmost varying slowest', () => {
    assert.deepEqual(expandRange('rack[1-2]-n[1-3]'), [
      'rack1-n1',
      'rack1-n2',
      'rack1-n3',
      'rack2-n1',
      'rack2-n2',
      'rack2-n3',
    ]);
  });

  test('a comma list mixes single values and ranges in the order written', () => {
    assert.deepEqual(expandRange('n[7,9-10]'), ['n7', 'n9', 'n10']);
  });

  test('each term of a list keeps its own padding', () => {
    assert.deepEqual(expandRange('n[07,9-10]'), ['n07', 'n9', 'n10']);
  });

  test('a step after a slash or a second colon skips values', () => {
    assert.deepEqual(expandRange('n[0-6/3]'), ['n0', 'n3', 'n6']);
    assert.deepEqual(expandRange('n[01:07:3]'), ['n01', 'n04', 'n07']);
  });

  test('a letter range with a colon expands to letters', () => {
    assert.deepEqual(expandRange('db-[a:c]'), ['db-a', 'db-b', 'db-c']);
  });

  test('repeated values in a list appear once', () => {
    assert.deepEqual(expandRange('n[1-3,2]'), ['n1', 'n2', 'n3']);
  });

  test('a descending range is refused with the column of the bad term', () => {
    const error = failure(() => expandRange('n[3-1]'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /"n\[3-1\]" at column 3: range 3-1 goes down/);
    assert.equal(error.column, 3);
    assert.match(error.hint ?? '', /\[1-3\]/);
  });

  test('an unclosed bracket is refused at the column of the bracket', () => {
    const error = failure(() => expandRange('build[01-'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 6);
    assert.match(error.message, /never closed/);
  });

  test('empty brackets are refused', () => {
    const error = failure(() => expandRange('n[]'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /empty brackets/);
  });

  test('an empty term in a list is refused at its column', () => {
    const error = failure(() => expandRange('n[1,,3]'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 5);
  });

  test('a closing bracket without an opening one is refused', () => {
    const error = failure(() => expandRange('n1]'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 3);
  });

  test('nested brackets are refused', () => {
    failure(() => expandRange('n[1[2]]'), 'HOST_PATTERN_INVALID');
  });

  test('a step of zero is refused', () => {
    const error = failure(() => expandRange('n[1-5/0]'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /step of 0/);
  });

  test('a single range larger than the cap is refused before it is expanded', () => {
    const error = failure(() => expandRange(`n[1-${MAX_EXPANSION + 1}]`), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /more than 100000 hosts/);
  });

  test('a product of ranges larger than the cap is refused', () => {
    const error = failure(() => expandRange('r[1-1000]-n[1-1000]'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /"r\[1-1000\]-n\[1-1000\]" names more than/);
  });

  test('a product exactly at the cap is expanded', () => {
    assert.equal(expandRange('r[1-100]-n[1-1000]').length, MAX_EXPANSION);
  });

  test('a bound beyond the safe integers is refused', () => {
    failure(() => expandRange('n[1-99999999999999999999]'), 'HOST_PATTERN_INVALID');
  });

  test('a character class is left in place for globbing', () => {
    assert.deepEqual(expandRange('web[ab]'), ['web[ab]']);
  });

  test('an inverted character class is refused', () => {
    const error = failure(() => expandRange('web[z-a]'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /not a valid character class/);
  });
});

describe('matchGlob', () => {
  test('a star matches any run of characters, including none', () => {
    assert.equal(matchGlob('build*', 'build'), true);
    assert.equal(matchGlob('build*', 'build07.lab'), true);
    assert.equal(matchGlob('build*', 'xbuild'), false);
  });

  test('a question mark matches exactly one character', () => {
    assert.equal(matchGlob('n?', 'n1'), true);
    assert.equal(matchGlob('n?', 'n10'), false);
  });

  test('a character class matches one of its characters', () => {
    assert.equal(matchGlob('web[a-c]', 'webb'), true);
    assert.equal(matchGlob('web[a-c]', 'webd'), false);
  });

  test('a negated character class matches any other character', () => {
    assert.equal(matchGlob('web[!a-c]', 'webd'), true);
    assert.equal(matchGlob('web[^a-c]', 'weba'), false);
  });

  test('digit brackets in a glob are ranges, so padding counts', () => {
    assert.equal(matchGlob('build[01-03]*', 'build02.lab'), true);
    assert.equal(matchGlob('build[01-03]*', 'build2.lab'), false);
    assert.equal(matchGlob('build[01-03]*', 'build04.lab'), false);
  });

  test('a dot is literal', () => {
    assert.equal(matchGlob('a.b', 'axb'), false);
    assert.equal(matchGlob('a.b', 'a.b'), true);
  });

  test('the whole name must match', () => {
    assert.equal(matchGlob('n1', 'n10'), false);
  });

  test('isGlob tells globs from plain names and ranges', () => {
    assert.equal(isGlob('build*'), true);
    assert.equal(isGlob('web[ab]'), true);
    assert.equal(isGlob('build[01-20]'), false);
    assert.equal(isGlob('build01'), false);
  });
});
