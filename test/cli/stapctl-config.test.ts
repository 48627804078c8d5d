import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configFromEnvironment, configFiles, loadStapctlConfig, parseConfigFile, withConfig } from '../../src/cli/stapctl-config.js';
import { failure } from '../support/expect.js';

const flags = { targets: 'web', inventories: [], adHoc: false, verbose: false, gather: false };

describe("stapctl's config file", () => {
  test('is read from /etc/stapctl, then the user config directory', () => {
    assert.deepEqual(configFiles({ HOME: '/home/u' }), ['/etc/stapctl/config.yaml', '/home/u/.config/stapctl/config.yaml']);
    assert.deepEqual(configFiles({ HOME: '/home/u', XDG_CONFIG_HOME: '/x' }), ['/etc/stapctl/config.yaml', '/x/stapctl/config.yaml']);
  });

  test('gives forks, timeouts, host-key policy, identity and inventory', () => {
    const config = parseConfigFile('forks: 64\ntimeout: 300\nconnect-timeout: 2.5\nhost-key-check: accept-new\nidentity: ~/.ssh/fleet\ninventory: /srv/hosts.yaml\n', 'c.yaml');
    assert.deepEqual(withConfig(flags, config), {
      ...flags,
      forks: 64,
      timeoutMs: 300_000,
      connectTimeoutMs: 2500,
      hostKeyCheck: 'accept-new',
      identity: '~/.ssh/fleet',
      inventories: ['/srv/hosts.yaml'],
      color: 'auto',
    });
  });

  test('gives the transport, from the file or STAPCTL_TRANSPORT, and the flag wins', () => {
    assert.equal(withConfig(flags, parseConfigFile('transport: openssh\n', 'c.yaml')).transport, 'openssh');
    assert.deepEqual(configFromEnvironment({ STAPCTL_TRANSPORT: 'openssh' }), { transport: 'openssh' });
    assert.equal(withConfig({ ...flags, transport: 'ssh2' }, { transport: 'openssh' }).transport, 'ssh2');
    failure(() => parseConfigFile('transport: telnet\n', 'c.yaml'), 'CONFIG_INVALID');
  });

  test('an empty file sets nothing and the defaults hold', () => {
    assert.deepEqual(withConfig(flags, parseConfigFile('# nothing yet\n', 'c.yaml')), { ...flags, forks: 32, timeoutMs: 120_000, color: 'auto' });
  });

  test('a bad value names the file, line and column of the value', () => {
    const error = failure(() => parseConfigFile('forks: 8\nhost-key-check: maybe\n', '/etc/stapctl/config.yaml'), 'CONFIG_INVALID');
    assert.equal(error.located.startsWith('/etc/stapctl/config.yaml:2:17: host-key-check:'), true, error.located);
  });

  test('an unknown setting is an error at its key, not silently ignored', () => {
    const error = failure(() => parseConfigFile('forks: 8\n\nfork: 9\n', 'c.yaml'), 'CONFIG_INVALID');
    assert.equal(error.located, 'c.yaml:3:1: unknown setting "fork"');
  });

  test('a YAML syntax error names its place', () => {
    const error = failure(() => parseConfigFile('forks: [8\n', 'c.yaml'), 'CONFIG_INVALID');
    assert.equal(error.file, 'c.yaml');
    assert.ok(error.line !== undefined);
  });

  test('STAPCTL_* variables give the same settings and are checked', () => {
    assert.deepEqual(configFromEnvironment({ STAPCTL_FORKS: '4', STAPCTL_CONNECT_TIMEOUT: '3', STAPCTL_OUTPUT: 'lines', STAPCTL_COLOR: '' }), { forks: 4, 'connect-timeout': 3, output: 'lines' });
    assert.match(failure(() => configFromEnvironment({ STAPCTL_FORKS: 'many' }), 'CONFIG_INVALID').message, /^STAPCTL_FORKS: /);
  });

  test('the user file wins over /etc, the environment over both, and the command line over all', () => {
    const files: Record<string, string> = { '/etc/stapctl/config.yaml': 'forks: 2\ntimeout: 5\ncolor: never\n', '/h/.config/stapctl/config.yaml': 'forks: 3\n' };
    const read = (file: string) => {
      const text = files[file];
      if (text === undefined) throw Object.assign(new Error('absent'), { code: 'ENOENT' });
      return text;
    };
    const config = loadStapctlConfig({ HOME: '/h', STAPCTL_TIMEOUT: '7' }, read);
    assert.deepEqual(config, { forks: 3, timeout: 7, color: 'never' });
    const options = withConfig({ ...flags, forks: 9 }, config);
    assert.deepEqual([options.forks, options.timeoutMs, options.color], [9, 7000, 'never']);
  });
});
