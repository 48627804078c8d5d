import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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

describe('managed conf.d files', () => {
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
