import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveTargets } from '../../../src/fleet/targets/host-pattern.js';
import { isHostList, parseAddress, parseHostList } from '../../../src/fleet/targets/inventory-host-list.js';
import { loadInventories, parseInventory } from '../../../src/fleet/targets/inventory.js';
import { failure } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-gaps-host-list-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseAddress, as Ansible parse_address(allow_ranges=False)', () => {
  test('a name or IPv4 address takes a port after a colon', () => {
    assert.deepEqual(parseAddress('build01:2222'), { host: 'build01', port: 2222 });
    assert.deepEqual(parseAddress('10.0.0.1:24'), { host: '10.0.0.1', port: 24 });
  });

  test('an IPv6 address takes a port only inside brackets', () => {
    assert.deepEqual(parseAddress('[::1]:23'), { host: '::1', port: 23 });
    assert.deepEqual(parseAddress('fe80::1'), { host: 'fe80::1' });
  });

  test('an IPv6 address with ":port" outside brackets is one host name, as in Ansible', () => {
    assert.deepEqual(parseAddress('a::b:22'), { host: 'a::b:22' });
  });

  test('both port forms are tried in turn, so "[a:22]:23" is host a, port 22', () => {
    assert.deepEqual(parseAddress('[a:22]:23'), { host: 'a', port: 22 });
  });

  test('an entry that is no host name is kept whole, port included', () => {
    assert.deepEqual(parseAddress('a_:22'), { host: 'a_:22' });
    assert.deepEqual(parseAddress('web[01:02]'), { host: 'web[01:02]' });
  });
});

describe('parseHostList', () => {
  test('entries are split at commas, trimmed, blank ones skipped, each with its column', () => {
    assert.deepEqual(parseHostList(' a, b:2222 ,,'), [
      { name: 'a', column: 2 },
      { name: 'b', port: 2222, column: 5 },
    ]);
  });

  test('a host listed twice keeps its first entry', () => {
    assert.deepEqual(parseHostList('a:1,b,a:2'), [
      { name: 'a', port: 1, column: 1 },
      { name: 'b', column: 5 },
    ]);
  });
});

describe('--inventory with a host list', () => {
  test('a source with a comma that names no path is a host list, an existing path is a file', () => {
    const file = join(scratch, 'a,b');
    writeFileSync(file, '');
    assert.equal(isHostList('a,b,', () => false), true);
    assert.equal(isHostList(file, () => true), false);
    assert.equal(isHostList('build01', () => false), false);
  });

  test("--inventory 'a,b:2222,' puts both hosts in ungrouped, the port as ansible_port", () => {
    const inventory = loadInventories(['a,b:2222,']);
    assert.deepEqual(inventory.groups.get('ungrouped')?.hosts, ['a', 'b']);
    assert.deepEqual(inventory.groups.get('all')?.hosts, ['a', 'b']);
    assert.equal(inventory.hosts.get('b')?.port, 2222);
    assert.equal(inventory.hosts.get('b')?.vars.ansible_port, 2222);
  });

  test('a host an earlier source defined keeps that entry', () => {
    const file = join(scratch, 'earlier.yaml');
    writeFileSync(file, 'all:\n  children:\n    web:\n      hosts:\n        a:\n          ansible_port: 2200\n');
    const inventory = loadInventories([file, 'a:9,c,']);
    assert.equal(inventory.hosts.get('a')?.port, 2200);
    assert.deepEqual(inventory.hosts.get('a')?.groups, ['web']);
    assert.deepEqual(inventory.groups.get('ungrouped')?.hosts, ['c']);
  });

  test('an entry that is a range is refused at its column', () => {
    const error = failure(() => loadInventories(['a,web[01:02],']), 'INVENTORY_INVALID');
    assert.deepEqual([error.file, error.line, error.column], ['host list "a,web[01:02],"', 1, 3]);
  });

  test('a list of commas only is an error, not an empty inventory', () => {
    failure(() => loadInventories([',,']), 'INVENTORY_INVALID');
  });
});

describe("-H with a trailing comma", () => {
  const inventory = parseInventory('all:\n  children:\n    web:\n      hosts:\n        w1:\n          ansible_host: 10.0.0.9\n', 'farm.yaml');
  const resolve = (spec: string) => resolveTargets(spec, { inventory, loadInventoryFile: (path) => loadInventories([path]) });

  test('-H "x,y:23," selects the listed hosts without --adhoc, with their ports', () => {
    const { hosts } = resolve('x,y:23,');
    assert.deepEqual(hosts.map((host) => [host.name, host.port]), [['x', undefined], ['y', 23]]);
  });

  test('a listed host that the inventory defines keeps its inventory entry', () => {
    const { hosts } = resolve('w1,x,');
    assert.equal(hosts[0]?.address, '10.0.0.9');
  });

  test("a group's name in a host list is refused at its column", () => {
    const error = failure(() => resolve('x, web,'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 4);
  });

  test('without the trailing comma the same names are a pattern', () => {
    assert.deepEqual(resolve('web').hosts.map((host) => host.name), ['w1']);
  });
});
