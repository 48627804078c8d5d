import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { foldHosts, formatHostSet } from '../../../src/fleet/targets/host-fold.js';
import { expandRange } from '../../../src/fleet/targets/host-range.js';

const expandAll = (patterns: readonly string[]) => new Set(patterns.flatMap((pattern) => expandRange(pattern)));

/** Host names as inventories hold them: letters, digits, dots and dashes, often zero-padded numbers. */
const hostName = fc.oneof(
  fc.tuple(fc.constantFrom('build', 'h', 'rack1-n', 'web', 'db.', ''), fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 1, 2, 3), fc.constantFrom('', '.lab', '-mgmt', 'b'))
    .map(([prefix, value, width, suffix]) => `${prefix}${String(value).padStart(width, '0')}${suffix}`)
    .filter((name) => name !== ''),
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,12}$/),
);

describe('folding host names', () => {
  test('consecutive numbers with the same padding become one range', () => {
    const names = ['build01', 'build02', 'build03', 'build04', 'build05', 'build06', 'build07', 'build08', 'build10'];
    assert.equal(formatHostSet(names), 'build[01-08,10] (9)');
  });

  test('a single name is written as it is', () => {
    assert.deepEqual(foldHosts(['h007']), ['h007']);
  });

  test('names that differ only in padding stay distinct hosts', () => {
    assert.deepEqual(foldHosts(['n10', 'n010', 'n9']), ['n[9-10,010]']);
  });

  test('a run crosses into more digits when the padding allows it', () => {
    assert.deepEqual(foldHosts(['h08', 'h09', 'h10', 'h11']), ['h[08-11]']);
  });

  test('names fold on their last number and keep their suffix', () => {
    assert.deepEqual(foldHosts(['rack1-n1', 'rack1-n2', 'rack2-n1', 'w3.lab', 'w4.lab', 'gateway']), ['rack1-n[1-2]', 'rack2-n1', 'w[3-4].lab', 'gateway']);
  });

  test('duplicates count once', () => {
    assert.equal(formatHostSet(['h1', 'h1', 'h2']), 'h[1-2] (2)');
  });

  test('folding then expanding gives back the same set of names', () => {
    fc.assert(
      fc.property(fc.array(hostName, { maxLength: 60 }), (names) => {
        assert.deepEqual(expandAll(foldHosts(names)), new Set(names));
      }),
      { numRuns: 500 },
    );
  });

  test('folding never writes more patterns than there are names', () => {
    fc.assert(
      fc.property(fc.array(hostName, { maxLength: 60 }), (names) => {
        assert.ok(foldHosts(names).length <= new Set(names).size);
      }),
    );
  });

  test('folding is independent of the order of the names', () => {
    fc.assert(
      fc.property(fc.array(hostName, { maxLength: 40 }), (names) => {
        assert.deepEqual(foldHosts([...names].reverse()), foldHosts(names));
      }),
    );
  });
});
