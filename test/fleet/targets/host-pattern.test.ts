import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StapctlError } from '../../../src/errors.js';
import { resolveTargets, splitSpec } from '../../../src/fleet/targets/host-pattern.js';
import { emptyInventory, parseInventory, type Inventory } from '../../../src/fleet/targets/inventory.js';
import { failure } from '../../support/expect.js';

describe('splitSpec', () => {
  test('commas inside brackets belong to the range', () => {
    assert.deepEqual(
      splitSpec('n[7,9-10],web').map((term) => term.text),
      ['n[7,9-10]', 'web'],
    );
  });

  test('a leading "!" marks an exclude and is not part of the pattern', () => {
    assert.deepEqual(splitSpec('all, !db*'), [
      { text: 'all', exclude: false, offset: 0 },
      { text: 'db*', exclude: true, offset: 6 },
    ]);
  });

  test('an empty term is refused at its column', () => {
    const error = failure(() => splitSpec('a,,b'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 3);
  });

  test('a lone "!" is refused', () => {
    const error = failure(() => splitSpec('a,!'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /"!" without a pattern/);
  });
});

const FARM = parseInventory(
  `
all:
  vars:
    ansible_user: admin
  hosts:
    lone.lab:
  children:
    x86:
      hosts:
        build[01:04].lab:
    arm:
      hosts:
        arm1.lab:
          ansible_port: 2200
        arm2.lab:
    webservers:
      hosts:
        front.lab:
`,
  'farm.yaml',
);

const OTHER = parseInventory(
  `
all:
  hosts:
    other1.lab:
      ansible_user: other
    build01.lab:
      ansible_user: shadow
`,
  'other.yaml',
);

function resolve(spec: string, inventory: Inventory = FARM) {
  return resolveTargets(spec, {
    inventory,
    loadInventoryFile: (path) => {
      if (path === 'inventories/other.yaml') return OTHER;
      throw new StapctlError('INVENTORY_NOT_FOUND', `inventory ${path} does not exist`, { file: path });
    },
  });
}

function names(spec: string, inventory: Inventory = FARM): string[] {
  return resolve(spec, inventory).hosts.map((host) => host.name);
}

describe('resolveTargets', () => {
  test('a group name selects its hosts in inventory order', () => {
    assert.deepEqual(names('x86'), ['build01.lab', 'build02.lab', 'build03.lab', 'build04.lab']);
  });

  test('a host name selects the inventory entry with its settings', () => {
    const [host] = resolve('arm1.lab').hosts;
    assert.equal(host?.port, 2200);
    assert.equal(host?.user, 'admin');
  });

  test('a glob matches inventory host names', () => {
    assert.deepEqual(names('arm*'), ['arm1.lab', 'arm2.lab']);
  });

  test('a glob also matches group names, selecting their hosts', () => {
    assert.deepEqual(names('web*'), ['front.lab']);
  });

  test('a glob that matches nothing is an error naming the pattern', () => {
    const error = failure(() => resolve('db*'), 'NO_HOSTS_MATCHED');
    assert.match(error.message, /"db\*" matches no host or group/);
  });

  test('a range selects each host it names, inventory entries included', () => {
    const hosts = resolve('build[02-03].lab').hosts;
    assert.deepEqual(
      hosts.map((host) => [host.name, host.user]),
      [
        ['build02.lab', 'admin'],
        ['build03.lab', 'admin'],
      ],
    );
  });

  test('a name outside the inventory is an ad-hoc host with default settings', () => {
    const target = resolve('n[1-2].test');
    assert.deepEqual(target.adHoc, ['n1.test', 'n2.test']);
    assert.deepEqual(target.hosts[0], { name: 'n1.test', address: 'n1.test', become: false, groups: [], vars: {} });
  });

  test('ad-hoc hosts work without any inventory', () => {
    assert.deepEqual(names('h1,h2', emptyInventory()), ['h1', 'h2']);
  });

  test('terms keep first-seen order and a host selected twice appears once', () => {
    assert.deepEqual(names('arm2.lab,arm,build01.lab,x86'), [
      'arm2.lab',
      'arm1.lab',
      'build01.lab',
      'build02.lab',
      'build03.lab',
      'build04.lab',
    ]);
  });

  test('an exclude removes hosts whatever its position in the list', () => {
    assert.deepEqual(names('!build02.lab,x86'), ['build01.lab', 'build03.lab', 'build04.lab']);
  });

  test('an exclude glob removes matching ad-hoc hosts too', () => {
    assert.deepEqual(names('n[1-12],!n1*'), ['n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9']);
  });

  test('an exclude of a group removes all its hosts', () => {
    assert.deepEqual(names('all,!x86,!arm'), ['lone.lab', 'front.lab']);
  });

  test('a spec of only excludes starts from every inventory host', () => {
    assert.deepEqual(names('!x86,!webservers'), ['lone.lab', 'arm1.lab', 'arm2.lab']);
  });

  test('an exclude that removes nothing is an error, so a typo never acts on a protected host', () => {
    const error = failure(() => resolve('x86,!buidl02.lab'), 'NO_HOSTS_MATCHED');
    assert.match(error.message, /"!buidl02.lab" excludes nothing/);
  });

  test('an empty final selection is an error', () => {
    const error = failure(() => resolve('arm,!arm*'), 'NO_HOSTS_MATCHED');
    assert.match(error.message, /selects no hosts/);
  });

  test('selecting all without an inventory says how to give one', () => {
    const error = failure(() => names('all', emptyInventory()), 'NO_HOSTS_MATCHED');
    assert.match(error.hint ?? '', /--inventory FILE or set STAPCTL_INVENTORY/);
  });

  test('an inventory file term selects all its hosts with that file\'s settings', () => {
    const target = resolve('inventories/other.yaml');
    assert.deepEqual(
      target.hosts.map((host) => [host.name, host.user]),
      [
        ['other1.lab', 'other'],
        ['build01.lab', 'shadow'],
      ],
    );
    assert.deepEqual(target.adHoc, []);
  });

  test('a host selected first from the main inventory keeps those settings', () => {
    const target = resolve('build01.lab,inventories/other.yaml');
    assert.equal(target.hosts.find((host) => host.name === 'build01.lab')?.user, 'admin');
  });

  test('a missing inventory file term fails with the loader\'s error', () => {
    failure(() => resolve('missing.yaml'), 'INVENTORY_NOT_FOUND');
  });

  test('a slash inside brackets is a range step, not a file path', () => {
    assert.deepEqual(names('n[1-5/2]'), ['n1', 'n3', 'n5']);
  });

  test('a range naming groups selects their hosts', () => {
    const inventory = parseInventory('rack1:\n  hosts:\n    a:\nrack2:\n  hosts:\n    b:\n', 'racks.yaml');
    assert.deepEqual(names('rack[1-2]', inventory), ['a', 'b']);
  });

  test('a user@host term is refused with a hint about ansible_user', () => {
    const error = failure(() => resolve('root@n1'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 5);
    assert.match(error.hint ?? '', /ansible_user/);
  });

  test('a malformed range in a spec reports its column in the whole spec', () => {
    const error = failure(() => resolve('x86,n[5-1]'), 'HOST_PATTERN_INVALID');
    assert.equal(error.column, 7);
  });

  test('spaces around terms are ignored', () => {
    assert.deepEqual(names(' arm1.lab , lone.lab '), ['arm1.lab', 'lone.lab']);
  });
});
