/**
 * Issue 6, item 5: inventories and host patterns built to exhaust the controller. Each test bounds
 * the time of work that takes milliseconds, far below the seconds to minutes these inputs took
 * before; the bound is measured, because a synchronous loop cannot be interrupted by a test timeout.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveTargets } from '../../src/fleet/targets/host-pattern.js';
import { matchGlob, MAX_HOSTS_PER_RUN } from '../../src/fleet/targets/host-range.js';
import { emptyInventory, parseInventory } from '../../src/fleet/targets/inventory.js';
import { failure } from '../support/expect.js';

const BOUND_MS = 10_000;

/** Runs WORK and fails the test when it took longer than BOUND_MS. */
function bounded<T>(work: () => T): T {
  const began = performance.now();
  try {
    return work();
  } finally {
    const took = performance.now() - began;
    assert.ok(took < BOUND_MS, `took ${Math.round(took)} ms`);
  }
}

/**
 * LEVELS levels of two groups each, every group a child of both groups above it, written deepest
 * first so that each children: entry names groups that already have descendants.
 */
function lattice(levels: number): string {
  const lines: string[] = [`g${levels}a: {hosts: {h1: }}`];
  for (let level = levels - 1; level >= 0; level -= 1) {
    for (const side of ['a', 'b']) lines.push(`g${level}${side}: {children: {g${level + 1}a: , g${level + 1}b: }}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('inventory denial of service', () => {
  test('a 40-level lattice of groups in 3 KB parses with every group above the host', () => {
    const text = lattice(40);
    assert.ok(text.length < 3072, `${text.length} bytes`);
    const host = bounded(() => parseInventory(text, 'lattice.yaml')).hosts.get('h1');
    assert.equal(host?.groups.length, 81);
  });

  test('<< merge keys that would copy entries exponentially are an inventory error', () => {
    const lines = ['all:', '  vars:', '    l0: &l0 {a: 1, b: 2, c: 3}'];
    for (let level = 1; level <= 30; level += 1) {
      lines.push(`    l${level}: &l${level} {<<: [*l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}]}`);
    }
    lines.push('  children:', '    bomb:', '      vars:', '        <<: [*l30, *l30, *l30, *l30]', '      hosts:', '        h1:');
    const error = bounded(() => failure(() => parseInventory(`${lines.join('\n')}\n`, 'merge-bomb.yaml'), 'INVENTORY_INVALID'));
    assert.equal(error.file, 'merge-bomb.yaml');
    assert.ok(error.line !== undefined && error.column !== undefined);
  });

  test('an alias bomb in vars is an inventory error at the value, not an internal error', () => {
    const lines = ['all:', '  vars:', '    l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level <= 9; level += 1) {
      lines.push(`    l${level}: &l${level} [*l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}, *l${level - 1}]`);
    }
    lines.push('  hosts:', '    h1:');
    const error = bounded(() => failure(() => parseInventory(`${lines.join('\n')}\n`, 'alias-bomb.yaml'), 'INVENTORY_INVALID'));
    assert.equal(error.file, 'alias-bomb.yaml');
    assert.ok(error.line !== undefined && error.line >= 4 && error.line <= 13, `line ${error.line}`);
    assert.ok(error.column !== undefined);
  });

  test('twenty lines of 99999-host ranges stop at the line that passes the run\'s host cap', () => {
    const lines = ['all:', '  hosts:'];
    for (let index = 1; index <= 20; index += 1) lines.push(`    g${index}[1-99999]:`);
    const error = bounded(() => failure(() => parseInventory(`${lines.join('\n')}\n`, 'huge.yaml'), 'INVENTORY_INVALID'));
    assert.match(error.message, new RegExp(`past ${MAX_HOSTS_PER_RUN}`));
    assert.equal(error.line, 4);
  });

  test('a yaml syntax error is an inventory error with its line and column', () => {
    const error = failure(() => parseInventory('all:\n  hosts:\n    h1: {a: [1, 2}\n', 'broken.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.line, 3);
    assert.ok(error.column !== undefined);
  });
});

describe('host pattern denial of service', () => {
  test('a glob of fifteen stars against a long name of a\'s answers without backtracking', () => {
    const glob = `${'*a'.repeat(14)}*b`;
    assert.equal(bounded(() => matchGlob(glob, 'a'.repeat(200))), false);
    assert.equal(bounded(() => matchGlob(glob, `${'a'.repeat(200)}b`)), true);
  });

  test('-H with a backtracking glob selects among 300 long-named hosts at once', () => {
    const lines = ['all:', '  hosts:'];
    for (let index = 0; index < 300; index += 1) lines.push(`    ${'a'.repeat(40)}${index}:`);
    lines.push(`    ${'a'.repeat(40)}b:`);
    const inventory = parseInventory(`${lines.join('\n')}\n`, 'long.yaml');
    const hosts = bounded(() => resolveTargets(`${'*a'.repeat(14)}*b`, { inventory, loadInventoryFile: () => inventory }).hosts);
    assert.deepEqual(hosts.map((host) => host.name), [`${'a'.repeat(40)}b`]);
  });

  test('a glob holding a 99999-value range matches without expanding into alternatives', () => {
    const lines = ['all:', '  hosts:'];
    for (let index = 0; index < 300; index += 1) lines.push(`    n${index}.lab:`);
    const inventory = parseInventory(`${lines.join('\n')}\n`, 'n.yaml');
    const hosts = bounded(() => resolveTargets('n[1-99999]*', { inventory, loadInventoryFile: () => inventory }).hosts);
    assert.equal(hosts.length, 299);
  });
});

describe('the run-wide host cap', () => {
  test('-H ranges that each stay under the per-pattern cap stop together at the run\'s cap', () => {
    const spec = Array.from({ length: 20 }, (_, index) => `g${index}[1-99999]`).join(',');
    const error = bounded(() =>
      failure(() => resolveTargets(spec, { inventory: emptyInventory(), loadInventoryFile: () => emptyInventory(), adHoc: true }), 'HOST_PATTERN_INVALID'),
    );
    assert.match(error.message, /^"g1\[1-99999\]" brings the hosts of this run past/);
  });
});

describe('regex patterns', () => {
  test('~(a+)+b against a long name answers without backtracking', () => {
    const inventory = parseInventory(`all:\n  hosts:\n    ${'a'.repeat(64)}:\n`, 'a.yaml');
    const error = bounded(() =>
      failure(() => resolveTargets('~(a+)+b', { inventory, loadInventoryFile: () => inventory }), 'NO_HOSTS_MATCHED'),
    );
    assert.match(error.message, /matches no host/);
  });
});
