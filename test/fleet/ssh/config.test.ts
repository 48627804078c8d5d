import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StapctlError } from '../../../src/errors.js';
import { expandTilde, parseProxyJump, readConfigFile, resolveSshConfig, SshConfigFiles } from '../../../src/fleet/ssh/config.js';

const home = mkdtempSync(join(tmpdir(), 'stapctl-sshcfg-'));
const sshDir = join(home, '.ssh');
mkdirSync(sshDir);
after(() => rmSync(home, { recursive: true, force: true }));

let counter = 0;
function configFile(text: string): string {
  const file = join(sshDir, `config-${++counter}`);
  writeFileSync(file, text);
  return file;
}

function resolve(host: string, text: string, overrides?: { hostName?: string; user?: string; port?: number }) {
  return resolveSshConfig(host, { files: [configFile(text)], home, localUser: 'me', ...(overrides && { overrides }) });
}

function rejection(fn: () => unknown): StapctlError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof StapctlError, String(error));
    return error;
  }
  assert.fail('expected an error');
}

describe('resolveSshConfig', () => {
  test('the first value obtained wins and IdentityFile accumulates', () => {
    const config = resolve(
      'build1',
      ['Host build*', '  HostName 10.0.0.1', '  User ci', '  IdentityFile ~/.ssh/build', 'Host *', '  User nobody', '  Port 2222', '  IdentityFile ~/.ssh/all'].join('\n'),
    );
    assert.equal(config.hostName, '10.0.0.1');
    assert.equal(config.user, 'ci');
    assert.equal(config.port, 2222);
    assert.deepEqual(config.identityFiles, [join(home, '.ssh/build'), join(home, '.ssh/all')]);
    assert.equal(config.identitiesOnly, false);
  });

  test('a host no section matches keeps its own name and no user or port', () => {
    const config = resolve('other', 'Host build*\n  HostName 10.0.0.1\n');
    assert.deepEqual(config, { hostName: 'other', identityFiles: [], identitiesOnly: false, warnings: [] });
  });

  test('negated Host patterns exclude a host', () => {
    const config = resolve('build3', 'Host build* !build3\n  User ci\n');
    assert.equal(config.user, undefined);
  });

  test('keywords are case-insensitive and accept = separators', () => {
    const config = resolve('h', 'HOST=h\n  hostname=h.lab\n  IDENTITIESONLY yes\n');
    assert.equal(config.hostName, 'h.lab');
    assert.equal(config.identitiesOnly, true);
  });

  test('IdentityFile tokens expand to host, port, remote user, local user and home', () => {
    const config = resolve('alias', 'Host alias\n  HostName real.lab\n  User ci\n  Port 2200\n  IdentityFile %d/keys/%r@%h:%p-%n-%u%%\n');
    assert.deepEqual(config.identityFiles, [join(home, 'keys/ci@real.lab:2200-alias-me%')]);
  });

  test('inventory overrides beat the config and feed the tokens', () => {
    const config = resolve('h', 'Host h\n  User ci\n  Port 2200\n  IdentityFile ~/%r-%p\n', { user: 'admin', port: 22 });
    assert.equal(config.user, 'admin');
    assert.equal(config.port, 22);
    assert.deepEqual(config.identityFiles, [join(home, 'admin-22')]);
  });

  test('an unknown token is an error naming the file and line', () => {
    const error = rejection(() => resolve('h', '\nIdentityFile ~/%Q\n'));
    assert.equal(error.code, 'SSH_CONFIG_INVALID');
    assert.equal(error.line, 2);
    assert.match(error.located, /config-\d+:2: unknown token %Q/);
  });

  test('ProxyJump, UserKnownHostsFile, StrictHostKeyChecking and HostKeyAlias are read', () => {
    const config = resolve(
      'h',
      'Host h\n  ProxyJump ops@bastion:2222\n  UserKnownHostsFile ~/.ssh/kh1 "/etc/kh 2"\n  StrictHostKeyChecking accept-new\n  HostKeyAlias h-alias\n',
    );
    assert.equal(config.proxyJump, 'ops@bastion:2222');
    assert.deepEqual(config.userKnownHostsFiles, [join(home, '.ssh/kh1'), '/etc/kh 2']);
    assert.equal(config.strictHostKeyChecking, 'accept-new');
    assert.equal(config.hostKeyAlias, 'h-alias');
  });

  test('StrictHostKeyChecking ask is strict and no is off', () => {
    assert.equal(resolve('h', 'StrictHostKeyChecking ask\n').strictHostKeyChecking, 'strict');
    assert.equal(resolve('h', 'StrictHostKeyChecking no\n').strictHostKeyChecking, 'off');
  });

  test('ProxyCommand keeps its quoting and gets %h %p %r %n and %% expanded', () => {
    const config = resolve('web', 'Host web\n  HostName 10.0.0.5\n  User ci\n  Port 2200\n  ProxyCommand sh -c "exec nc %h %p" # %r@%n 100%%\n');
    assert.equal(config.proxyCommand, 'sh -c "exec nc 10.0.0.5 2200" # ci@web 100%');
  });

  test('of ProxyJump and ProxyCommand the first one given wins, as in ssh', () => {
    const jumpFirst = resolve('h', 'ProxyJump bastion\nProxyCommand nc %h %p\n');
    assert.equal(jumpFirst.proxyJump, 'bastion');
    assert.equal(jumpFirst.proxyCommand, undefined);
    const commandFirst = resolve('h', 'ProxyCommand=nc %h %p\nProxyJump bastion\n');
    assert.equal(commandFirst.proxyCommand, 'nc h 22');
    assert.equal(commandFirst.proxyJump, undefined);
  });

  test('ProxyCommand none sets nothing, and an unknown token names the line', () => {
    assert.equal(resolve('h', 'ProxyCommand none\n').proxyCommand, undefined);
    const error = rejection(() => resolve('h', '\nProxyCommand nc %x\n'));
    assert.equal(error.code, 'SSH_CONFIG_INVALID');
    assert.equal(error.line, 2);
  });

  test('ConnectTimeout is in seconds and must be positive', () => {
    assert.equal(resolve('h', 'ConnectTimeout 4\n').connectTimeoutMs, 4000);
    assert.equal(rejection(() => resolve('h', 'ConnectTimeout soon\n')).code, 'SSH_CONFIG_INVALID');
  });

  test('ProxyJump none and IdentityFile none set nothing', () => {
    const config = resolve('h', 'ProxyJump none\nIdentityFile none\n');
    assert.equal(config.proxyJump, undefined);
    assert.deepEqual(config.identityFiles, []);
  });

  test('Match host, user and all apply; Match exec is never run and is reported', () => {
    const config = resolve(
      'h',
      ['Match exec "touch /tmp/never"', '  Port 1', 'Match host h user ci', '  HostName matched', 'Match all', '  User ci'].join('\n'),
      { user: 'ci' },
    );
    assert.equal(config.port, undefined);
    assert.equal(config.hostName, 'matched');
    assert.equal(config.warnings.length, 1);
    assert.match(config.warnings[0] ?? '', /:1: Match exec is not evaluated/);
  });

  test('a bad Port names the file and line', () => {
    const error = rejection(() => resolve('h', 'Host h\n  Port 22a\n'));
    assert.equal(error.code, 'SSH_CONFIG_INVALID');
    assert.equal(error.line, 2);
    assert.match(error.message, /22a/);
  });

  test('a line the tokenizer rejects names the file and line', () => {
    const error = rejection(() => resolve('h', 'Host h\n  HostName "unterminated\n'));
    assert.equal(error.code, 'SSH_CONFIG_INVALID');
    assert.equal(error.line, 2);
  });

  test('Include follows relative globs in sorted order, inside the including section only', () => {
    mkdirSync(join(sshDir, 'conf.d'), { recursive: true });
    writeFileSync(join(sshDir, 'conf.d', 'b.conf'), 'User from-b\nPort 2202\n');
    writeFileSync(join(sshDir, 'conf.d', 'a.conf'), 'User from-a\n');
    writeFileSync(join(sshDir, 'conf.d', 'z.conf'), 'Host other\n  IdentityFile ~/other\n');
    const config = resolveSshConfig('h', {
      files: [join(sshDir, 'config-inc')],
      home,
      localUser: 'me',
      overrides: {},
    }, new SshConfigFiles((file) => (file === join(sshDir, 'config-inc') ? 'Host nomatch\n  Include conf.d/b.conf\nHost h\n  Include conf.d/*.conf\n  HostName after-include\n' : readConfigFile(file))));
    assert.equal(config.user, 'from-a');
    assert.equal(config.port, 2202);
    assert.deepEqual(config.identityFiles, []);
    assert.equal(config.hostName, 'after-include');
  });

  test('an Include loop stops at the depth limit with the file and line', () => {
    const loop = join(sshDir, 'loop');
    writeFileSync(loop, '# loops\nInclude loop\n');
    const error = rejection(() => resolveSshConfig('h', { files: [loop], home, localUser: 'me' }));
    assert.equal(error.code, 'SSH_CONFIG_INVALID');
    assert.equal(error.file, loop);
    assert.equal(error.line, 2);
  });

  test('a missing config file is an empty config', () => {
    const config = resolveSshConfig('h', { files: [join(home, 'none')], home, localUser: 'me' });
    assert.equal(config.hostName, 'h');
  });

  test('resolves hostname, user, port and identity files as ssh -G does', () => {
    const file = configFile(
      ['Host web*', '  HostName %h.lab', '  User deploy', 'Host web2', '  Port 2200', '  IdentityFile ~/.ssh/web2', 'Host *', '  IdentityFile ~/.ssh/id_all'].join('\n'),
    );
    const fromSsh = execFileSync('ssh', ['-G', '-F', file, 'web2'], { encoding: 'utf8', env: { ...process.env, HOME: home } })
      .split('\n')
      .map((line) => line.split(' '));
    const value = (key: string) => fromSsh.filter(([name]) => name === key).map((parts) => parts.slice(1).join(' '));
    const ours = resolveSshConfig('web2', { files: [file], home, localUser: 'me' });
    assert.equal(ours.user, value('user')[0]);
    assert.equal(String(ours.port), value('port')[0]);
    assert.deepEqual(ours.identityFiles, value('identityfile').map((path) => path.replace(/^~/, home)));
    assert.equal(ours.hostName, value('hostname')[0]);
  });
});

