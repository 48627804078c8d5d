import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STAP_SERVERD, asUserArgv, certificatePath, serverArgv, userEnvironment } from '../../src/service/server-process.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';
import type { UserInfo } from '../../src/service/users.js';

const spec = (overrides: Partial<ServerSpec>): ServerSpec => ({ ...emptySpec(), arch: 'x86_64', user: 'stap-server', ...overrides });

const NO_FLAGS = { keepTemp: false, usePassword: false };

const alice: UserInfo = { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/bash', groups: [1000, 995] };

describe('serverArgv', () => {
  test('a default server is -a ARCH, its releases and the log', () => {
    assert.deepEqual(serverArgv(spec({ releases: ['6.1.0-9-amd64'] }), NO_FLAGS, '/var/log/stap-server/log'), [
      '-a',
      'x86_64',
      '-r',
      '6.1.0-9-amd64',
      '--log=/var/log/stap-server/log',
    ]);
  });

  test('every option comes in the order of the stock start_server', () => {
    const full = spec({
      releases: ['r1', '/usr/src/tree'],
      builds: ['V=1'],
      includes: ['/tapsets'],
      defines: ['A=1', 'B'],
      runtime: '/runtime',
      port: '9000',
      ssl: '/ssl',
      maxThreads: '4',
      maxRequestSize: '100000',
      maxCompressedRequest: '10000',
    });
    assert.deepEqual(serverArgv(full, { keepTemp: true, usePassword: true }, '/tmp/log'), [
      '-a', 'x86_64', '-k', '-P',
      '-r', 'r1', '-r', '/usr/src/tree',
      '-B', 'V=1',
      '-I', '/tapsets',
      '-D', 'A=1', '-D', 'B',
      '-R', '/runtime',
      '--log=/tmp/log',
      '--port', '9000',
      '--ssl', '/ssl',
      '--max-threads', '4',
      '--max-request-size', '100000',
      '--max-compressed-request', '10000',
    ]);
  });

  test('shell syntax in a value stays one literal argument', () => {
    const argv = serverArgv(spec({ defines: ['A=$(id)'], includes: ['/a b;rm -rf /'] }), NO_FLAGS, '/log');
    assert.ok(argv.includes('A=$(id)'));
    assert.ok(argv.includes('/a b;rm -rf /'));
  });
});

describe('running as the server user', () => {
  test('setpriv switches uid, gid and the groups of the user, then execs the program', () => {
    assert.deepEqual(asUserArgv(alice, STAP_SERVERD, ['-a', 'x86_64']), [
      '--reuid', '1000', '--regid', '1000', '--groups', '1000,995', '--', STAP_SERVERD, '-a', 'x86_64',
    ]);
  });

  test('a user without groups gets none of ours', () => {
    assert.deepEqual(asUserArgv({ ...alice, groups: [] }, '/bin/true', []).slice(4, 5), ['--clear-groups']);
  });

  test('the environment is the user login one, not ours', () => {
    assert.deepEqual(userEnvironment(alice), {
      HOME: '/home/alice',
      USER: 'alice',
      LOGNAME: 'alice',
      SHELL: '/bin/bash',
      PATH: '/usr/local/bin:/usr/bin:/bin',
    });
  });

  test('the certificate lives under the user home', () => {
    assert.equal(certificatePath(alice), '/home/alice/.systemtap/ssl/server/stap.cert');
  });
});
