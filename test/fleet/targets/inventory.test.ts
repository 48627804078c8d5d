import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  describeHost,
  emptyInventory,
  findDefaultInventory,
  loadInventory,
  parseInventory,
  type HostEntry,
} from '../../../src/fleet/targets/inventory.js';
import { failure } from '../../support/expect.js';

/** Lines joined with newlines, so that line and column numbers in tests are easy to read. */
function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function host(text: string, name: string): HostEntry {
  const entry = parseInventory(text, 'inventory.yaml').hosts.get(name);
  assert.ok(entry, `host ${name} is in the inventory`);
  return entry;
}

describe('parseInventory: structure', () => {
  test('hosts under all: are in the inventory with their name as address', () => {
    const entry = host(yaml('all:', '  hosts:', '    build01.lab:'), 'build01.lab');
    assert.equal(entry.address, 'build01.lab');
    assert.equal(entry.become, false);
  });

  test('an empty file is an inventory without hosts', () => {
    const inventory = parseInventory('', 'inventory.yaml');
    assert.equal(inventory.hosts.size, 0);
    assert.deepEqual(inventory.groups.get('all')?.hosts, []);
  });

  test('host names with ranges expand to one host each', () => {
    const inventory = parseInventory(yaml('all:', '  hosts:', '    build[01:03].lab:'), 'inventory.yaml');
    assert.deepEqual([...inventory.hosts.keys()], ['build01.lab', 'build02.lab', 'build03.lab']);
  });

  test('a group lists its direct hosts, then its descendants\', in file order', () => {
    const inventory = parseInventory(
      yaml(
        'all:',
        '  children:',
        '    farm:',
        '      children:',
        '        x86:',
        '          hosts:',
        '            b1:',
        '      hosts:',
        '        f1:',
      ),
      'inventory.yaml',
    );
    assert.deepEqual(inventory.groups.get('farm'), { name: 'farm', hosts: ['b1', 'f1'], children: ['x86'] });
  });

  test('top-level groups other than all are children of all', () => {
    const inventory = parseInventory(yaml('web:', '  hosts:', '    w1:'), 'inventory.yaml');
    assert.deepEqual(inventory.groups.get('all')?.hosts, ['w1']);
    assert.ok(inventory.groups.get('all')?.children.includes('web'));
  });

  test('hosts in no group but all are in the implicit group ungrouped', () => {
    const inventory = parseInventory(
      yaml('all:', '  hosts:', '    lone:', '    grouped:', '  children:', '    web:', '      hosts:', '        grouped:'),
      'inventory.yaml',
    );
    assert.deepEqual(inventory.groups.get('ungrouped')?.hosts, ['lone']);
    assert.deepEqual(inventory.hosts.get('lone')?.groups, ['ungrouped']);
  });

  test('a group defined twice merges its hosts and children', () => {
    const inventory = parseInventory(
      yaml(
        'all:',
        '  children:',
        '    web:',
        '      hosts:',
        '        w1:',
        'prod:',
        '  children:',
        '    web:',
        '      hosts:',
        '        w2:',
      ),
      'inventory.yaml',
    );
    assert.deepEqual(inventory.groups.get('web')?.hosts, ['w1', 'w2']);
    assert.deepEqual(inventory.groups.get('prod')?.hosts, ['w1', 'w2']);
  });

  test('a host lists every group it is in, through child groups too, but not all', () => {
    const entry = host(
      yaml('farm:', '  children:', '    x86:', '      hosts:', '        b1:', 'canary:', '  hosts:', '    b1:'),
      'b1',
    );
    assert.deepEqual(entry.groups, ['canary', 'farm', 'x86']);
  });

  test('a name:port host key sets the port', () => {
    const entry = host(yaml('all:', '  hosts:', '    badwolf.lab:5309:'), 'badwolf.lab');
    assert.equal(entry.port, 5309);
  });

  test('a colon inside a range is not a port', () => {
    const inventory = parseInventory(yaml('all:', '  hosts:', '    n[1:2]:'), 'inventory.yaml');
    assert.deepEqual([...inventory.hosts.keys()], ['n1', 'n2']);
    assert.equal(inventory.hosts.get('n1')?.port, undefined);
  });

  test('a host key YAML reads as a number keeps its written form', () => {
    const inventory = parseInventory(yaml('all:', '  hosts:', '    010:', '    10.1:'), 'inventory.yaml');
    assert.deepEqual([...inventory.hosts.keys()], ['010', '10.1']);
  });

  test('anchors and merge keys work in variables', () => {
    const entry = host(
      yaml('all:', '  hosts:', '    a:', '      <<: &base { ansible_user: ops, ansible_port: 2022 }', '      ansible_port: 22'),
      'a',
    );
    assert.equal(entry.user, 'ops');
    assert.equal(entry.port, 22);
  });
});

