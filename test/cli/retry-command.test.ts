import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryCommand, shellQuote } from '../../src/cli/retry-command.js';

describe('the retry command', () => {
  test('replaces the -H value with the retry file and keeps every other word', () => {
    assert.equal(retryCommand(['-H', 'build[01-20]', 'start', '-i'], '/root/.cache/stapctl/failed-hosts'), 'stapctl -H @/root/.cache/stapctl/failed-hosts start -i');
  });

  test('understands --hosts=SPEC and -HSPEC', () => {
    assert.equal(retryCommand(['--hosts=web', 'status'], '/f'), 'stapctl --hosts=@/f status');
    assert.equal(retryCommand(['-Hweb', 'status'], '/f'), 'stapctl -H@/f status');
  });

  test('quotes words the shell would change', () => {
    assert.equal(retryCommand(['-H', 'h1', 'start', '-D', 'A=$(id) b'], '/my files/f'), `stapctl -H '@/my files/f' start -D 'A=$(id) b'`);
  });

  test('quotes a single quote so that the shell gives it back', () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});
