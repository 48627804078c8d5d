import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostRoute } from '../../../src/fleet/ssh/host-route.js';
import { checkArgs, commandArgs, masterArgs, masterPid, NO_MASTER_MARKER } from '../../../src/fleet/ssh/openssh-args.js';
import { failure } from '../../support/expect.js';

const run = { ssh: '/usr/bin/ssh', configFile: '/run/user/0/stapctl-mux-x/config' };
const route: HostRoute = {
  host: 'build1',
  address: '10.0.0.5',
  port: 2222,
  user: 'deploy',
  identities: [
    { file: '/inv/key', origin: 'inventory' },
    { file: '/opt/50%/key', origin: 'option' },
    { file: '/home/u/.ssh/id_cfg', origin: 'ssh-config' },
  ],
  identitiesOnly: true,
  hostKeyPolicy: 'strict',
  knownHostsFiles: ['/home/u/.ssh/known_hosts', '/etc/ssh/ssh_known_hosts'],
  connectTimeoutMs: 2500,
};

/** The value of each `-o Name=value`, by name. */
function options(args: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  args.forEach((arg, index) => {
    if (arg !== '-o') return;
    const [name, ...value] = (args[index + 1] ?? '').split('=');
    found.set(name ?? '', value.join('='));
  });
  return found;
}

describe('the ssh command lines of --transport openssh', () => {
  test('a master gets the resolved endpoint, the named identities and the known_hosts files explicitly', () => {
    const args = masterArgs(run, route, '/run/user/0/stapctl-mux-x/m1');
    assert.deepEqual(args.slice(0, 4), ['-F', run.configFile, '-M', '-N']);
    assert.deepEqual(args.slice(-2), ['--', 'build1']);
    const given = options(args);
    assert.equal(given.get('HostName'), '10.0.0.5');
    assert.equal(given.get('ConnectTimeout'), '3');
    assert.equal(given.get('BatchMode'), 'yes');
    assert.equal(given.get('StrictHostKeyChecking'), 'yes');
    assert.equal(given.get('UserKnownHostsFile'), '"/home/u/.ssh/known_hosts"');
    assert.equal(given.get('GlobalKnownHostsFile'), '"/etc/ssh/ssh_known_hosts"');
    assert.equal(given.get('IdentitiesOnly'), 'yes');
    assert.ok(args.join(' ').includes('-l deploy -p 2222'));
    // ssh reads its config's IdentityFile itself; a % in a path is escaped from its token expansion.
    assert.deepEqual(args.filter((_, index) => args[index - 1] === '-i'), ['/inv/key', '/opt/50%%/key']);
  });

  test('host-key policies map onto StrictHostKeyChecking, and off records into /dev/null', () => {
    assert.equal(options(masterArgs(run, { ...route, hostKeyPolicy: 'accept-new' }, '/s')).get('StrictHostKeyChecking'), 'accept-new');
    const off = options(masterArgs(run, { ...route, hostKeyPolicy: 'off' }, '/s'));
    assert.equal(off.get('StrictHostKeyChecking'), 'no');
    assert.equal(off.get('UserKnownHostsFile'), '"/dev/null" "/home/u/.ssh/known_hosts"');
    assert.equal(options(masterArgs(run, { ...route, knownHostsFiles: ['/k'] }, '/s')).get('GlobalKnownHostsFile'), 'none');
  });

  test('a command goes through the master only: without one, ssh runs the no-master ProxyCommand instead of connecting', () => {
    const args = commandArgs(run, route, '/s/m1', 'echo hi');
    assert.deepEqual(args.slice(-3), ['--', 'build1', 'echo hi']);
    assert.ok(args.includes('-T') && args.includes('-S'));
    assert.deepEqual(args.slice(args.indexOf('-e'), args.indexOf('-e') + 2), ['-e', 'none']);
    assert.equal(options(args).get('ControlMaster'), 'no');
    assert.match(options(args).get('ProxyCommand') ?? '', new RegExp(NO_MASTER_MARKER));
    assert.ok(!args.includes('-t'));
  });

  test("a host behind a jump host connects with stdio forwarding through the jump's master", () => {
    const jump: HostRoute = { ...route, host: 'bastion', address: '10.0.0.1', port: 22, identities: [] };
    const proxy = options(masterArgs(run, { ...route, proxyJump: jump }, '/s/m2', '/s/m1')).get('ProxyCommand') ?? '';
    assert.match(proxy, /^\/usr\/bin\/ssh -F \/run\/user\/0\/stapctl-mux-x\/config -S \/s\/m1 .* -W \[%h\]:%p -- bastion 2>>\/s\/m2\.jump-stderr$/);
  });

  test("the master's PID is read from ssh -O check", () => {
    assert.equal(masterPid('Master running (pid=4242)\r\n'), 4242);
    assert.equal(masterPid('Control socket connect(/s): No such file or directory\r\n'), undefined);
    assert.deepEqual(checkArgs(run, route, '/s/m1').slice(-4), ['-O', 'check', '--', 'build1']);
  });

  test('a path ssh cannot be given and a host name that would read as an option are refused', () => {
    failure(() => masterArgs(run, { ...route, knownHostsFiles: ['/a"b'] }, '/s'), 'SSH_CONFIG_INVALID');
    failure(() => masterArgs(run, { ...route, host: '-oProxyCommand=x' }, '/s'), 'SSH_CONFIG_INVALID');
  });
});