describe('parseInventory: variables', () => {
  test('the ansible_* connection variables fill the host entry', () => {
    const entry = host(
      yaml(
        'all:',
        '  hosts:',
        '    b1:',
        '      ansible_host: 192.0.2.1',
        '      ansible_port: 2222',
        '      ansible_user: ops',
        '      ansible_ssh_private_key_file: ~/.ssh/farm',
        '      become: true',
        '      stapctl_server_user: stap-server',
        '      stapctl_root: /srv/h1',
      ),
      'b1',
    );
    assert.deepEqual(
      { ...entry, vars: undefined, varSources: undefined, source: undefined, origin: undefined, warnings: undefined },
      {
        name: 'b1',
        address: '192.0.2.1',
        port: 2222,
        user: 'ops',
        identityFile: '~/.ssh/farm',
        become: true,
        serverUser: 'stap-server',
        root: '/srv/h1',
        groups: ['ungrouped'],
        vars: undefined,
        varSources: undefined,
        source: undefined,
        origin: undefined,
        warnings: undefined,
      },
    );
  });

  test('the short aliases host, port, user and identity work like the ansible_* names', () => {
    const entry = host(
      yaml('all:', '  hosts:', '    b1:', '      host: 192.0.2.2', '      port: "2200"', '      user: ops', '      identity: /k'),
      'b1',
    );
    assert.deepEqual([entry.address, entry.port, entry.user, entry.identityFile], ['192.0.2.2', 2200, 'ops', '/k']);
  });

  test('the ansible_* name wins over its alias in the same block', () => {
    assert.equal(host(yaml('all:', '  hosts:', '    b1: { port: 1, ansible_port: 2 }'), 'b1').port, 2);
  });

  test('an alias set on the host wins over the ansible_* name set on a group', () => {
    const entry = host(yaml('all:', '  vars:', '    ansible_user: group', '  hosts:', '    b1: { user: own }'), 'b1');
    assert.equal(entry.user, 'own');
  });

  test('become accepts the words Ansible accepts, in any case', () => {
    for (const [word, expected] of [
      ['yes', true],
      ['"Yes"', true],
      ['"on"', true],
      ['1', true],
      ['"no"', false],
      ['"FALSE"', false],
      ['off', false],
    ] as const) {
      assert.equal(host(yaml('all:', '  hosts:', `    b1: { become: ${word} }`), 'b1').become, expected, word);
    }
  });

  test('group variables reach the hosts of descendant groups', () => {
    const entry = host(yaml('farm:', '  vars:', '    ansible_user: ops', '  children:', '    x86:', '      hosts:', '        b1:'), 'b1');
    assert.equal(entry.user, 'ops');
  });

  test('a child group overrides its parent, which overrides all', () => {
    const text = yaml(
      'all:',
      '  vars: { ansible_port: 1, ansible_user: base, become: yes }',
      '  children:',
      '    farm:',
      '      vars: { ansible_port: 2, ansible_user: farm }',
      '      children:',
      '        x86:',
      '          vars: { ansible_port: 3 }',
      '          hosts:',
      '            b1:',
    );
    const entry = host(text, 'b1');
    assert.deepEqual([entry.port, entry.user, entry.become], [3, 'farm', true]);
  });

  test('host variables override every group', () => {
    const entry = host(yaml('web:', '  vars: { ansible_port: 2 }', '  hosts:', '    w1: { ansible_port: 9 }'), 'w1');
    assert.equal(entry.port, 9);
  });

  test('sibling groups at the same depth apply in name order, the later name winning', () => {
    const text = yaml('zeta:', '  vars: { ansible_user: zeta }', '  hosts: { h: }', 'alpha:', '  vars: { ansible_user: alpha }', '  hosts: { h: }');
    assert.equal(host(text, 'h').user, 'zeta');
  });

  test('ansible_group_priority outranks the name order between siblings', () => {
    const text = yaml(
      'zeta:',
      '  vars: { ansible_user: zeta }',
      '  hosts: { h: }',
      'alpha:',
      '  vars: { ansible_user: alpha, ansible_group_priority: 10 }',
      '  hosts: { h: }',
    );
    assert.equal(host(text, 'h').user, 'alpha');
  });

  test('a deeper group wins over a shallower one whatever their names', () => {
    const text = yaml(
      'a:',
      '  children:',
      '    b:',
      '      vars: { ansible_user: deep }',
      '      hosts: { h: }',
      'z:',
      '  vars: { ansible_user: shallow }',
      '  hosts: { h: }',
    );
    assert.equal(host(text, 'h').user, 'deep');
  });

  test('a host listed twice merges its variables, the later definition winning', () => {
    const text = yaml('one:', '  hosts:', '    h: { ansible_user: first, ansible_port: 22 }', 'two:', '  hosts:', '    h: { ansible_user: second }');
    const entry = host(text, 'h');
    assert.deepEqual([entry.user, entry.port], ['second', 22]);
  });

  test('unknown variables are kept in vars and otherwise ignored', () => {
    const entry = host(yaml('all:', '  hosts:', '    h: { rack: 7, ansible_python_interpreter: "{{ x }}" }'), 'h');
    assert.deepEqual(entry.vars, { rack: 7, ansible_python_interpreter: '{{ x }}' });
  });
});

