import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { homeOf, hostAddresses, inFarmNetwork, renderInventory, renderKnownHosts, type FarmHost } from './farm.js';

const sample: FarmHost[] = [
  { name: 'h1', address: '127.0.1.1', port: 22, pid: 100, dir: '/f/hosts/h1' },
  { name: 'h2', address: '127.0.1.2', port: 2222, pid: 101, dir: '/f/hosts/h2' },
];

describe('farm files', () => {
  test('host addresses count up from the first one, across octets', () => {
    assert.deepEqual(hostAddresses('127.0.1.254', 3), ['127.0.1.254', '127.0.1.255', '127.0.2.0']);
  });

  test('host addresses may not leave 127.0.0.0/8', () => {
    assert.throws(() => hostAddresses('127.255.255.255', 2), /127\.0\.0\.0\/8.*128\.0\.0\.0/);
  });

  test('STAPCTL_FARM_NET moves a farm to another 127.N network', () => {
    assert.equal(inFarmNetwork('127.0.9.1', { STAPCTL_FARM_NET: '7' }), '127.7.9.1');
    assert.equal(inFarmNetwork('127.0.9.1', {}), '127.0.9.1');
    assert.throws(() => inFarmNetwork('127.0.9.1', { STAPCTL_FARM_NET: '300' }), /STAPCTL_FARM_NET must be 0-255/);
  });

  test('a malformed first address is refused', () => {
    assert.throws(() => hostAddresses('127.0.1', 1), /not an IPv4 address: "127.0.1"/);
  });

  test('known_hosts lists each key under the address and the name, bracketed for other ports', () => {
    const text = renderKnownHosts(sample, ['ssh-ed25519 AAAA1 h1\n', 'ssh-ed25519 AAAA2 h2\n']);
    assert.equal(text, '127.0.1.1,h1 ssh-ed25519 AAAA1\n[127.0.1.2]:2222,[h2]:2222 ssh-ed25519 AAAA2\n');
  });

  test('the inventory has Ansible shape with the farm group, root logins and the client key', () => {
    const inventory = parse(renderInventory(sample, '/f/client_key'));
    assert.equal(inventory.all.vars.stapctl_server_user, 'stap-server');
    assert.deepEqual(inventory.all.children.farm.hosts.h2, {
      ansible_host: '127.0.1.2',
      ansible_port: 2222,
      ansible_user: 'root',
      ansible_ssh_private_key_file: '/f/client_key',
    });
    assert.deepEqual(Object.keys(inventory.all.children.farm.hosts), ['h1', 'h2']);
  });

  test('the inventory holds no Ansible-only setting, which stapctl would warn about on every run of the demo', () => {
    const inventory = parse(renderInventory(sample, '/f/client_key'));
    assert.deepEqual(inventory.all.vars, { stapctl_server_user: 'stap-server' });
  });

  test('the server user home is read from passwd text', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nstap-server:x:999:995::/var/lib/stap-server:/bin/bash\n';
    assert.equal(homeOf(passwd, 'stap-server'), '/var/lib/stap-server');
    assert.equal(homeOf(passwd, 'nobody'), undefined);
  });
});
