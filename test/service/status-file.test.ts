import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StapctlError } from '../../src/errors.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';
import {
  formatStatusFile,
  parseStatusFile,
  pidFromStatusFileName,
  readStatusFiles,
  removeStatusFile,
  statusFileName,
  writeStatusFile,
} from '../../src/service/status-file.js';

/** A status file the stock 4.8 script wrote for `stap-server start` (release changed). */
const STOCK_WRITTEN = `ARCH=x86_64
USER=stap-server
NICKNAME=2527
RUNTIME=
RELEASE+=6.18.44-fc-v657
LOG=/var/log/stap-server/log
PORT=
SSL=
MAXTHREADS=
MAXREQSIZE=
MAXCOMPRESSEDREQ=
`;

const STOCK_SPEC: ServerSpec = {
  ...emptySpec(),
  arch: 'x86_64',
  user: 'stap-server',
  nickname: '2527',
  releases: ['6.18.44-fc-v657'],
  log: '/var/log/stap-server/log',
};

const FULL: ServerSpec = {
  arch: 'aarch64',
  releases: ['6.1.0-18-arm64', '/kernels/6.2/build'],
  runtime: '/my runtime',
  defines: ['A=1', 'B="x y"'],
  includes: ['/tapsets', '/more tapsets'],
  builds: ['V=1', 'CC=gcc-12'],
  user: 'builder',
  nickname: 'arm "cross"',
  log: '/var/log/stap-server/arm.log',
  port: '5000',
  ssl: '/etc/ssl/stap',
  maxThreads: '4',
  maxRequestSize: '100000',
  maxCompressedRequest: '7000',
};

function invalid(text: string): StapctlError {
  try {
    parseStatusFile(text, '/var/run/stap-server/42.stat');
  } catch (error) {
    assert.ok(error instanceof StapctlError);
    return error;
  }
  assert.fail('expected STATUS_FILE_INVALID');
}

describe('formatStatusFile', () => {
  test('writes a stock-style status file byte for byte', () => {
    assert.equal(formatStatusFile(STOCK_SPEC), STOCK_WRITTEN);
  });

  test('writes lists one KEY+= line per item in the stock key order', () => {
    assert.equal(
      formatStatusFile(FULL),
      [
        'ARCH=aarch64',
        'USER=builder',
        'BUILD+=V=1',
        'BUILD+=CC=gcc-12',
        'INCLUDE+=/tapsets',
        'INCLUDE+=/more tapsets',
        'DEFINE+=A=1',
        'DEFINE+=B="x y"',
        'NICKNAME=arm "cross"',
        'RUNTIME=/my runtime',
        'RELEASE+=6.1.0-18-arm64',
        'RELEASE+=/kernels/6.2/build',
        'LOG=/var/log/stap-server/arm.log',
        'PORT=5000',
        'SSL=/etc/ssl/stap',
        'MAXTHREADS=4',
        'MAXREQSIZE=100000',
        'MAXCOMPRESSEDREQ=7000',
        '',
      ].join('\n'),
    );
  });

  test('throws rather than write a value with a line break', () => {
    assert.throws(() => formatStatusFile({ ...STOCK_SPEC, nickname: 'a\nPORT=1' }), /line break/);
  });
});

describe('parseStatusFile', () => {
  test('reads a file the stock script wrote', () => {
    assert.deepEqual(parseStatusFile(STOCK_WRITTEN, '2527.stat'), STOCK_SPEC);
  });

  test('round-trips every field, quotes and blanks included', () => {
    assert.deepEqual(parseStatusFile(formatStatusFile(FULL), 'f'), FULL);
  });

  test('round-trips an empty spec', () => {
    assert.deepEqual(parseStatusFile(formatStatusFile(emptySpec()), 'f'), emptySpec());
  });

  test('keeps the first character of INCLUDE+= values (the stock reader drops it)', () => {
    assert.deepEqual(parseStatusFile('INCLUDE+=/tapsets\n', 'f').includes, ['/tapsets']);
  });

  test('reads values literally, quotes and $ included', () => {
    const spec = parseStatusFile('ARCH="arm"\nDEFINE+=X=$(id)\n', 'f');
    assert.equal(spec.arch, '"arm"');
    assert.deepEqual(spec.defines, ['X=$(id)']);
  });

  test('treats RELEASE= and RELEASE=() as an empty list', () => {
    assert.deepEqual(parseStatusFile('RELEASE+=a\nRELEASE=\nDEFINE+=b\nDEFINE=()\n', 'f'), emptySpec());
  });

  test('treats RELEASE=value as a one-item list', () => {
    assert.deepEqual(parseStatusFile('RELEASE+=a\nRELEASE=b\n', 'f').releases, ['b']);
  });

  test('adds nothing for KEY+= and KEY+=()', () => {
    assert.deepEqual(parseStatusFile('BUILD+=\nBUILD+=()\n', 'f').builds, []);
  });

  test('ignores blank and comment lines as the stock reader does', () => {
    assert.equal(parseStatusFile('# written by hand\n\nARCH=arm\n', 'f').arch, 'arm');
  });

  test('refuses an unknown key naming the file and line', () => {
    const error = invalid('ARCH=x86_64\nCOLOUR=red\n');
    assert.equal(error.code, 'STATUS_FILE_INVALID');
    assert.equal(error.located, '/var/run/stap-server/42.stat:2: invalid line "COLOUR=red" in a server status file');
  });

  test('refuses += on a scalar key', () => {
    assert.equal(invalid('ARCH+=x\n').line, 1);
  });

  test('refuses a line without =', () => {
    assert.equal(invalid('garbage\n').code, 'STATUS_FILE_INVALID');
  });

  test('refuses a leading blank, which no writer produces', () => {
    assert.equal(invalid(' ARCH=x\n').code, 'STATUS_FILE_INVALID');
  });
});

