/** `stapctl -H SPEC hosts` as a user runs it: where each host comes from, and the warnings of its inventory. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'stapctl-targets-hosts-'));
after(() => rmSync(home, { recursive: true, force: true }));
mkdirSync(join(home, '.ssh'));
writeFileSync(join(home, '.ssh', 'config'), 'Host *\n  User nobody-default\n\nHost jump1\n  HostName 127.13.0.1\n');
const inventory = join(home, 'hosts');
writeFileSync(inventory, '[web]\nw1 ansible_ssh_common_args="-o ProxyCommand=nc"\nw2\n\n[db]\ndbserver[1:3]\n\n[db:vars]\nansible_ssh_common_args=-o ForwardAgent=no\n');

function stapctl(...args: string[]) {
  return spawnSync(process.execPath, [CLI, '--inventory', inventory, ...args], { encoding: 'utf8', env: { ...process.env, HOME: home, STAPCTL_INVENTORY: '' } });
}

describe('stapctl -H SPEC hosts', () => {
  test('each host is marked with its inventory place, its ssh config line, or ad hoc', () => {
    const result = stapctl('-H', 'w2,jump1,root@elsewhere', 'hosts');
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0] ?? '', /^w2 .*\[.*hosts:3:1\]$/);
    assert.match(lines[1] ?? '', new RegExp(`^jump1 .*\\[ssh config ${join(home, '.ssh', 'config')}:4\\]$`));
    assert.match(lines[2] ?? '', /^elsewhere {2}root@elsewhere:22 {2}\[ad hoc\]$/);
  });

  test('an IPv6 host is shown with its address in brackets before the port', () => {
    const result = stapctl('-H', '[::1]:23,', 'hosts');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^::1 {2}nobody-default@\[::1\]:23 {2}\[/m);
  });

  test('an unhonoured ansible_* variable of a selected host is a warning on stderr', () => {
    const result = stapctl('-H', 'web', 'hosts');
    assert.equal(result.status, 0);
    assert.match(result.stderr, /^stapctl: warning: w1: ansible_ssh_common_args="-o ProxyCommand=nc" is not honoured by stapctl \(.*hosts:2:1\)$/m);
  });

  test('one warning that several hosts share is printed once, for the folded set of them', () => {
    const result = stapctl('-H', 'db', 'hosts');
    assert.equal(result.status, 0);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('stapctl: warning:'));
    assert.equal(warnings.length, 1, result.stderr);
    assert.match(warnings[0] ?? '', /^stapctl: warning: dbserver\[1-3\] \(3\): ansible_ssh_common_args="-o ForwardAgent=no" is not honoured by stapctl \(.*hosts:9:1\)$/);
  });

  test('a mistyped name is exit 2 with the inventory\'s nearest names', () => {
    const result = stapctl('-H', 'w3', 'hosts');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /"w3" is not in the inventory nor in ~\/\.ssh\/config: did you mean "w1", "w2"/);
  });

  test('--adhoc makes a name outside the inventory a host', () => {
    const result = stapctl('-H', 'w3', '--adhoc', 'hosts');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^w3 {2}nobody-default@w3:22 {2}\[ad hoc\]$/m);
  });
});
