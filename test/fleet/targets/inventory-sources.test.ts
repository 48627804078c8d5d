import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadInventories, type HostEntry, type Inventory } from '../../../src/fleet/targets/inventory.js';
import { failure } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-targets-sources-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory holding FILES (path -> text); returns its path. */
function tree(files: Record<string, string>): string {
  const root = join(scratch, `t${counter++}`);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function host(inventory: Inventory, name: string): HostEntry {
  const entry = inventory.hosts.get(name);
  assert.ok(entry, `host ${name} is in the inventory`);
  return entry;
}

describe('INI inventories', () => {
  test('ungrouped hosts, groups, host variables and a port after the name are read as Ansible does', () => {
    const root = tree({
      hosts: 'mail.example.com\n\n[webservers]\nfoo.example.com ansible_user=deploy\nbar.example.com:2222\n',
    });
    const inventory = loadInventories([join(root, 'hosts')]);
    assert.deepEqual([...inventory.hosts.keys()], ['mail.example.com', 'foo.example.com', 'bar.example.com']);
    assert.deepEqual(host(inventory, 'mail.example.com').groups, ['ungrouped']);
    assert.equal(host(inventory, 'foo.example.com').user, 'deploy');
    assert.equal(host(inventory, 'bar.example.com').port, 2222);
  });

  test('[group:vars] and [group:children] set variables on the hosts of every child group', () => {
    const root = tree({
      'inventory.ini': '[atlanta]\nhost1\n[raleigh]\nhost2\n[southeast:children]\natlanta\nraleigh\n[southeast:vars]\nansible_port=2200\nansible_user = admin\n',
    });
    const inventory = loadInventories([join(root, 'inventory.ini')]);
    assert.deepEqual(inventory.groups.get('southeast')?.hosts, ['host1', 'host2']);
    assert.equal(host(inventory, 'host2').port, 2200);
    assert.equal(host(inventory, 'host2').user, 'admin');
  });

  test('ranges in INI host names expand to one host each', () => {
    const root = tree({ 'inventory.ini': '[web]\nwww[01:03].example.com\n' });
    assert.deepEqual([...loadInventories([join(root, 'inventory.ini')]).hosts.keys()], ['www01.example.com', 'www02.example.com', 'www03.example.com']);
  });

  test('values are Python literals where they parse as one, as ast.literal_eval decides', () => {
    const root = tree({ 'inventory.ini': "[g]\nh1 a=22 b='22' c=True d=yes e=[1,2] f=\"x y\" # a comment\n[g:vars]\nq='quoted'\n" });
    const entry = host(loadInventories([join(root, 'inventory.ini')]), 'h1');
    assert.deepEqual(
      { a: entry.vars.a, b: entry.vars.b, c: entry.vars.c, d: entry.vars.d, e: entry.vars.e, f: entry.vars.f, q: entry.vars.q },
      { a: 22, b: 22, c: true, d: 'yes', e: [1, 2], f: 'x y', q: 'quoted' },
    );
  });

  test('a host variable without "=" is an error at its line', () => {
    const root = tree({ 'inventory.ini': '[g]\nh1\nh2 oops\n' });
    const error = failure(() => loadInventories([join(root, 'inventory.ini')]), 'INVENTORY_INVALID');
    assert.equal(error.line, 3);
    assert.match(error.message, /expected key=value/);
  });

  test('a child group that no section declares is an error at its line, as in Ansible', () => {
    const root = tree({ 'inventory.ini': '[web]\nw1\n[farm:children]\nweb\nwbe\n' });
    const error = failure(() => loadInventories([join(root, 'inventory.ini')]), 'INVENTORY_INVALID');
    assert.equal(error.line, 5);
    assert.match(error.message, /"wbe", which no section declares/);
  });

  test('a child group declared by a later section is accepted', () => {
    const root = tree({ 'inventory.ini': '[farm:children]\nweb\n[web]\nw1\n[farm:vars]\nansible_user=f\n' });
    assert.equal(host(loadInventories([join(root, 'inventory.ini')]), 'w1').user, 'f');
  });

  test('a section of an unknown type is an error', () => {
    const root = tree({ 'inventory.ini': '[g:bogus]\nh1\n' });
    failure(() => loadInventories([join(root, 'inventory.ini')]), 'INVENTORY_INVALID');
  });
});

describe('group_vars and host_vars', () => {
  test('host_vars beat the inventory\'s host variables, which beat group_vars, which beat the inventory\'s group variables', () => {
    const root = tree({
      hosts: '[web]\nw1 ansible_port=2201\nw2\n[web:vars]\nansible_user=inventory-group\nansible_port=2000\n',
      'group_vars/all.yml': 'ansible_user: all-file\nansible_port: 2100\n',
      'group_vars/web.yml': 'ansible_user: web-file\n',
      'host_vars/w1.yml': 'ansible_user: host-file\n',
    });
    const inventory = loadInventories([join(root, 'hosts')]);
    assert.deepEqual([host(inventory, 'w1').user, host(inventory, 'w1').port], ['host-file', 2201]);
    assert.deepEqual([host(inventory, 'w2').user, host(inventory, 'w2').port], ['web-file', 2100]);
  });

  test('group_vars/ungrouped.yml applies to the hosts in no group', () => {
    const root = tree({ 'hosts.ini': 'loner\n[web]\nw1\n', 'group_vars/ungrouped.yml': 'ansible_user: alone\n' });
    const inventory = loadInventories([join(root, 'hosts.ini')]);
    assert.deepEqual([host(inventory, 'loner').user, host(inventory, 'w1').user], ['alone', undefined]);
  });

  test('a group_vars directory gives all its files, sorted', () => {
    const root = tree({
      'hosts.yaml': 'web:\n  hosts:\n    w1:\n',
      'group_vars/web/10-user.yml': 'ansible_user: first\n',
      'group_vars/web/20-user.yaml': 'ansible_user: second\n',
    });
    assert.equal(host(loadInventories([join(root, 'hosts.yaml')]), 'w1').user, 'second');
  });

  test('a variable from a host_vars file carries its file, line and column', () => {
    const root = tree({ 'hosts.yaml': 'all:\n  hosts:\n    h1:\n', 'host_vars/h1': 'rack: 7\nstap_servers:\n  - nickname: a\n' });
    const entry = host(loadInventories([join(root, 'hosts.yaml')]), 'h1');
    assert.deepEqual(entry.varSources.rack, { file: join(root, 'host_vars/h1'), line: 1, column: 7 });
    assert.equal(entry.located?.stap_servers?.[0]?.file, join(root, 'host_vars/h1'));
  });

  test('a broken group_vars file is an inventory error naming it', () => {
    const root = tree({ 'hosts.yaml': 'all:\n  hosts:\n    h1:\n', 'group_vars/all.yml': 'ansible_port: 99999\n' });
    const error = failure(() => loadInventories([join(root, 'hosts.yaml')]), 'INVENTORY_INVALID');
    assert.equal(error.file, join(root, 'group_vars/all.yml'));
  });
});

describe('several sources', () => {
  test('an inventory directory merges its files in name order and skips .ini, hidden files and vars directories', () => {
    const root = tree({
      'inv/01-web': '[web]\nw1\n',
      'inv/02-db.yml': 'db:\n  hosts:\n    d1:\n  children:\n    web:\n',
      'inv/skipped.ini': '[x]\nnot-read\n',
      'inv/.hidden': '[x]\nnot-read-either\n',
      'inv/group_vars/db.yml': 'ansible_user: dba\n',
    });
    const inventory = loadInventories([join(root, 'inv')]);
    assert.deepEqual([...inventory.hosts.keys()], ['w1', 'd1']);
    assert.deepEqual(inventory.groups.get('db')?.hosts, ['w1', 'd1']);
    assert.equal(host(inventory, 'w1').user, 'dba');
  });

  test('several --inventory sources merge, the later one winning for the same host', () => {
    const root = tree({ 'a.ini': '[g]\nh1 ansible_user=a\n', 'b.yaml': 'g:\n  hosts:\n    h1:\n      ansible_user: b\n    h2:\n' });
    const inventory = loadInventories([join(root, 'a.ini'), join(root, 'b.yaml')]);
    assert.deepEqual([...inventory.hosts.keys()], ['h1', 'h2']);
    assert.equal(host(inventory, 'h1').user, 'b');
  });

  test('a source that does not exist is INVENTORY_NOT_FOUND', () => {
    failure(() => loadInventories([join(scratch, 'missing')]), 'INVENTORY_NOT_FOUND');
  });
});

describe('dynamic inventories', () => {
  const LIST = JSON.stringify({
    web: { hosts: ['w1', 'w2'], vars: { ansible_user: 'deploy' }, children: ['edge'] },
    edge: ['e1'],
    _meta: { hostvars: { w1: { ansible_port: 2222 } } },
  });

  test('an executable is run with --list and its JSON read as Ansible reads a dynamic inventory', () => {
    const root = tree({ 'inventory.sh': `#!/bin/sh\n[ "$1" = --list ] && cat <<'EOF'\n${LIST}\nEOF\n` });
    chmodSync(join(root, 'inventory.sh'), 0o755);
    const inventory = loadInventories([join(root, 'inventory.sh')]);
    assert.deepEqual([...inventory.hosts.keys()], ['w1', 'w2', 'e1']);
    assert.deepEqual([host(inventory, 'w1').user, host(inventory, 'w1').port], ['deploy', 2222]);
    assert.equal(host(inventory, 'e1').user, 'deploy');
  });

  test('without _meta the script is asked for each host with --host', () => {
    const root = tree({
      'inventory.sh': '#!/bin/sh\ncase "$1" in --list) echo \'{"g": ["h1"]}\';; --host) echo "{\\"ansible_user\\": \\"for-$2\\"}";; esac\n',
    });
    chmodSync(join(root, 'inventory.sh'), 0o755);
    assert.equal(host(loadInventories([join(root, 'inventory.sh')]), 'h1').user, 'for-h1');
  });

  test('a script that fails is an inventory error naming it', () => {
    const root = tree({ 'inventory.sh': '#!/bin/sh\necho broken >&2\nexit 3\n' });
    chmodSync(join(root, 'inventory.sh'), 0o755);
    const error = failure(() => loadInventories([join(root, 'inventory.sh')]), 'INVENTORY_INVALID');
    assert.match(error.message, /exited with 3/);
  });

  test('the saved JSON of ansible-inventory --list is an inventory', () => {
    const root = tree({
      'list.json': JSON.stringify({
        _meta: { hostvars: { h1: { ansible_user: 'u1', ansible_port: 2201 } } },
        all: { children: ['ungrouped', 'web'] },
        web: { hosts: ['h1'] },
      }),
    });
    const entry = host(loadInventories([join(root, 'list.json')]), 'h1');
    assert.deepEqual([entry.user, entry.port, entry.groups], ['u1', 2201, ['web']]);
  });
});

describe('Ansible connection variables', () => {
  test('ansible_ssh_host, ansible_ssh_user and ansible_ssh_port are read as ansible_host, ansible_user and ansible_port', () => {
    const root = tree({ hosts: '[g]\nw1 ansible_ssh_host=192.0.2.1 ansible_ssh_user=old ansible_ssh_port=2022\n' });
    const entry = host(loadInventories([join(root, 'hosts')]), 'w1');
    assert.deepEqual([entry.address, entry.user, entry.port], ['192.0.2.1', 'old', 2022]);
  });

  test('ansible_ssh_user set for a group beats ansible_user set on the host, as Ansible connects', () => {
    const root = tree({ hosts: '[g]\nw1 ansible_user=host-level ansible_port=2301\n[g:vars]\nansible_ssh_user=group-level\nansible_ssh_port=2302\n' });
    const entry = host(loadInventories([join(root, 'hosts')]), 'w1');
    assert.deepEqual([entry.user, entry.port], ['group-level', 2302]);
  });

  test('each connection variable stapctl does not honour is a warning naming it and the host', () => {
    const root = tree({
      hosts: '[g]\nw1 ansible_ssh_common_args="-o ProxyCommand=x" ansible_connection=local ansible_become_user=postgres ansible_python_interpreter=/usr/bin/python3\nw2 ansible_connection=ssh ansible_become_user=root\n',
    });
    const inventory = loadInventories([join(root, 'hosts')]);
    const warnings = host(inventory, 'w1').warnings;
    assert.equal(warnings.length, 3);
    assert.match(warnings[0] ?? '', /^w1: ansible_ssh_common_args="-o ProxyCommand=x" is not honoured by stapctl \(.*hosts:2:1\)$/);
    assert.match(warnings.join('\n'), /ansible_connection="local"/);
    assert.match(warnings.join('\n'), /ansible_become_user="postgres"/);
    assert.deepEqual(host(inventory, 'w2').warnings, []);
  });
});
