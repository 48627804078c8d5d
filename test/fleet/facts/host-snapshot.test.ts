import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StapctlError } from '../../../src/errors.js';
import { FACTS_PROTOCOL } from '../../../src/fleet/facts/facts-command.js';
import { parseHostSnapshot } from '../../../src/fleet/facts/host-snapshot.js';
import { UntrustedFile } from '../../../src/service/file-trust.js';
import { NotInSnapshot } from '../../../src/service/host-files.js';

/** The lines of /proc/sys/kernel/{hostname,osrelease,arch}, as grep prints them. */
function kernelLines(names: { hostname?: string; release?: string; machine?: string }): string {
  const files: [string, string | undefined][] = [['hostname', names.hostname], ['osrelease', names.release], ['arch', names.machine]];
  return files.map(([file, value]) => (value === undefined ? '' : `/proc/sys/kernel/${file}\0${value}\n`)).join('');
}

const KERNEL = kernelLines({ hostname: 'h1', release: '6.1.0', machine: 'x86_64' });

/** Fields joined as FACTS_COMMAND prints them; LINES are `path\0line\n` records. */
function output(records: string[], lines = '/etc/passwd\0root:x:0:0::/root:/bin/sh\n', kernel = KERNEL): Buffer {
  const head = [FACTS_PROTOCOL, 'home', '/root', ...records, 'lines'];
  return Buffer.from(`${head.join('\0')}\0${kernel}${lines}end\0`);
}

const passwd = ['test', '/etc/passwd', 'efrw'];

const STATUS_FILE = '/var/run/stap-server/42.stat';

/** The status directory listing one status file, as find printed it: %Y %y %U %m %n. */
function statusFileFacts(type: string, ownType: string, uid: string, mode: string, links: string): Buffer {
  const records = [...passwd, 'test', STATUS_FILE, 'efrw', 'entry', '/var/run/stap-server', '42.stat', type, ownType, uid, mode, links];
  return output(records, `/etc/passwd\0root:x:0:0::/root:/bin/sh\n${STATUS_FILE}\0ARCH=x\n`);
}

