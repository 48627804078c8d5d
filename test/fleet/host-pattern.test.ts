import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StapctlError } from '../../src/errors.js';
import { expandRange, isGlob, matchGlob, MAX_EXPANSION, resolveTargets, splitSpec } from '../../src/fleet/host-pattern.js';
import { emptyInventory, parseInventory, type Inventory } from '../../src/fleet/inventory.js';
import { failure } from '../support/expect.js';

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
