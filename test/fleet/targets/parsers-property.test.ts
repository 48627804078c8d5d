/**
 * Property tests (issue 6): on any input the inventory and host-pattern parsers return, or throw
 * the project's own error, within a time bound; never an internal error, never a hang.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StapctlError } from '../../../src/errors.js';
import { resolveTargets } from '../../../src/fleet/targets/host-pattern.js';
import { compileGlob, expandRange } from '../../../src/fleet/targets/host-range.js';
import { compileRegex } from '../../../src/fleet/targets/host-regex.js';
import { emptyInventory, loadInventories, parseInventory } from '../../../src/fleet/targets/inventory.js';
import { readTomlInventory } from '../../../src/fleet/targets/inventory-toml.js';
import { InventoryBuilder } from '../../../src/fleet/targets/inventory-model.js';
import { TomlPlaces } from '../../../src/fleet/targets/toml-places.js';

const BOUND_MS = 2_000;
const RUNS = { numRuns: 300 };

/** True when WORK returned or threw a StapctlError within BOUND_MS; anything else fails the property. */
function behaves(work: () => unknown): boolean {
  const began = performance.now();
  try {
    work();
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
  }
  const took = performance.now() - began;
  assert.ok(took < BOUND_MS, `took ${Math.round(took)} ms`);
  return true;
}

const inventoryWords = fc.constantFrom(
  'all:', 'hosts:', 'children:', 'vars:', '<<:', '&a', '*a', '&b', '*b', '[', ']', '{', '}', ',', ':', '-', ' ', '  ', '    ',
  '\n', 'h1', 'web', 'g[1-3]', 'n[01:20]', 'ansible_port: 22', 'ansible_port: x', 'become: yes', '!!binary', '!!map', '? ',
  '"', "'", '#', '|', '>', '%YAML 1.1\n', '---\n', '...\n', 'ansible_host:', '{{ x }}', 'ansible_group_priority: 3',
);
/** Text made of inventory-like words, so that most inputs get past the YAML parser into the inventory rules. */
const inventoryText = fc.array(inventoryWords, { maxLength: 60 }).map((words) => words.join(''));

const patternWords = fc.constantFrom(
  'web', 'db', 'h1', '*', '?', '[', ']', '1', '-', ':', '/', ',', '!', '&', '~', '^', '.', 'a', '[1-3]', '[a:c]', '[!a]', '[01-999]', '@', ' ',
);
const patternText = fc.oneof(fc.string({ maxLength: 40 }), fc.array(patternWords, { maxLength: 30 }).map((words) => words.join('')));

const FARM = parseInventory(
  'all:\n  hosts:\n    h1:\n    h2:\n  children:\n    web:\n      hosts:\n        web[1-3]:\n    db:\n      hosts:\n        db1:\n',
  'farm.yaml',
);

describe('parsers on any input', () => {
  test('parseInventory returns or throws a StapctlError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => behaves(() => parseInventory(text, 'any.yaml'))), RUNS);
  });

  test('parseInventory returns or throws a StapctlError on inventory-like text', () => {
    fc.assert(fc.property(inventoryText, (text) => behaves(() => parseInventory(text, 'any.yaml'))), { numRuns: 1000 });
  });

  test('expandRange returns or throws a StapctlError on any pattern', () => {
    fc.assert(fc.property(patternText, (pattern) => behaves(() => expandRange(pattern))), RUNS);
  });

  test('a compiled glob answers any name', () => {
    fc.assert(
      fc.property(patternText, fc.string({ maxLength: 80 }), (pattern, name) => behaves(() => compileGlob(pattern)(name))),
      RUNS,
    );
  });

  test('a compiled ~regex answers any name', () => {
    const regexWords = fc.constantFrom('a', 'b', '(', ')', '|', '*', '+', '?', '{2,3}', '{', '}', '[', ']', '^', '$', '.', '\\', '\\d', '(?:', '(?=', '-', ',');
    const regexText = fc.oneof(fc.string({ maxLength: 30 }), fc.array(regexWords, { maxLength: 25 }).map((words) => words.join('')));
    fc.assert(
      fc.property(regexText, fc.string({ maxLength: 80 }), (pattern, name) => behaves(() => compileRegex(pattern, `~${pattern}`, 1)(name))),
      { numRuns: 1000 },
    );
  });

  test('a host list returns or throws a StapctlError on any text', () => {
    const listWords = fc.constantFrom('a', 'b', '1', '22', '.', ':', '::', '[', ']', ',', ' ', '_', '-', '%', 'fe80', '255.1.1.1', '\t');
    const listText = fc.oneof(fc.string({ maxLength: 60 }), fc.array(listWords, { maxLength: 40 }).map((words) => words.join('')));
    fc.assert(fc.property(listText, (text) => behaves(() => loadInventories([`${text},`]))), { numRuns: 1000 });
  });

  test('a host list of long runs of blanks and colons is read within the bound', () => {
    behaves(() => loadInventories([`${' '.repeat(100_000)}a${':'.repeat(100_000)}1,[${']:1'.repeat(30_000)},`]));
  });

  test('the TOML reader returns or throws a StapctlError on TOML-like text', () => {
    const tomlWords = fc.constantFrom(
      '[', ']', '[[', ']]', '{', '}', '=', ',', '.', '"', "'", '"""', '#', '\n', ' ', 'web', 'hosts', 'vars', 'children', 'all',
      'h1', 'ansible_port', '22', '"22a"', 'true', '1979-05-27', '[1, 2]', '{}', '__proto__', 'stap_servers', '"x:22"', '\\',
    );
    const tomlText = fc.oneof(fc.string({ maxLength: 120 }), fc.array(tomlWords, { maxLength: 60 }).map((words) => words.join('')));
    fc.assert(
      fc.property(tomlText, (text) => behaves(() => {
        new TomlPlaces(text);
        readTomlInventory('any.toml', text, new InventoryBuilder());
      })),
      { numRuns: 1000 },
    );
  });

  test('resolveTargets returns or throws a StapctlError on any spec', () => {
    fc.assert(
      fc.property(patternText, (spec) =>
        behaves(() => resolveTargets(spec, { inventory: FARM, loadInventoryFile: (path) => (path.endsWith(',') ? loadInventories([path]) : emptyInventory()) })),
      ),
      { numRuns: 1000 },
    );
  });
});
