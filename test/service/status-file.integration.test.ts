/** What root's status directory holds that root did not write: it takes root to make such files. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';
import { readStatusFiles, writeStatusFile } from '../../src/service/status-file.js';

const SPEC: ServerSpec = { ...emptySpec(), arch: 'x86_64', releases: ['6.1.0'], user: 'stap-server', log: '/var/log/stap-server/log' };

describe('status files root did not write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-stat-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const made = (path: string) => {
    mkdirSync(path, { recursive: true });
    return path;
  };

  test('readStatusFiles ignores and reports files root did not write, and acts on the rest', () => {
    const statPath = made(join(dir, 'untrusted'));
    writeStatusFile(statPath, 100, SPEC);
    writeFileSync(join(statPath, '101.stat'), 'LOG=/etc/ld.so.preload\n');
    chownSync(join(statPath, '101.stat'), 65534, 65534);
    writeFileSync(join(statPath, '102.stat'), 'LOG=/etc/ld.so.preload\n', { mode: 0o666 });
    chmodSync(join(statPath, '102.stat'), 0o666);
    symlinkSync(join(statPath, '100.stat'), join(statPath, '103.stat'));
    linkSync(join(statPath, '100.stat'), join(statPath, '104.stat'));
    execFileSync('mkfifo', [join(statPath, '105.stat')]);
    const { entries, errors, ignored } = readStatusFiles(statPath);
    assert.deepEqual(entries.map((entry) => entry.pid), []);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      ignored.map((error) => [error.code, error.file]),
      [100, 101, 102, 103, 104, 105].map((pid) => ['STATUS_FILE_UNTRUSTED', join(statPath, `${pid}.stat`)]),
    );
    assert.match(ignored[1]?.message ?? '', /owned by uid 65534/);
  });
});
