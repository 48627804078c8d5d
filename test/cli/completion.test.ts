import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { parseArgv, stapctlProgram } from '../../src/cli/argv.js';
import { completionScript } from '../../src/cli/completion.js';
import { failure } from '../support/expect.js';

/** What bash's completion offers for WORDS, the last one being completed. */
function bashComplete(words: string[]): string[] {
  const script = completionScript('bash', stapctlProgram());
  const array = words.map((word) => `'${word}'`).join(' ');
  const result = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _stapctl; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean);
}

describe('shell completion', () => {
  test('stapctl completion bash prints a script that bash accepts', () => {
    const command = parseArgv(['completion', 'bash']);
    assert.equal(command.kind, 'output');
    const check = spawnSync('bash', ['-n'], { input: command.kind === 'output' ? command.stdout : '', encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  test('bash completes options from their definitions', () => {
    assert.deepEqual(bashComplete(['stapctl', '--max-']), ['--max-threads', '--max-request-size', '--max-compressed-request', '--max-fail']);
  });

  test('bash completes the values of an option with choices', () => {
    assert.deepEqual(bashComplete(['stapctl', '-H', 'web', 'status', '--output', '']), ['table', 'lines', 'json']);
  });

  test('bash completes actions where the action goes', () => {
    assert.deepEqual(bashComplete(['stapctl', 'con']), ['condrestart']);
  });

  test('zsh and fish scripts name every long option', () => {
    const longs = stapctlProgram().options.flatMap((option) => (option.long ? [option.long] : []));
    const zsh = completionScript('zsh', stapctlProgram());
    const fish = completionScript('fish', stapctlProgram());
    for (const long of longs) {
      assert.ok(zsh.includes(`'${long}[`), `zsh lacks ${long}`);
      assert.ok(fish.includes(`-l ${long.slice(2)} `), `fish lacks ${long}`);
    }
  });

  test('an unknown shell is a usage error that names the shells', () => {
    assert.match(failure(() => parseArgv(['completion', 'tcsh']), 'USAGE').message, /bash, zsh, fish/);
  });
});
