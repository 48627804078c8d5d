import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseInventory } from '../../src/fleet/targets/inventory.js';
import { declaredServers } from '../../src/provision/declared-servers.js';
import { failure } from '../support/expect.js';

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function declaredFor(text: string, host: string) {
  const entry = parseInventory(text, 'inventory.yaml').hosts.get(host);
  assert.ok(entry, `host ${host} is in the inventory`);
  return declaredServers(entry.located?.stap_servers ?? []);
}

const FARM = [
  'all:',
  '  vars:',
  '    stap_servers:',
  '      - { nickname: native, releases: [6.1.0-a] }',
  '  children:',
  '    arm:',
  '      vars:',
  '        stap_servers:',
  '          - { nickname: cross, arch: arm64, releases: [6.1.0-arm], port: 7001 }',
  '      hosts:',
  '        b1:',
  '          stap_servers:',
  '            - nickname: native',
  '              releases: [6.1.0-b, /kernels/6.2/build]',
  '              includes: [/opt/tapsets]',
  '              defines: [LIMIT=10]',
  '              max_threads: 4',
  '        b2:',
];

describe('stap_servers', () => {
  test('a host without stap_servers declares no servers', () => {
    assert.deepEqual(declaredFor(yaml('all:', '  hosts:', '    b1:'), 'b1'), []);
  });

  test('the keys become the conf.d settings of each server', () => {
    const [cross] = declaredFor(yaml(...FARM), 'b2').filter((spec) => spec.nickname === 'cross');
    assert.deepEqual(
      { arch: cross?.arch, releases: cross?.releases, port: cross?.port, user: cross?.user },
      { arch: 'arm64', releases: ['6.1.0-arm'], port: '7001', user: '' },
    );
  });

  test('a host inherits the servers of every group it is in', () => {
    assert.deepEqual(declaredFor(yaml(...FARM), 'b2').map((spec) => spec.nickname), ['native', 'cross']);
  });

  test("a host's entry replaces the group's entry of the same nickname", () => {
    const native = declaredFor(yaml(...FARM), 'b1').find((spec) => spec.nickname === 'native');
    assert.deepEqual(native?.releases, ['6.1.0-b', '/kernels/6.2/build']);
    assert.deepEqual(native?.includes, ['/opt/tapsets']);
    assert.equal(native?.maxThreads, '4');
  });

  test("a child group's entry replaces its parent's entry of the same nickname", () => {
    const text = yaml(
      'all:',
      '  vars: { stap_servers: [{ nickname: nat, releases: [old] }] }',
      '  children:',
      '    x:',
      '      vars: { stap_servers: [{ nickname: nat, releases: [new] }] }',
      '      hosts: { b1: }',
    );
    assert.deepEqual(declaredFor(text, 'b1').map((spec) => spec.releases), [['new']]);
  });

  test('an entry without a nickname is an error at that entry', () => {
    const error = failure(() => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - arch: arm64'), 'b1'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inventory.yaml:5:11: stap_servers[0].nickname is required');
  });

  test('an unknown key is an error at the key', () => {
    const error = failure(
      () => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - nickname: a', '          release: [6.1]'), 'b1'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inventory.yaml:6:11: stap_servers[0] has an unknown key "release"');
  });

  test('a port out of range is an error at its value', () => {
    const error = failure(
      () => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - { nickname: a, port: 70000 }'), 'b1'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inventory.yaml:5:32: stap_servers[0].port must be a port number from 1 to 65535');
  });

  test('a list item with a blank is an error at the item', () => {
    const error = failure(
      () => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - nickname: a', '          defines: [A, "B C"]'), 'b1'),
      'INVENTORY_INVALID',
    );
    assert.match(error.located, /^inventory\.yaml:6:24: stap_servers\[0\]\.defines item 1 must be a bare word/);
  });

  test('releases given as one string instead of a list is an error', () => {
    const error = failure(
      () => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - { nickname: a, releases: 6.1.0 }'), 'b1'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inventory.yaml:5:36: stap_servers[0].releases must be a list');
  });

  test('a nickname YAML reads as a boolean is an error that says to quote it', () => {
    const error = failure(() => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers: [{ nickname: no }]'), 'b1'), 'INVENTORY_INVALID');
    assert.match(error.message, /nickname must be text \(quote it/);
  });

  test('a nickname that could not name a file is an error', () => {
    failure(() => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers: [{ nickname: ../x }]'), 'b1'), 'INVENTORY_INVALID');
  });

  test('the same nickname twice in one definition is an error at the second', () => {
    const error = failure(
      () => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers:', '        - nickname: a', '        - nickname: a'), 'b1'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inventory.yaml:6:21: nickname "a" is declared twice in stap_servers (first at line 5)');
  });

  test('stap_servers that is not a list is an error at its value', () => {
    const error = failure(() => declaredFor(yaml('all:', '  hosts:', '    b1:', '      stap_servers: native'), 'b1'), 'INVENTORY_INVALID');
    assert.match(error.located, /^inventory\.yaml:4:21: stap_servers must be a list/);
  });
});
