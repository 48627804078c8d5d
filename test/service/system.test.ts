import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StapctlError } from '../../src/errors.js';
import { hostArch, installedReleases, kernelReleaseOf, normalizeArch, runningRelease } from '../../src/service/system.js';

describe('normalizeArch', () => {
  const cases: [string, string][] = [
    ['i386', 'i386'],
    ['i686', 'i386'],
    ['x86_64', 'x86_64'],
    ['aarch64', 'arm64'],
    ['armv7l', 'arm'],
    ['sa110', 'arm'],
    ['ppc64le', 'powerpc'],
    ['s390x', 's390'],
    ['mips64', 'mips'],
    ['sun4u', 'sparc64'],
    ['sh4', 'sh'],
    ['sh4a', 'sh4a'],
    ['riscv64', 'riscv64'],
  ];
  for (const [machine, arch] of cases) {
    test(`${machine} is ${arch}, as stap_get_arch says`, () => {
      assert.equal(normalizeArch(machine), arch);
    });
  }
});

describe('host facts', () => {
  test('hostArch agrees with the stock stap_get_arch', () => {
    const stock = execFileSync('bash', ['-c', '. /usr/lib/systemtap/stap-env && stap_get_arch'], { encoding: 'utf8' }).trim();
    assert.equal(hostArch(), stock);
  });

  test('runningRelease is uname -r', () => {
    assert.equal(runningRelease(), execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  });
});

describe('installedReleases', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-modules-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('lists directories and links to them in C-locale ls order, without files or dot entries', () => {
    const modules = join(dir, 'modules');
    for (const name of ['6.1.0-9-amd64', '6.1.0-10-amd64', 'Zeta', 'alpha', '.hidden']) mkdirSync(join(modules, name), { recursive: true });
    writeFileSync(join(modules, 'README'), '');
    symlinkSync(join(modules, 'alpha'), join(modules, 'beta-link'));
    symlinkSync(join(dir, 'missing'), join(modules, 'dangling'));
    assert.deepEqual(installedReleases(modules), ['6.1.0-10-amd64', '6.1.0-9-amd64', 'Zeta', 'alpha', 'beta-link']);
  });

  test('an empty folder has no releases', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    assert.deepEqual(installedReleases(empty), []);
  });

  test('a missing folder is NO_LIB_MODULES naming it', () => {
    const missing = join(dir, 'no-such-dir');
    let caught: unknown;
    try {
      installedReleases(missing);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof StapctlError);
    assert.equal(caught.code, 'NO_LIB_MODULES');
    assert.match(caught.message, new RegExp(missing));
  });
});

describe('kernelReleaseOf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-tree-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads the first line of include/config/kernel.release, trimmed', () => {
    mkdirSync(join(dir, 'tree', 'include', 'config'), { recursive: true });
    writeFileSync(join(dir, 'tree', 'include', 'config', 'kernel.release'), '  6.1.0-custom \nsecond\n');
    assert.equal(kernelReleaseOf(join(dir, 'tree')), '6.1.0-custom');
  });

  test('a tree without the file, or with an empty one, has no release', () => {
    assert.equal(kernelReleaseOf(join(dir, 'nothing')), undefined);
    mkdirSync(join(dir, 'blank', 'include', 'config'), { recursive: true });
    writeFileSync(join(dir, 'blank', 'include', 'config', 'kernel.release'), '\n');
    assert.equal(kernelReleaseOf(join(dir, 'blank')), undefined);
  });
});