describe('status file names', () => {
  test('statusFileName is <pid>.stat', () => {
    assert.equal(statusFileName(2527), '2527.stat');
  });

  test('pidFromStatusFileName reads a PID', () => {
    assert.equal(pidFromStatusFileName('2527.stat'), 2527);
  });

  test('pidFromStatusFileName refuses names that are not servers', () => {
    for (const name of ['0.stat', '012.stat', 'x.stat', '12.stat.bak', '.12.stat.tmp-5', '12', '-1.stat', '99999999999.stat', 'README']) {
      assert.equal(pidFromStatusFileName(name), undefined, name);
    }
  });
});

describe('status files on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-stat-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A status directory: the engine makes it (safely) before it writes a status file. */
  const made = (path: string) => {
    mkdirSync(path, { recursive: true });
    return path;
  };

  test('writeStatusFile writes <pid>.stat with the stock text, mode 0644', () => {
    const statPath = made(join(dir, 'new', 'var/run/stap-server'));
    writeStatusFile(statPath, 2527, STOCK_SPEC);
    assert.equal(readFileSync(join(statPath, '2527.stat'), 'utf8'), STOCK_WRITTEN);
    assert.equal(statSync(join(statPath, '2527.stat')).mode & 0o777, 0o644);
  });

  test('writeStatusFile leaves no temporary file behind', () => {
    const statPath = made(join(dir, 'clean'));
    writeStatusFile(statPath, 10, STOCK_SPEC);
    writeStatusFile(statPath, 10, FULL);
    assert.deepEqual(readdirSync(statPath), ['10.stat']);
    assert.deepEqual(parseStatusFile(readFileSync(join(statPath, '10.stat'), 'utf8'), 'f'), FULL);
  });

  test('writeStatusFile writes nothing for a value with a line break', () => {
    const statPath = made(join(dir, 'forged'));
    assert.throws(() => writeStatusFile(statPath, 11, { ...STOCK_SPEC, user: 'x\nUSER=root' }));
    assert.equal(existsSync(join(statPath, '11.stat')), false);
  });

  test('readStatusFiles lists servers in stock order, skips junk and reports bad files', () => {
    const statPath = join(dir, 'mixed');
    mkdirSync(statPath);
    writeStatusFile(statPath, 611, STOCK_SPEC);
    writeStatusFile(statPath, 6116, FULL);
    writeStatusFile(statPath, 1234, STOCK_SPEC);
    writeFileSync(join(statPath, '77.stat'), 'NONSENSE\n');
    writeFileSync(join(statPath, 'notes.txt'), 'junk');
    writeFileSync(join(statPath, '.lock'), '');
    writeFileSync(join(statPath, '.88.stat.tmp-1'), 'ARCH=half');
    const { entries, errors } = readStatusFiles(statPath);
    assert.deepEqual(
      entries.map((entry) => [entry.pid, entry.file]),
      [
        [1234, join(statPath, '1234.stat')],
        [611, join(statPath, '611.stat')],
        [6116, join(statPath, '6116.stat')],
      ],
    );
    assert.deepEqual(entries[2]?.spec, FULL);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, 'STATUS_FILE_INVALID');
    assert.equal(errors[0]?.file, join(statPath, '77.stat'));
  });

  test('readStatusFiles finds nothing in a missing directory', () => {
    assert.deepEqual(readStatusFiles(join(dir, 'absent')), { entries: [], errors: [], ignored: [] });
  });

  test('writeStatusFile follows no symlink planted at any name and leaves its target alone', () => {
    const statPath = made(join(dir, 'planted'));
    const target = join(dir, 'precious');
    writeFileSync(target, 'root only\n', { mode: 0o600 });
    for (const name of ['.77.stat', '.77.stat.tmp', `.77.stat.tmp-${process.pid}`]) symlinkSync(target, join(statPath, name));
    writeStatusFile(statPath, 77, STOCK_SPEC);
    assert.equal(readFileSync(target, 'utf8'), 'root only\n');
    assert.equal(readFileSync(join(statPath, '77.stat'), 'utf8'), STOCK_WRITTEN);
    assert.ok(!lstatSync(join(statPath, '77.stat')).isSymbolicLink());
  });

  test('a status file root wrote 0644 is acted on', () => {
    const statPath = made(join(dir, 'trusted'));
    writeStatusFile(statPath, 100, STOCK_SPEC);
    assert.deepEqual(readStatusFiles(statPath).entries.map((entry) => entry.pid), [100]);
  });

  test('removeStatusFile removes the file and accepts one already gone', () => {
    const statPath = made(join(dir, 'remove'));
    writeStatusFile(statPath, 5, STOCK_SPEC);
    removeStatusFile(statPath, 5);
    assert.equal(existsSync(join(statPath, '5.stat')), false);
    removeStatusFile(statPath, 5);
    assert.deepEqual(readdirSync(statPath), []);
  });
});
