import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { parseServerConfig } from '../../src/service/config-file.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';
import { isManagedConfig, isPortableValue, MANAGED_MARKER, renderManagedConfig } from '../../src/provision/managed-config.js';

const noHomes = { homeOf: () => undefined };

const word = fc.stringMatching(/^[A-Za-z0-9_.,:/=+@%-][A-Za-z0-9_.,:/=+@%~-]{0,12}$/);
const optional = (arbitrary: fc.Arbitrary<string>) => fc.oneof(fc.constant(''), arbitrary);
const number = fc.integer({ min: 0, max: 100000 }).map(String);

const declaredSpec: fc.Arbitrary<ServerSpec> = fc.record({
  nickname: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}$/),
  arch: optional(word),
  releases: fc.array(word, { maxLength: 4 }),
  includes: fc.array(word.map((item) => `/${item}`), { maxLength: 3 }),
  builds: fc.array(word, { maxLength: 3 }),
  defines: fc.array(word, { maxLength: 3 }),
  runtime: optional(word),
  user: optional(fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/)),
  log: optional(word.map((item) => `/${item}`)),
  port: optional(fc.integer({ min: 1, max: 65535 }).map(String)),
  ssl: optional(word.map((item) => `/${item}`)),
  maxThreads: optional(number),
  maxRequestSize: optional(number),
  maxCompressedRequest: optional(number),
});

/** The stock 4.8 script's own reader, interpret_server_config, cut out of /usr/bin/stap-server. */
const STOCK_READER = (() => {
  const script = readFileSync('/usr/bin/stap-server', 'utf8');
  const start = script.indexOf('interpret_server_config () {');
  return script.slice(start, script.indexOf('\n}\n', start) + 3);
})();

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-provision-managed-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What the stock script sets from a file, as a ServerSpec. */
function readByStockScript(text: string): ServerSpec {
  const file = join(scratch, 'x.conf');
  writeFileSync(file, text);
  const lists = ['RELEASE', 'INCLUDE', 'BUILD', 'DEFINE'].map((key) => `for v in "\${${key}[@]}"; do printf '${key}\\t%s\\n' "$v"; done`);
  const scalars = ['ARCH', 'RUNTIME', 'USER', 'NICKNAME', 'LOG', 'PORT', 'SSL', 'MAXTHREADS', 'MAXREQSIZE', 'MAXCOMPRESSEDREQ'].map((key) => `printf '${key}\\t%s\\n' "$${key}"`);
  const output = execFileSync('bash', ['-c', [STOCK_READER, 'interpret_server_config "$1"', ...lists, ...scalars].join('\n'), 'bash', file], { encoding: 'utf8' });
  const spec = emptySpec();
  const fields: Record<string, keyof ServerSpec> = { RELEASE: 'releases', INCLUDE: 'includes', BUILD: 'builds', DEFINE: 'defines', ARCH: 'arch', RUNTIME: 'runtime', USER: 'user', NICKNAME: 'nickname', LOG: 'log', PORT: 'port', SSL: 'ssl', MAXTHREADS: 'maxThreads', MAXREQSIZE: 'maxRequestSize', MAXCOMPRESSEDREQ: 'maxCompressedRequest' };
  for (const line of output.split('\n').filter(Boolean)) {
    const [key = '', value = ''] = line.split('\t');
    const field = fields[key] as keyof ServerSpec;
    const current = spec[field];
    if (Array.isArray(current)) current.push(value);
    else (spec[field] as string) = value;
  }
  return spec;
}

describe('managed conf.d files', () => {
  test('the stock script reads every server stapctl writes, setting for setting', () => {
    fc.assert(
      fc.property(declaredSpec, (spec) => {
        assert.deepEqual(readByStockScript(renderManagedConfig(spec)), { ...spec });
      }),
      { numRuns: 40 },
    );
  });

  test('stapctl reads back every server it writes, setting for setting', () => {
    fc.assert(
      fc.property(declaredSpec, (spec) => {
        const parsed = parseServerConfig(renderManagedConfig(spec), 'x.conf', noHomes);
        assert.deepEqual(parsed.errors, []);
        assert.deepEqual(parsed.config?.spec, { ...spec });
      }),
    );
  });

  test('a written file starts with the marker that makes it managed', () => {
    const text = renderManagedConfig({ ...emptySpec(), nickname: 'a' });
    assert.equal(text.split('\n')[0], MANAGED_MARKER);
    assert.equal(isManagedConfig(text), true);
  });

  test('a file without the marker on its first line is not managed', () => {
    assert.equal(isManagedConfig(`NICKNAME=a\n${MANAGED_MARKER}\n`), false);
  });

  test('lists are written as KEY= then KEY+= lines, the form the stock script reads item by item', () => {
    const text = renderManagedConfig({ ...emptySpec(), nickname: 'a', releases: ['6.1.0-a', '/kernels/b'] });
    assert.match(text, /^RELEASE=6\.1\.0-a\nRELEASE\+=\/kernels\/b$/m);
  });

  test('unset settings are left out of the file', () => {
    const text = renderManagedConfig({ ...emptySpec(), nickname: 'a' });
    assert.deepEqual(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')), ['NICKNAME=a']);
  });

  test('values the two readers would read differently are not portable', () => {
    for (const value of ['a b', '"a"', "'a'", '$HOME', 'a\\b', '~user/x', '#x', 'a;b', '']) {
      assert.equal(isPortableValue(value), false, value);
    }
  });
});
