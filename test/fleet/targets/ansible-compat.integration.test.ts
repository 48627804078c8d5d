/**
 * Issue 8's done-when: an Ansible inventory tree from the Ansible docs' examples (INI, group_vars/all.yml,
 * host_vars/) gives `stapctl -H all hosts` the same hosts, addresses, users and ports as
 * `ansible-inventory --list` reports. Skipped where Ansible is not installed (setup-machine.sh installs it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseHostList } from '../../../src/fleet/targets/inventory-host-list.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const ANSIBLE_INVENTORY = spawnSync('ansible-inventory', ['--version'], { encoding: 'utf8' }).status === 0;

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-targets-ansible-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** From "How to build your inventory" (docs.ansible.com), with the variables a fleet of build hosts would set. */
const TREE: Record<string, string> = {
  'inventory/hosts': [
    'mail.example.com',
    'jumper ansible_port=5555 ansible_host=192.0.2.50',
    '',
    '[webservers]',
    'foo.example.com',
    'bar.example.com:2222',
    'www[01:03].example.com',
    '',
    '[dbservers]',
    'one.example.com',
    'two.example.com ansible_user=postgres',
    'three.example.com ansible_ssh_user=legacy ansible_ssh_port=2299 ansible_ssh_host=192.0.2.3',
    '',
    '[atlanta]',
    'host1 http_port=80 maxRequestsPerChild=808',
    'host2 http_port=303 maxRequestsPerChild=909',
    '',
    '[raleigh]',
    'host3',
    '',
    '[southeast:children]',
    'atlanta',
    'raleigh',
    '',
    '[southeast:vars]',
    'ansible_port=2200',
    'escape_pods=2',
    '',
    '[usa:children]',
    'southeast',
    '',
  ].join('\n'),
  'inventory/group_vars/all.yml': 'ansible_user: deploy\nntp_server: ntp.example.com\n',
  'inventory/group_vars/dbservers.yml': 'ansible_port: 2202\n',
  'inventory/group_vars/atlanta/ports.yml': 'ansible_port: 2201\n',
  'inventory/host_vars/one.example.com.yml': 'ansible_user: dba\n',
  'inventory/host_vars/host3': 'ansible_host: 192.0.2.33\n',
};

interface Connection {
  name: string;
  address: string;
  user: string;
  port: number;
}

interface AnsibleList {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  ungrouped?: { hosts?: string[] };
}

function ansibleList(inventory: string): AnsibleList {
  const result = spawnSync('ansible-inventory', ['-i', inventory, '--list'], {
    encoding: 'utf8',
    env: { ...process.env, HOME: scratch, ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-tmp') },
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as AnsibleList;
}

function ansibleView(inventory: string): Connection[] {
  const list = ansibleList(inventory);
  const names = new Set([...Object.keys(list._meta.hostvars), ...(list.ungrouped?.hosts ?? [])]);
  return [...names]
    .map((name) => [name, list._meta.hostvars[name] ?? {}] as const)
    .map(([name, vars]) => ({
      name,
      // Ansible connects with ansible_ssh_* over ansible_* wherever each is set (checked with ansible -vvv).
      address: String(vars.ansible_ssh_host ?? vars.ansible_host ?? name),
      user: String(vars.ansible_ssh_user ?? vars.ansible_user ?? userInfo().username),
      port: Number(vars.ansible_ssh_port ?? vars.ansible_port ?? 22),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function stapctlView(inventory: string): Connection[] {
  const result = spawnSync(process.execPath, [CLI, '--inventory', inventory, '-H', 'all', 'hosts', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, HOME: scratch, STAPCTL_INVENTORY: '' },
  });
  assert.equal(result.status, 0, result.stderr);
  const { hosts } = JSON.parse(result.stdout) as { hosts: Connection[] };
  return hosts.map(({ name, address, user, port }) => ({ name, address, user, port })).sort((a, b) => a.name.localeCompare(b.name));
}

describe('an Ansible inventory tree', { skip: !ANSIBLE_INVENTORY && 'ansible-inventory is not installed' }, () => {
  test('stapctl -H all reaches the hosts, addresses, users and ports ansible-inventory --list reports', () => {
    for (const [path, text] of Object.entries(TREE)) {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    }
    const inventory = join(scratch, 'inventory', 'hosts');
    const expected = ansibleView(inventory);
    assert.equal(expected.length, 13);
    assert.deepEqual(stapctlView(inventory), expected);
  });
});

describe('a host list', { skip: !ANSIBLE_INVENTORY && 'ansible-inventory is not installed' }, () => {
  test("stapctl --inventory 'a,b:2222,[::1]:23,' reaches the hosts and ports ansible-inventory -i reports", () => {
    const list = ' build01, build02:2222 ,[::1]:23,10.0.0.1:24,fe80::1,build01:9,';
    const expected = ansibleView(list);
    assert.equal(expected.length, 5);
    assert.deepEqual(stapctlView(list), expected);
  });

  test('random entries give the hosts and ports ansible-inventory gives them, in its order', () => {
    const pieces = fc.constantFrom('a', 'b', '7', '22', '.', ':', '::', '[', ']', '_', '-', ' ', 'f', '255', '1.2.3.4', '[::1]', 'web[1:2]');
    const entry = fc.array(pieces, { minLength: 1, maxLength: 6 }).map((words) => words.join(''));
    const entries = fc.sample(fc.array(entry, { minLength: 300, maxLength: 300 }), { numRuns: 1, seed: 8 })[0] ?? [];
    const text = `${entries.join(',')},`;
    const list = ansibleList(text);
    const ansible = (list.ungrouped?.hosts ?? []).map((name) => ({ name, port: list._meta.hostvars[name]?.ansible_port }));
    const ours = parseHostList(text).map(({ name, port }) => ({ name, port }));
    assert.ok(ansible.length > 100, `only ${ansible.length} hosts`);
    assert.deepEqual(ours, ansible);
  });
});

describe('a TOML inventory', { skip: !ANSIBLE_INVENTORY && 'ansible-inventory is not installed' }, () => {
  test("the toml plugin documentation's examples give the hosts, addresses, users and ports ansible-inventory --list reports", () => {
    const file = join(scratch, 'farm.toml');
    writeFileSync(
      file,
      [
        '[all.vars]',
        'ansible_user = "deploy"',
        '',
        '[web]',
        'children = ["apache", "nginx"]',
        'vars = { http_port = 8080, ansible_port = 2200 }',
        '',
        '[web.hosts]',
        'host1 = {}',
        'host2 = { ansible_port = 222 }',
        '"host5:2205" = {}',
        '',
        '[apache.hosts]',
        'tomcat1 = {}',
        'tomcat2 = { ansible_ssh_user = "tc", ansible_host = "127.0.0.9" }',
        '',
        '[nginx.hosts.jenkins1]',
        'ansible_ssh_port = 2299',
        '',
        '[nginx.vars]',
        'ansible_user = "www"',
        '',
        '[ungrouped.hosts]',
        'host3 = { ansible_host = "127.0.0.1", ansible_port = 44 }',
        '"www[01:02]" = {}',
        '',
      ].join('\n'),
    );
    const expected = ansibleView(file);
    assert.equal(expected.length, 9);
    assert.deepEqual(stapctlView(file), expected);
  });
});
