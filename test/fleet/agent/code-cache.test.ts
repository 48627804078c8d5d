import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { codeCacheFileOf, readCodeCache } from '../../../src/fleet/agent/code-cache.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-code-cache-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const CODE_CACHE_MODULE = new URL('../../../src/fleet/agent/code-cache.ts', import.meta.url).href;

/** Makes the cache of BUNDLE as the build does: the agent run once, in its own node. */
function makeCache(bundleFile: string): void {
  const maker = `import { runAgentForCodeCache } from ${JSON.stringify(CODE_CACHE_MODULE)}; runAgentForCodeCache(${JSON.stringify(bundleFile)});`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', maker], { input: '', encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
}

describe('the agent code cache file', () => {
  const bundle = Buffer.from('#!/usr/bin/env node\nmodule.exports = process.argv.slice(2);\n');
  const bundleFile = join(scratch, 'stapctl.cjs');
  writeFileSync(bundleFile, bundle);
  before(() => makeCache(bundleFile));

  test('is made beside the bundle from a run of it, and read back for that bundle', () => {
    assert.ok(readCodeCache(bundle, codeCacheFileOf(bundleFile)).length > 0);
  });

  test('made from another bundle, it is not used', () => {
    assert.equal(readCodeCache(Buffer.from('another bundle'), codeCacheFileOf(bundleFile)).length, 0);
  });

  test('a missing file is no cache', () => {
    assert.equal(readCodeCache(bundle, join(scratch, 'none.v8cache')).length, 0);
  });
});