describe('the host snapshot', () => {
  test('reads a gathered file as its lines, each ended by a newline', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', '/var/run/stap-server/1.stat', 'efrw'], '/etc/passwd\0root:x:0:0::/root:/bin/sh\n/var/run/stap-server/1.stat\0ARCH=x\n/var/run/stap-server/1.stat\0USER=u\n'), 'h1');
    assert.equal(files?.readText('/var/run/stap-server/1.stat'), 'ARCH=x\nUSER=u\n');
  });

  test('a broken UTF-8 sequence at the end of a line reads as U+FFFD and leaves the newline and the next record alone', () => {
    const [head, tail] = output([...passwd, 'test', '/var/run/stap-server/1.stat', 'efrw'], '/etc/passwd\0root:x:0:0::/root:/bin/sh\n/var/run/stap-server/1.stat\0ARCH=x|\n/var/run/stap-server/1.stat\0USER=u\n')
      .toString('latin1')
      .split('|');
    const broken = Buffer.concat([Buffer.from(head ?? '', 'latin1'), Buffer.from([0xe2, 0x82]), Buffer.from(tail ?? '', 'latin1')]);
    const files = parseHostSnapshot(broken, 'h1');
    assert.equal(files?.readText('/var/run/stap-server/1.stat'), 'ARCH=x\ufffd\nUSER=u\n');
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

  test('a listed directory that is a symlink, which find printed but did not list, is NotInSnapshot', () => {
    const entry = (ownType: string) => ['entry', '/var/run', 'stap-server', 'd', ownType, '0', '755', '2'];
    const status = ['test', '/var/run/stap-server', 'edrw'];
    assert.deepEqual(parseHostSnapshot(output([...passwd, ...status, ...entry('d')]), 'h1')?.list('/var/run/stap-server'), []);
    assert.throws(() => parseHostSnapshot(output([...passwd, ...status, ...entry('l')]), 'h1')?.list('/var/run/stap-server'), NotInSnapshot);
  });

  test("the host name, release and machine are the lines of the kernel's files, spaces included", () => {
    const files = parseHostSnapshot(output(passwd, undefined, kernelLines({ hostname: 'build one', release: '6.1.0-9', machine: 'aarch64' })), 'h1');
    assert.deepEqual([files?.hostname(), files?.release(), files?.machine()], ['build one', '6.1.0-9', 'aarch64']);
  });

  test('without /proc/sys/kernel/arch the machine is what uname -m printed', () => {
    const files = parseHostSnapshot(output([...passwd, 'machine', 'ppc64le\n'], undefined, kernelLines({ hostname: 'h1', release: '6.1.0' })), 'h1');
    assert.equal(files?.machine(), 'ppc64le');
  });

  test('without a line of each kernel file the facts are not usable: undefined, so that the agent answers', () => {
    for (const kernel of [kernelLines({ release: '6.1.0', machine: 'x86_64' }), kernelLines({ hostname: 'h1', machine: 'x86_64' }), kernelLines({ hostname: 'h1', release: '6.1.0' })]) {
      assert.equal(parseHostSnapshot(output(passwd, undefined, kernel), 'h1'), undefined);
    }
  });

  test('a uname -m that printed more than one word is the host failure AGENT_PROTOCOL', () => {
    assert.throws(
      () => parseHostSnapshot(output([...passwd, 'machine', 'x86 64\n']), 'h1'),
      (error: unknown) => error instanceof StapctlError && error.code === 'AGENT_PROTOCOL' && error.host === 'h1' && /uname -m/.test(error.message),
    );
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

  test('a status file root owns, private to root, with one link is read', () => {
    assert.equal(parseHostSnapshot(statusFileFacts('f', 'f', '0', '644', '1'), 'h1')?.readRootFile(STATUS_FILE, [0], 4096), 'ARCH=x\n');
  });

  test('a status file that is a symlink, another owner\'s, group-writable or hard-linked is refused as on the host', () => {
    const refusals: [Buffer, RegExp][] = [
      [statusFileFacts('f', 'l', '0', '777', '1'), /it is a symbolic link/],
      [statusFileFacts('p', 'p', '0', '644', '1'), /not a regular file/],
      [statusFileFacts('f', 'f', '999', '644', '1'), /owned by uid 999/],
      [statusFileFacts('f', 'f', '0', '664', '1'), /writable by group or others/],
      [statusFileFacts('f', 'f', '0', '644', '2'), /2 hard links/],
    ];
    for (const [facts, reason] of refusals) {
      assert.throws(() => parseHostSnapshot(facts, 'h1')?.readRootFile(STATUS_FILE, [0], 4096), (error: unknown) => error instanceof UntrustedFile && reason.test(error.message));
    }
  });

  test('a status file find did not list is NotInSnapshot, so that the agent checks it', () => {
    const files = parseHostSnapshot(output([...passwd, 'test', STATUS_FILE, 'efrw']), 'h1');
    assert.throws(() => files?.readRootFile(STATUS_FILE, [0], 4096), NotInSnapshot);
  });

  test("a server's TCP table is the one read through the first server of its network namespace", () => {
    const records = [...passwd, 'link', '/proc/7/ns/net', 'net:[4026531840]', 'link', '/proc/9/ns/net', 'net:[4026531840]', 'test', '/proc/7/net/tcp6', 'efr'];
    const files = parseHostSnapshot(output(records, '/etc/passwd\0root\n/proc/7/net/tcp6\0  sl  local_address\n/proc/7/net/tcp6\0   0: 0:1F90 0:0 0A 0 0 0 999 0 42 1\n'), 'h1');
    assert.equal(files?.readText('/proc/9/net/tcp6'), files?.readText('/proc/7/net/tcp6'));
    assert.match(files?.readText('/proc/9/net/tcp6') ?? '', / 42 1\n$/);
  });

  test('a TCP table not read, of another network namespace, one not known or the other table, is NotInSnapshot', () => {
    const records = [
      ...passwd,
      ...['link', '/proc/7/ns/net', 'net:[4026531840]', 'link', '/proc/8/ns/net', 'net:[4026532000]', 'link', '/proc/9/ns/net', ''],
      ...['link', '/etc/ns/net', 'net:[4026531840]', 'test', '/proc/7/net/tcp6', 'efr', 'test', '/etc/net/tcp', 'efr'],
    ];
    const files = parseHostSnapshot(output(records), 'h1');
    for (const path of ['/proc/8/net/tcp6', '/proc/9/net/tcp6', '/proc/10/net/tcp6', '/proc/8/net/tcp', '/proc/7/net/tcp']) {
      assert.throws(() => files?.readText(path), NotInSnapshot, path);
    }
  });

  test('an entry without its owner, mode and links is the host failure AGENT_PROTOCOL', () => {
    assert.throws(
      () => parseHostSnapshot(output([...passwd, 'entry', '/var/run/stap-server', '42.stat', 'f', 'lines']), 'h1'),
      (error: unknown) => error instanceof StapctlError && error.code === 'AGENT_PROTOCOL',
    );
  });
});
