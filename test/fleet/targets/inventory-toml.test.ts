import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadInventories, type HostEntry, type Inventory } from '../../../src/fleet/targets/inventory.js';
import { TomlPlaces } from '../../../src/fleet/targets/toml-places.js';
import { failure } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-gaps-toml-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function toml(text: string, name = 'inventory.toml'): string {
  const directory = join(scratch, `t${counter++}`);
  mkdirSync(directory);
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

function host(inventory: Inventory, name: string): HostEntry {
  const entry = inventory.hosts.get(name);
  assert.ok(entry, `host ${name} is in the inventory`);
  return entry;
}

/** The first example of Ansible's toml inventory plugin documentation. */
const EXAMPLE_1 = `[all.vars]
has_java = false

[web]
children = [
    "apache",
    "nginx"
]
vars = { http_port = 8080, myvar = 23 }

[web.hosts]
host1 = {}
host2 = { ansible_port = 222 }

[apache.hosts]
tomcat1 = {}
tomcat2 = { myvar = 34 }
tomcat3 = { mysecret = "03#pa33w0rd" }

[nginx.hosts]
jenkins1 = {}

[nginx.vars]
has_java = true
`;

describe('TOML inventories', () => {
  test("the plugin documentation's first example gives the hosts and variables ansible-inventory lists", () => {
    const inventory = loadInventories([toml(EXAMPLE_1)]);
    assert.deepEqual([...inventory.hosts.keys()], ['host1', 'host2', 'tomcat1', 'tomcat2', 'tomcat3', 'jenkins1']);
    assert.deepEqual(host(inventory, 'host2').vars, { has_java: false, http_port: 8080, myvar: 23, ansible_port: 222 });
    assert.equal(host(inventory, 'host2').port, 222);
    assert.deepEqual(host(inventory, 'tomcat2').vars, { has_java: false, http_port: 8080, myvar: 34 });
    assert.deepEqual(host(inventory, 'jenkins1').vars, { has_java: true, http_port: 8080, myvar: 23 });
    assert.deepEqual(inventory.groups.get('web')?.hosts, ['host1', 'host2', 'tomcat1', 'tomcat2', 'tomcat3', 'jenkins1']);
  });

  test('hosts as sub-tables ([g.hosts.h]) read as inline tables do', () => {
    const inventory = loadInventories([toml('[web.hosts.host1]\n[web.hosts.host2]\nansible_port = 222\nansible_user = "deploy"\n')]);
    assert.equal(host(inventory, 'host2').port, 222);
    assert.equal(host(inventory, 'host2').user, 'deploy');
    assert.deepEqual(host(inventory, 'host1').groups, ['web']);
  });

  test('a host key with a port and a range expands as in the other formats', () => {
    const inventory = loadInventories([toml('[web.hosts]\n"www[01:02]:2222" = {}\n')]);
    assert.deepEqual([...inventory.hosts.keys()], ['www01', 'www02']);
    assert.equal(host(inventory, 'www02').port, 2222);
  });

  test('each variable names the line and column of its value', () => {
    const path = toml('[web.hosts]\nh1 = { ansible_user = "a", other = 1 }\n\n[web.vars]\nntp = "x"\n');
    const entry = host(loadInventories([path]), 'h1');
    assert.deepEqual(entry.varSources.other, { file: path, line: 2, column: 36 });
    assert.deepEqual(entry.varSources.ntp, { file: path, line: 5, column: 7 });
    assert.deepEqual(entry.origin, { file: path, line: 2, column: 1 });
  });

  test('a bad connection variable is an error at its value', () => {
    const path = toml('[web.hosts]\nh1 = { ansible_port = "22a" }\n');
    const error = failure(() => loadInventories([path]), 'INVENTORY_INVALID');
    assert.deepEqual([error.file, error.line, error.column], [path, 2, 23]);
  });

  test('a TOML syntax error names its line and column', () => {
    const path = toml('[web.hosts]\nh1 = { ansible_port = }\n');
    const error = failure(() => loadInventories([path]), 'INVENTORY_INVALID');
    assert.deepEqual([error.file, error.line], [path, 2]);
    assert.match(error.message, /^TOML syntax/);
  });

  test('an unknown key in a group is refused at that key', () => {
    const path = toml('[web]\nhost = ["h1"]\n');
    const error = failure(() => loadInventories([path]), 'INVENTORY_INVALID');
    assert.deepEqual([error.line, error.column], [2, 1]);
    assert.match(error.message, /unknown key "host"/);
  });

  test('children must be a list of group names', () => {
    const error = failure(() => loadInventories([toml('[web]\nchildren = "apache"\n')]), 'INVENTORY_INVALID');
    assert.match(error.message, /must be a list of group names/);
  });

  test('a host whose value is not a table is refused', () => {
    const error = failure(() => loadInventories([toml('[web.hosts]\nh1 = 1\n')]), 'INVENTORY_INVALID');
    assert.deepEqual([error.line, error.column], [2, 6]);
  });

  test('an empty file is an error, as in Ansible', () => {
    failure(() => loadInventories([toml('# nothing\n')]), 'INVENTORY_INVALID');
  });

  test('a __proto__ key is refused rather than merged into plain objects', () => {
    failure(() => loadInventories([toml('[web.hosts]\nh1 = { __proto__ = { polluted = 1 } }\n')]), 'INVENTORY_INVALID');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('stap_servers written as an array of tables keeps the place of each part', () => {
    const path = toml('[build.hosts]\nb1 = {}\n\n[[build.vars.stap_servers]]\nnickname = "native"\nreleases = ["6.1"]\n');
    const located = host(loadInventories([path]), 'b1').located?.stap_servers?.[0];
    assert.deepEqual(located?.value, [{ nickname: 'native', releases: ['6.1'] }]);
    assert.deepEqual(located?.positions['0.releases.0'], { line: 6, column: 13 });
    assert.deepEqual(located?.positions['0.nickname:key'], { line: 5, column: 1 });
  });

  test('dotted keys nested thousands of levels deep are an inventory error, not a crash', () => {
    const error = failure(() => loadInventories([toml(`[web.hosts]\nh1 = { ${'a.'.repeat(20_000)}a = 1 }\n`)]), 'INVENTORY_INVALID');
    assert.match(error.message, /nested more than 64 levels/);
  });

  test('a .toml file in an inventory directory is read as TOML', () => {
    const path = toml('[web.hosts]\nh1 = {}\n', 'farm.toml');
    assert.deepEqual([...loadInventories([join(path, '..')]).hosts.keys()], ['h1']);
  });
});

describe('TomlPlaces', () => {
  test('keys in headers, dotted keys and quoted keys are found where they are written', () => {
    const places = new TomlPlaces('[a."b.c"]\nx.y = """\nmulti ] } "" \n"""\n\'q\' = [1, { k = 2 }]\n');
    assert.deepEqual(places.key(['a', 'b.c']), { line: 1, column: 4 });
    assert.deepEqual(places.key(['a', 'b.c', 'x', 'y']), { line: 2, column: 3 });
    assert.deepEqual(places.value(['a', 'b.c', 'q', 1, 'k']), { line: 5, column: 17 });
  });
});
