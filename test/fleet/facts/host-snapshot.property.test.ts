/**
 * Property tests: whatever a host prints in answer to the facts command (the command's own output
 * cut, spliced or overwritten, or bytes of its own), the parser returns a snapshot, undefined (the
 * agent answers), or throws AGENT_PROTOCOL naming the host; and no line of one file, whatever bytes
 * it holds, is read as another file's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StapctlError } from '../../../src/errors.js';
import { FACTS_PROTOCOL } from '../../../src/fleet/facts/facts-command.js';
import { parseHostSnapshot } from '../../../src/fleet/facts/host-snapshot.js';

/** What the command prints on a host with one running server: every kind of record. */
const SAMPLE = Buffer.from(
  [
    ...[FACTS_PROTOCOL, 'home', '/root', 'test', '/etc/passwd', 'efrw', 'test', '/var/run/stap-server/42.stat', 'efrw', 'test', '/var/run/stap-server', 'edrw'],
    ...['entry', '/var/run', 'stap-server', 'd', 'd', '0', '755', '2', 'entry', '/var/run/stap-server', '42.stat', 'f', 'f', '0', '644', '1'],
    ...['link', '/proc/42/exe', '/usr/lib/systemtap/stap-serverd', 'link', '/proc/42/fd', '', 'link', '/proc/42/fd/4', 'socket:[77]', 'link', '/proc/42/ns/net', 'net:[4026531840]'],
    ...['test', '/proc/42/net/tcp6', 'efr', 'lines', ''],
  ].join('\0') +
    ['/proc/sys/kernel/hostname', 'h1\n/proc/sys/kernel/osrelease', '6.1.0\n/proc/sys/kernel/arch', 'x86_64\n'].join('\0') +
    ['/etc/passwd', 'root:x:0:0::/root:/bin/sh\n/var/run/stap-server/42.stat', 'ARCH=x86_64\n'].join('\0') +
    ['/proc/42/net/tcp6', '  sl  local_address\n/proc/42/net/tcp6', '   0: 0:1F90 0:0 0A 0 0 0 999 0 77 1\nend', ''].join('\0'),
);

/** SAMPLE with a stretch of it replaced by other bytes (some of them the separators). */
const damaged = fc
  .tuple(fc.nat({ max: SAMPLE.length }), fc.nat({ max: 40 }), fc.uint8Array({ maxLength: 40 }).map((bytes) => bytes.map((byte) => [0, 0x0a, 0x2f, byte][byte % 4] as number)))
  .map(([at, cut, bytes]) => Buffer.concat([SAMPLE.subarray(0, at), Buffer.from(bytes), SAMPLE.subarray(Math.min(SAMPLE.length, at + cut))]));

const anyBytes = fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes));

describe('host snapshot properties', () => {
  test('any answer parses, is undefined, or is the host failure AGENT_PROTOCOL naming the host', () => {
    assert.deepEqual(parseHostSnapshot(SAMPLE, 'h7')?.list('/proc/42/fd'), ['4']);
    fc.assert(
      fc.property(fc.oneof(damaged, anyBytes), (output) => {
        try {
          const files = parseHostSnapshot(output, 'h7');
          if (files !== undefined) assert.equal(typeof files.hostname(), 'string');
        } catch (error) {
          assert.ok(error instanceof StapctlError, `not a StapctlError: ${String(error)}`);
          assert.equal(error.code, 'AGENT_PROTOCOL');
          assert.equal(error.host, 'h7');
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("a line of a file, whatever bytes it holds but a newline, is that file's line and no other's", () => {
    const line = fc.string({ unit: 'binary-ascii', maxLength: 60 }).filter((text) => !text.includes('\n'));
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), (lines) => {
        const status = '/var/run/stap-server/42.stat';
        const records = `${FACTS_PROTOCOL}\0home\0/root\0test\0/etc/passwd\0efr\0test\0${status}\0efr\0test\0/etc/group\0efr\0lines\0`;
        const kernel = ['/proc/sys/kernel/hostname', 'h1\n/proc/sys/kernel/osrelease', '6.1\n/proc/sys/kernel/arch', 'x86_64\n'].join('\0');
        const body = `/etc/passwd\0root\n${lines.map((text) => `${status}\0${text}\n`).join('')}/etc/group\0root:x:0:\n`;
        const files = parseHostSnapshot(Buffer.from(`${records}${kernel}${body}end\0`), 'h7');
        assert.equal(files?.readText(status), `${lines.join('\n')}\n`);
        assert.equal(files?.readText('/etc/passwd'), 'root\n');
        assert.equal(files?.readText('/etc/group'), 'root:x:0:\n');
      }),
      { numRuns: 2000 },
    );
  });
});
