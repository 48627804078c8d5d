import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPaths, inRoot, withGlobalConfig } from '../../src/service/paths.js';

describe('inRoot', () => {
  test('prefixes an absolute path with the root', () => {
    assert.equal(inRoot('/x', '/etc/a'), '/x/etc/a');
  });

  test('returns the path unchanged for root /', () => {
    assert.equal(inRoot('/', '/etc/a'), '/etc/a');
  });

  test('ignores a trailing slash on the root', () => {
    assert.equal(inRoot('/srv/h1/', '/var/run/stap-server'), '/srv/h1/var/run/stap-server');
  });

  test('cannot climb out of the root with ..', () => {
    assert.equal(inRoot('/srv/h1', '/../../etc/passwd'), '/srv/h1/etc/passwd');
  });
});

describe('defaultPaths', () => {
  test('holds the stock script defaults for root /', () => {
    assert.deepEqual(defaultPaths(), {
      root: '/',
      configFile: '/etc/sysconfig/stap-server',
      configPath: '/etc/stap-server/conf.d',
      statPath: '/var/run/stap-server',
      logFile: '/var/log/stap-server/log',
      logFileInRoot: '/var/log/stap-server/log',
      libModules: '/lib/modules',
    });
  });

  test('prefixes every host path with the root and keeps the in-root log path', () => {
    const paths = defaultPaths('/tmp/h2');
    assert.equal(paths.configFile, '/tmp/h2/etc/sysconfig/stap-server');
    assert.equal(paths.configPath, '/tmp/h2/etc/stap-server/conf.d');
    assert.equal(paths.statPath, '/tmp/h2/var/run/stap-server');
    assert.equal(paths.logFile, '/tmp/h2/var/log/stap-server/log');
    assert.equal(paths.libModules, '/tmp/h2/lib/modules');
    assert.equal(paths.logFileInRoot, '/var/log/stap-server/log');
  });
});

describe('withGlobalConfig', () => {
  test('applies CONFIG_PATH, STAT_PATH and LOG_FILE inside the root', () => {
    const paths = withGlobalConfig(defaultPaths('/r'), {
      configPath: '/home/u/confs',
      statPath: '/run/stap',
      logFile: '/tmp/stap-server/log',
    });
    assert.equal(paths.configPath, '/r/home/u/confs');
    assert.equal(paths.statPath, '/r/run/stap');
    assert.equal(paths.logFile, '/r/tmp/stap-server/log');
    assert.equal(paths.logFileInRoot, '/tmp/stap-server/log');
    assert.equal(paths.configFile, '/r/etc/sysconfig/stap-server');
  });

  test('keeps the defaults for settings the config leaves out', () => {
    assert.deepEqual(withGlobalConfig(defaultPaths('/r'), {}), defaultPaths('/r'));
  });

  test('carries STAP_USER as the default server user', () => {
    assert.equal(withGlobalConfig(defaultPaths(), { stapUser: 'builder' }).stapUser, 'builder');
  });

  test('lets a later config override an earlier one', () => {
    const first = withGlobalConfig(defaultPaths(), { statPath: '/a', logFile: '/l1' });
    const second = withGlobalConfig(first, { statPath: '/b' });
    assert.equal(second.statPath, '/b');
    assert.equal(second.logFile, '/l1');
  });
});
