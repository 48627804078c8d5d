import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToolOutput } from '../../bench/fleet.js';

test('a host that the ssh2 client names on stderr has failed, whatever the cause', () => {
  const outputs = parseToolOutput('ssh2', 'h1: stap-server running as PID 7\n', 'ssh2-client: h2: Host denied (verification failed)\nssh2-client: h3: exited with exit code 3\n');
  assert.deepEqual(
    [...outputs].map(([host, output]) => [host, output.ok, output.running]),
    [
      ['h1', true, 1],
      ['h2', false, 0],
      ['h3', false, 0],
    ],
  );
});

test('clush still fails a host only for an exit code or a timeout, not for its other messages', () => {
  const outputs = parseToolOutput('clush', 'h1: up\nh2: up\n', 'clush: h1: exited with exit code 1\nclush: h2: some warning\n');
  assert.deepEqual(
    [...outputs].map(([host, output]) => [host, output.ok]),
    [
      ['h1', false],
      ['h2', true],
    ],
  );
});