describe('parseInventory: errors name file, line and column', () => {
  test('a port that is not a number points at the value', () => {
    const error = failure(
      () => parseInventory(yaml('all:', '  hosts:', '    b1:', '      ansible_port: 22a'), 'inventory.yaml'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inventory.yaml:4:21: ansible_port must be 1-65535, got "22a"');
  });

  test('a port out of range is refused', () => {
    const error = failure(() => parseInventory(yaml('all:', '  vars:', '    port: 70000'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:3:11: port must be 1-65535, got 70000');
  });

  test('a become word Ansible does not accept is refused', () => {
    const error = failure(() => parseInventory(yaml('all:', '  vars:', '    become: maybe'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.match(error.message, /become must be yes\/no or true\/false, got "maybe"/);
    assert.deepEqual([error.line, error.column], [3, 13]);
  });

  test('a relative stapctl_root is refused', () => {
    const error = failure(() => parseInventory(yaml('all:', '  vars:', '    stapctl_root: srv/h1'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.match(error.message, /stapctl_root must be an absolute directory path/);
  });

  test('a Jinja template in a connection variable is refused', () => {
    const error = failure(
      () => parseInventory(yaml('all:', '  vars:', '    ansible_user: "{{ lookup(\'env\', \'USER\') }}"'), 'inv.yaml'),
      'INVENTORY_INVALID',
    );
    assert.match(error.message, /ansible_user uses a Jinja template/);
  });

  test('a YAML syntax error is located', () => {
    const error = failure(() => parseInventory(yaml('all:', '\thosts:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:2:1: YAML syntax: Tabs are not allowed as indentation');
  });

  test('an unclosed flow list is located at the line where it should have ended', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    a: [b', 'c: d'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.deepEqual([error.line, error.column], [4, 1]);
    assert.match(error.message, /^YAML syntax: Flow sequence/);
  });

  test('hosts written as a list are refused with a hint', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    - a', '    - b'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:3:5: the hosts of group "all" must be a mapping');
    assert.match(error.hint ?? '', /not a list/);
  });

  test('an unknown key in a group is refused, since it is usually a mis-indented host', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    a:', '  b1:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:4:3: unknown key "b1" in group "all": a group holds only hosts:, children: and vars:');
  });

  test('a duplicate key in one mapping is refused at the second one', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    a:', '    a:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:4:5: duplicate key "a" in the hosts of group "all" (first at line 3)');
  });

  test('a group with the same name as a host is refused', () => {
    const error = failure(
      () => parseInventory(yaml('all:', '  hosts:', '    web:', '  children:', '    web:'), 'inv.yaml'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.located, 'inv.yaml:3:5: host "web" has the same name as a group (line 5)');
  });

  test('a group that contains itself through its children is refused', () => {
    const error = failure(
      () => parseInventory(yaml('a:', '  children:', '    b:', '      children:', '        a:'), 'inv.yaml'),
      'INVENTORY_INVALID',
    );
    assert.equal(error.line, 5);
    assert.match(error.message, /group "a" cannot be a child of "b"/);
  });

  test('all as a child group is refused', () => {
    const error = failure(() => parseInventory(yaml('web:', '  children:', '    all:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.match(error.message, /group "all" cannot be a child group/);
  });

  test('a malformed range in a host name is refused at that host', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    n[3:1]:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.deepEqual([error.file, error.line, error.column], ['inv.yaml', 3, 5]);
    assert.match(error.message, /range 3:1 goes down/);
  });

  test('a glob in a host name is refused', () => {
    const error = failure(() => parseInventory(yaml('all:', '  hosts:', '    web*:'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.match(error.message, /host name "web\*" holds "\*"/);
  });

  test('a top level that is not a mapping is refused', () => {
    const error = failure(() => parseInventory(yaml('- a', '- b'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.match(error.message, /top level must be a mapping/);
  });

  test('a group written as a list is refused', () => {
    const error = failure(() => parseInventory(yaml('web:', '  - w1'), 'inv.yaml'), 'INVENTORY_INVALID');
    assert.equal(error.located, 'inv.yaml:2:3: group "web" must be a mapping with hosts:, children: or vars:');
  });
});

describe('describeHost', () => {
  test('shows the connection settings the hosts listing needs', () => {
    const entry = host(
      yaml('x86:', '  hosts:', '    b1: { ansible_host: 10.0.0.1, ansible_port: 2222, user: ops, identity: /k, become: yes, rack: 4 }'),
      'b1',
    );
    assert.deepEqual(describeHost(entry), {
      name: 'b1',
      address: '10.0.0.1',
      port: 2222,
      user: 'ops',
      identity: '/k',
      become: true,
      groups: ['x86'],
    });
  });

  test('leaves out the settings that are not set', () => {
    assert.deepEqual(describeHost(host(yaml('all:', '  hosts:', '    h:'), 'h')), {
      name: 'h',
      address: 'h',
      become: false,
      groups: ['ungrouped'],
    });
  });
});

describe('emptyInventory', () => {
  test('has the implicit groups and no hosts', () => {
    const inventory = emptyInventory();
    assert.deepEqual([...inventory.groups.keys()], ['all', 'ungrouped']);
    assert.equal(inventory.hosts.size, 0);
  });
});

describe('files', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'stapctl-inventory-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('the example inventory at the top of the repository parses into its documented hosts', () => {
    const example = fileURLToPath(new URL('../../../inventory.example.yaml', import.meta.url));
    const inventory = loadInventory(example);
    assert.equal(inventory.hosts.size, 13);
    assert.deepEqual(describeHost(inventory.hosts.get('build01.lab.example') as HostEntry), {
      name: 'build01.lab.example',
      address: 'build01.lab.example',
      user: 'admin',
      become: true,
      serverUser: 'stap-canary',
      groups: ['canary', 'farm', 'x86'],
    });
    const arm = inventory.hosts.get('arm-b.lab.example');
    assert.deepEqual([arm?.port, arm?.become, arm?.identityFile], [2200, false, '~/.ssh/arm_farm_ed25519']);
    assert.equal(inventory.hosts.get('build09.lab.example')?.address, '192.0.2.9');
    assert.equal(inventory.hosts.get('localhost.test')?.root, '/srv/stapctl-sandbox');
  });

  test('loadInventory names the file in errors', () => {
    const file = join(scratch, 'bad.yaml');
    writeFileSync(file, yaml('all:', '  vars:', '    ansible_port: x'));
    const error = failure(() => loadInventory(file), 'INVENTORY_INVALID');
    assert.equal(error.located, `${file}:3:19: ansible_port must be 1-65535, got "x"`);
  });

  test('loadInventory of a missing file is INVENTORY_NOT_FOUND', () => {
    const error = failure(() => loadInventory(join(scratch, 'nope.yaml')), 'INVENTORY_NOT_FOUND');
    assert.match(error.hint ?? '', /--inventory/);
  });

  test('findDefaultInventory prefers STAPCTL_INVENTORY, resolved against the working directory', () => {
    writeFileSync(join(scratch, 'env.yaml'), '');
    writeFileSync(join(scratch, 'inventory.yaml'), '');
    const found = findDefaultInventory({ env: { STAPCTL_INVENTORY: 'env.yaml' }, cwd: scratch, home: scratch });
    assert.equal(found, join(scratch, 'env.yaml'));
  });

  test('findDefaultInventory refuses a STAPCTL_INVENTORY that does not exist', () => {
    const error = failure(
      () => findDefaultInventory({ env: { STAPCTL_INVENTORY: '/nonexistent/inv.yaml' }, cwd: scratch, home: scratch }),
      'INVENTORY_NOT_FOUND',
    );
    assert.match(error.message, /STAPCTL_INVENTORY names \/nonexistent\/inv.yaml/);
  });

  test('findDefaultInventory takes ./inventory.yaml before the user\'s and the system\'s', () => {
    const cwd = join(scratch, 'project');
    const home = join(scratch, 'home');
    mkdirSync(cwd);
    mkdirSync(join(home, '.config', 'stapctl'), { recursive: true });
    writeFileSync(join(home, '.config', 'stapctl', 'inventory.yaml'), '');
    assert.equal(findDefaultInventory({ env: {}, cwd, home }), join(home, '.config', 'stapctl', 'inventory.yaml'));
    writeFileSync(join(cwd, 'inventory.yaml'), '');
    assert.equal(findDefaultInventory({ env: {}, cwd, home }), join(cwd, 'inventory.yaml'));
  });

  test('findDefaultInventory falls back to /etc/stapctl/inventory.yaml, then to nothing', () => {
    const seen: string[] = [];
    const options = { env: {}, cwd: '/work', home: '/home/u' };
    const etc = findDefaultInventory({ ...options, exists: (path) => (seen.push(path), path.startsWith('/etc/')) });
    assert.equal(etc, '/etc/stapctl/inventory.yaml');
    assert.deepEqual(seen, ['/work/inventory.yaml', '/home/u/.config/stapctl/inventory.yaml', '/etc/stapctl/inventory.yaml']);
    assert.equal(findDefaultInventory({ ...options, exists: () => false }), undefined);
  });
});
