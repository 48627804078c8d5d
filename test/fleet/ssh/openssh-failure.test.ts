import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostRoute } from '../../../src/fleet/ssh/host-route.js';
import { connectFailure, hostKeyOutcome, sshLines } from '../../../src/fleet/ssh/openssh-failure.js';

const route: HostRoute = {
  host: 'h1',
  address: '127.0.1.1',
  port: 22,
  user: 'root',
  identities: [],
  identitiesOnly: false,
  hostKeyPolicy: 'strict',
  knownHostsFiles: ['/k/known_hosts'],
  connectTimeoutMs: 3000,
};

/** ssh 9.2's words, as it writes them (with carriage returns). */
const CHANGED = [
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  'The fingerprint for the ED25519 key sent by the remote host is',
  'SHA256:BOvxePbS5FgFJjnB5EtS5OXwdbncDF/6Qg+rsN+7tR4.',
  'Offending ED25519 key in /k/known_hosts:3',
  'Host key for 127.0.1.1 has changed and you have requested strict checking.',
  'Host key verification failed.',
].join('\r\n');

describe("ssh's failures as stapctl's error codes", () => {
  test('a changed host key is HOST_KEY_MISMATCH with the presented key and the offending line', () => {
    const error = connectFailure(route, CHANGED);
    assert.equal(error.code, 'HOST_KEY_MISMATCH');
    assert.match(error.message, /presented SHA256:BOvxePbS5FgFJjnB5EtS5OXwdbncDF\/6Qg\+rsN\+7tR4,/);
    assert.deepEqual([error.file, error.line, error.host], ['/k/known_hosts', 3, 'h1']);
  });

  test('an unknown host key under strict checking is HOST_KEY_UNKNOWN with the ssh-keyscan hint', () => {
    const error = connectFailure(route, 'No ED25519 host key is known for 127.0.1.1 and you have requested strict checking.\r\nHost key verification failed.\r\n');
    assert.equal(error.code, 'HOST_KEY_UNKNOWN');
    assert.match(error.hint ?? '', /ssh-keyscan 127\.0\.1\.1 >> \/k\/known_hosts/);
  });

  test('a revoked host key is HOST_KEY_REVOKED', () => {
    assert.equal(connectFailure(route, '@       WARNING: REVOKED HOST KEY DETECTED!               @\r\nHost key verification failed.\r\n').code, 'HOST_KEY_REVOKED');
  });

  test('Permission denied is AUTH_FAILED naming the methods the host offered', () => {
    const error = connectFailure(route, 'root@127.0.1.1: Permission denied (publickey,keyboard-interactive).\r\n');
    assert.equal(error.code, 'AUTH_FAILED');
    assert.equal(error.message, 'root@h1: authentication refused (the host offered publickey,keyboard-interactive)');
    assert.match(error.hint ?? '', /BatchMode=yes/);
  });

  test('refused, unresolvable and timed-out connections read as they do with ssh2', () => {
    const refused = connectFailure(route, 'ssh: connect to host 127.0.1.1 port 22: Connection refused\r\n');
    assert.deepEqual([refused.code, refused.message], ['CONNECT_FAILED', 'cannot connect to h1 (127.0.1.1:22): ECONNREFUSED']);
    assert.match(connectFailure(route, 'ssh: Could not resolve hostname nope.invalid: Name or service not known\r\n').message, /ENOTFOUND$/);
    assert.equal(connectFailure(route, 'ssh: connect to host 127.0.1.1 port 22: Connection timed out\r\n').code, 'CONNECT_TIMEOUT');
  });

  test("anything else is CONNECT_FAILED with ssh's last line, cleaned of terminal escapes", () => {
    const error = connectFailure(route, 'kex_exchange_identification: Connection closed by remote host\r\n\u001b]0;owned\u0007Connection closed by 127.0.1.1 port 22\r\n');
    assert.equal(error.code, 'CONNECT_FAILED');
    assert.equal(error.message, 'cannot connect to h1 (127.0.1.1:22): Connection closed by 127.0.1.1 port 22');
    assert.ok(!(error.detail ?? '').includes('\u001b'));
    assert.deepEqual(sshLines('a\r\n\r\nb\r\n'), ['a', 'b']);
  });

  test('a master that came up warns of a key it recorded, and under off refuses a changed key', () => {
    const added = "Warning: Permanently added '127.0.1.1' (ED25519) to the list of known hosts.\r\n";
    assert.deepEqual(hostKeyOutcome({ ...route, hostKeyPolicy: 'accept-new' }, added).warnings, ['recorded new host key of h1 in /k/known_hosts']);
    assert.deepEqual(hostKeyOutcome({ ...route, hostKeyPolicy: 'off' }, added).warnings, ['host key of h1 was not checked: --host-key-check off']);
    assert.deepEqual(hostKeyOutcome(route, ''), { warnings: [] });
    assert.equal(hostKeyOutcome({ ...route, hostKeyPolicy: 'off' }, CHANGED).refused?.code, 'HOST_KEY_MISMATCH');
  });
});
