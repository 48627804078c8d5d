/** The built command's launcher (src/cli/launcher.ts): the bundles run with the code cache the build made, and only with it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';

const BUILT = fileURLToPath(new URL('../../dist/cli/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'stapctl-launcher-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the stapctl launcher', () => {
  test('the build leaves for each bundle a code cache that holds a copy of that bundle', () => {
    for (const bundle of ['cli.js', 'fleet-view.js']) {
      const cache = readFileSync(join(BUILT, `${bundle}.v8cache`));
      const source = readFileSync(join(BUILT, bundle));
      assert.equal(cache.readUInt32BE(0), source.length, bundle);
      assert.ok(cache.subarray(4, 4 + source.length).equals(source), bundle);
      assert.ok(cache.length > 4 + source.length + 4096, `${bundle}: ${cache.length} bytes`);
    }
  });

  test('a bundle changed after the build runs as changed, not from its stale cache of the same length', () => {
    const copy = join(scratch, 'cli');
    cpSync(BUILT, copy, { recursive: true });
    const bundle = readFileSync(join(copy, 'cli.js'), 'utf8');
    const version = /"(\d+\.\d+\.\d+)"/.exec(bundle)?.[1];
    assert.ok(version !== undefined && version !== '9.9.9');
    const changed = bundle.replace(`"${version}"`, `"${'9.9.9'.padEnd(version.length, '9')}"`);
    assert.equal(changed.length, bundle.length);
    writeFileSync(join(copy, 'cli.js'), changed);
    const run = spawnSync(process.execPath, [join(copy, 'main.js'), '--version'], { encoding: 'utf8' });
    assert.deepEqual([run.status, run.stdout.trim()], [0, '9.9.9'.padEnd(version.length, '9')]);
  });
});
