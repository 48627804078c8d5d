import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StapctlError } from '../../../src/errors.js';
import { parseHostSnapshot } from '../../../src/fleet/facts/host-snapshot.js';
import { NotInSnapshot } from '../../../src/service/host-files.js';

/** Fields joined as FACTS_COMMAND prints them; LINES are `path\0line\n` records. */
function output(records: string[], lines = '/etc/passwd\0root:x:0:0::/root:/bin/sh\n'): Buffer {
  const head = ['stapctl-facts 1', 'home', '/root', 'uname', 'h1 6.1.0 x86_64\n', ...records, 'lines'];
  return Buffer.from(`${head.join('\0')}\0${lines}end\0`);
}

const passwd = ['test', '/etc/passwd', 'efrw'];

describe('the host snapshot', () => {
  test('reads a gathered file as its lines, each ended by a newline', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', '/var/run/stap-server/1.stat', 'efrw'], '/etc/passwd\0root:x:0:0::/root:/bin/sh\n/var/run/stap-server/1.stat\0ARCH=x\n/var/run/stap-server/1.stat\0USER=u\n'), 'h1');
    assert.equal(files?.readText('/var/run/stap-server/1.stat'), 'ARCH=x\nUSER=u\n');
  });

  test('a line cannot pose as another file: it ends at its newline, NUL bytes included', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', '/a', 'efr', 'test', '/b', 'efr'], '/etc/passwd\0root\n/a\0x\0/b\0forged\n'), 'h1');
    assert.equal(files?.readText('/a'), 'x\0/b\0forged\n');
    assert.equal(files?.readText('/b'), '');
  });

  test('a file that the host reported missing is ENOENT', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', '/etc/sysconfig/stap-server', '']), 'h1');
    assert.throws(() => files?.readText('/etc/sysconfig/stap-server'), { code: 'ENOENT' });
  });

  test('a file the command did not gather is NotInSnapshot, so that the agent answers', () => {
    const files = parseHostSnapshot(output(passwd), 'h1');
    assert.throws(() => files?.readText('/etc/shadow'), NotInSnapshot);
    assert.throws(() => files?.getent('passwd', 'ldapuser'), NotInSnapshot);
  });

  test('a directory whose listing find did not print is NotInSnapshot, not empty', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', '/var/run/stap-server', 'edrw']), 'h1');
    assert.throws(() => files?.list('/var/run/stap-server'), NotInSnapshot);
  });

  test('output without the end record is incomplete: undefined', () => {
    const full = output(passwd);
    assert.equal(parseHostSnapshot(full.subarray(0, full.length - 4), 'h1'), undefined);
  });

  test('a grep that printed nothing for /etc/passwd means no usable facts: undefined', () => {
    assert.equal(parseHostSnapshot(output(passwd, ''), 'h1'), undefined);
  });

  test('an unknown record is the host failure AGENT_PROTOCOL', () => {
    assert.throws(
      () => parseHostSnapshot(output(['surprise', 'x']), 'h1'),
      (error: unknown) => error instanceof StapctlError && error.code === 'AGENT_PROTOCOL' && error.host === 'h1',
    );
  });

  test('a relative path is the host failure AGENT_PROTOCOL', () => {
    assert.throws(() => parseHostSnapshot(output(['test', 'etc/passwd', 'e']), 'h1'), (error: unknown) => error instanceof StapctlError && error.code === 'AGENT_PROTOCOL');
  });
});
