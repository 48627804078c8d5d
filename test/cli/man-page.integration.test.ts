import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stapctlProgram } from '../../src/cli/argv.js';
import { manPage } from '../../src/cli/man-page.js';

const render = (page: string) => spawnSync('groff', ['-man', '-Tutf8', '-ww', '-P', '-cbou'], { input: page, encoding: 'utf8' });

describe('the man page', () => {
  test('lists every option the command line has, from the same definitions', () => {
    const text = render(manPage()).stdout;
    for (const option of stapctlProgram().options) assert.ok(text.includes(option.long ?? option.short ?? ''), `missing ${option.flags}`);
  });

  test('renders with groff without a warning', () => {
    const result = render(manPage());
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
  });

  test('is built to man/stapctl.1, the file package.json names', () => {
    const packageJson = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { man: string[] };
    assert.deepEqual(packageJson.man, ['./man/stapctl.1']);
    assert.equal(readFileSync(fileURLToPath(new URL('../../man/stapctl.1', import.meta.url)), 'utf8'), manPage());
  });
});