describe('parseProxyJump', () => {
  test('reads user, host and port of each hop in order', () => {
    assert.deepEqual(parseProxyJump('ops@bastion:2222,inner,[::1]:22'), [
      { user: 'ops', host: 'bastion', port: 2222 },
      { host: 'inner' },
      { host: '::1', port: 22 },
    ]);
  });

  test('a malformed hop is an error', () => {
    assert.throws(() => parseProxyJump('a@b@c'), (error: unknown) => error instanceof StapctlError && error.code === 'SSH_CONFIG_INVALID');
  });

  test('a hop whose port is out of range is an error that names the hop', () => {
    for (const value of ['jump:0', 'jump:65536', 'ops@jump:99999']) {
      assert.throws(
        () => parseProxyJump(value),
        (error: unknown) => error instanceof StapctlError && error.code === 'SSH_CONFIG_INVALID' && error.message.includes(`"${value}"`),
      );
    }
  });
});

describe('expandTilde', () => {
  test('expands ~ and ~/ to the home directory and leaves every other path alone', () => {
    assert.deepEqual(
      ['~', '~/.ssh/id_ed25519', '~ops/key', '/etc/~/x', 'key~'].map((path) => expandTilde(path, '/home/me')),
      ['/home/me', '/home/me/.ssh/id_ed25519', '~ops/key', '/etc/~/x', 'key~'],
    );
  });
});
