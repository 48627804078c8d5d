/**
 * Faults: conf.d files that bash would execute or that hold bytes no config has (issue 6,
 * reproduction 7). The valid files beside a bad one still start; nothing runs.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadServerConfigs } from '../../src/service/config-file.js';
import { cleanUp, makeRoot, runCli, serversOf, statFiles } from './local-support.js';

after(cleanUp);

describe('conf.d files that must not be executed or crash the run', () => {
  test('a NUL byte in one conf.d file is a file:line error and the valid files beside it start', async () => {
    const scratch = makeRoot({
      conf: {
        'a.conf': 'RELEASE=6.1.0-fault-a\nNICKNAME=alpha\n',
        'b.conf': Buffer.from('RELEASE=6.1.0-fault-a\nNICKNAME=be\u0000ta\n'),
        'c.conf': 'RELEASE=6.1.0-fault-c\nNICKNAME=gamma\n',
      },
    });
    const result = await runCli(scratch, ['start']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${join(scratch.confD, 'b.conf')}:2: invalid line "NICKNAME=be\\\\u0000ta": control character U\\+0000 at column 12`));
    assert.deepEqual(result.stdout.match(/-n "\w+"/g), ['-n "alpha"', '-n "gamma"']);
    assert.equal(serversOf(scratch).length, 2);
    assert.equal(statFiles(scratch).length, 2);
  });

  test('$[...] with a command in an array subscript is refused and the command never runs', async () => {
    const scratch = makeRoot();
    const marker = join(scratch.root, 'ran');
    writeFileSync(join(scratch.confD, 'a.conf'), `RELEASE=6.1.0-fault-a\nDEFINE=$[a[$(touch ${marker})]]\n`);
    writeFileSync(join(scratch.confD, 'b.conf'), `RELEASE=6.1.0-fault-a\nDEFINE="X=$[a[\\\`touch ${marker}\\\`]]"\n`);
    writeFileSync(join(scratch.confD, 'c.conf'), 'RELEASE=6.1.0-fault-a\nNICKNAME=kept\n');
    const result = await runCli(scratch, ['start']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /a\.conf:2: invalid line .*"\$\[" would evaluate arithmetic/);
    assert.match(result.stderr, /b\.conf:2: invalid line .*"\$\[" would evaluate arithmetic/);
    assert.equal(existsSync(marker), false);
    assert.equal(serversOf(scratch).length, 1);
  });

  test('40000 DEFINE+= lines are read in linear time', () => {
    const scratch = makeRoot();
    const lines = Array.from({ length: 40_000 }, (_, index) => `DEFINE+=MACRO_${index}=${index}`);
    writeFileSync(join(scratch.confD, 'many.conf'), `${lines.join('\n')}\n`);
    const began = performance.now();
    const { configs, errors } = loadServerConfigs(scratch.confD, { homeOf: () => undefined });
    const elapsed = performance.now() - began;
    assert.deepEqual(errors, []);
    assert.equal(configs[0]?.spec.defines.length, 40_000);
    assert.equal(configs[0]?.spec.defines[39_999], 'MACRO_39999=39999');
    // Generous: the quadratic reader took 13 s here; the linear one, tens of milliseconds.
    assert.ok(elapsed < 4000, `took ${Math.round(elapsed)} ms`);
  });
});
