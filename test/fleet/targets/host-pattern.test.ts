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
      { text: 'all', operator: 'include', offset: 0 },
      { text: 'db*', operator: 'exclude', offset: 6 },
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

function resolve(spec: string, inventory: Inventory = FARM, adHoc = true) {
  return resolveTargets(spec, {
    inventory,
    adHoc,
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
    assert.deepEqual(target.hosts[0], { name: 'n1.test', address: 'n1.test', become: false, groups: [], vars: {}, varSources: {}, source: 'ad-hoc', warnings: [] });
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

  test('a user@host term is an ad-hoc host with that user, even without --adhoc', () => {
    const target = resolve('root@n1', FARM, false);
    assert.deepEqual(target.hosts.map((host) => [host.name, host.user, host.source]), [['n1', 'root', 'ad-hoc']]);
  });

  test('user@host of an inventory host is refused: its user comes from the inventory', () => {
    const error = failure(() => resolve('root@arm1.lab'), 'HOST_PATTERN_INVALID');
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

describe('Ansible pattern operators', () => {
  const strict = (spec: string) => resolve(spec, FARM, false).hosts.map((host) => host.name);

  test('":" separates terms as "," does', () => {
    assert.deepEqual(strict('arm:webservers'), ['arm1.lab', 'arm2.lab', 'front.lab']);
  });

  test('":&" keeps only the hosts also in the next term', () => {
    assert.deepEqual(strict('all:&arm'), ['arm1.lab', 'arm2.lab']);
  });

  test('":!" removes the hosts of the next term', () => {
    assert.deepEqual(strict('x86:!build0[2-3].lab'), ['build01.lab', 'build04.lab']);
  });

  test('intersections and exclusions apply after every include, whatever their place', () => {
    assert.deepEqual(strict('&x86,!build01.lab,all'), ['build02.lab', 'build03.lab', 'build04.lab']);
  });

  test('a subscript picks a group\'s host by position', () => {
    assert.deepEqual(strict('x86[0]'), ['build01.lab']);
    assert.deepEqual(strict('x86[-1]'), ['build04.lab']);
  });

  test('a slice [i:j] picks a group\'s hosts i to j inclusive, as Ansible\'s subscript', () => {
    assert.deepEqual(strict('x86[1:2]'), ['build02.lab', 'build03.lab']);
    assert.deepEqual(strict('x86[2:]'), ['build03.lab', 'build04.lab']);
  });

  test('brackets after a name that is not a group are a range', () => {
    assert.deepEqual(strict('build[02:03].lab'), ['build02.lab', 'build03.lab']);
  });

  test('~regex matches host and group names from their start, as re.match', () => {
    assert.deepEqual(strict('~(arm|front)\\d?\\.lab'), ['arm1.lab', 'arm2.lab', 'front.lab']);
    assert.deepEqual(strict('~web'), ['front.lab']);
  });

  test('a regex with a backreference is refused at its column', () => {
    const error = failure(() => strict('x86,~(a)\\1'), 'HOST_PATTERN_INVALID');
    assert.match(error.message, /backreferences/);
  });

  test('a name neither in the inventory nor in ssh config is an error with the nearest names', () => {
    const error = failure(() => strict('buidl01.lab'), 'NO_HOSTS_MATCHED');
    assert.match(error.message, /did you mean "build01.lab"/);
    assert.match(error.hint ?? '', /--adhoc/);
  });

  test('a name that ~/.ssh/config names is a host marked as coming from there', () => {
    const target = resolveTargets('jump1', {
      inventory: FARM,
      loadInventoryFile: () => FARM,
      sshConfigEntry: (name) => (name === 'jump1' ? '/root/.ssh/config:4' : undefined),
    });
    assert.deepEqual(target.hosts.map((host) => [host.name, host.source, host.origin?.file]), [['jump1', 'ssh-config', '/root/.ssh/config:4']]);
  });

  test('inventory hosts are marked with the place that defines them', () => {
    const [host] = resolve('arm1.lab').hosts;
    assert.deepEqual([host?.source, host?.origin], ['inventory', { file: 'farm.yaml', line: 13, column: 9 }]);
  });
});
