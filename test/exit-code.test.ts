import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXIT_CODE, exitCodeOf, outcomeOf, worstOutcome } from '../src/exit-code.js';

test('local outcomes keep the stock initscript exit codes', () => {
  assert.deepEqual([EXIT_CODE.ok, EXIT_CODE.failed, EXIT_CODE.usage, EXIT_CODE['not-running'], EXIT_CODE.unsupported], [0, 1, 2, 3, 3]);
});

test('a bad option is a usage error, exit 2', () => {
  assert.equal(exitCodeOf({ code: 'USAGE' }), 2);
  assert.equal(exitCodeOf({ code: 'NO_SUCH_RELEASE_TREE' }), 2);
});

test('a -p that names no managed server exits 1, as the stock script', () => {
  assert.equal(exitCodeOf({ code: 'NO_SUCH_PID' }), 1);
});

test('an inventory or host pattern error is a usage error, exit 2', () => {
  assert.equal(exitCodeOf({ code: 'INVENTORY_INVALID' }), 2);
  assert.equal(exitCodeOf({ code: 'NO_HOSTS_MATCHED' }), 2);
});

test('a connection, authentication or host key error makes a host unreachable, exit 4', () => {
  for (const code of ['CONNECT_FAILED', 'AUTH_FAILED', 'HOST_KEY_MISMATCH'] as const) assert.equal(outcomeOf({ code }), 'unreachable');
  assert.equal(EXIT_CODE.unreachable, 4);
});

test('an agent that fails on a reached host is a failure, not unreachable', () => {
  assert.equal(outcomeOf({ code: 'AGENT_FAILED' }), 'failed');
  assert.equal(outcomeOf({ code: 'HOST_TIMEOUT' }), 'failed');
});

test('a run with no outcome is ok', () => {
  assert.equal(worstOutcome([]), 'ok');
});

test('a failure outranks a server that is not running', () => {
  assert.equal(worstOutcome(['not-running', 'failed', 'not-running']), 'failed');
});

test('a usage error outranks a failure', () => {
  assert.equal(worstOutcome(['failed', 'usage']), 'usage');
});

test('an unreachable host outranks a failed one', () => {
  assert.equal(worstOutcome(['failed', 'unreachable', 'ok']), 'unreachable');
});

test('apply --check drift is exit 5, and any failure outranks it', () => {
  assert.equal(EXIT_CODE.drift, 5);
  assert.equal(worstOutcome(['ok', 'drift']), 'drift');
  assert.equal(worstOutcome(['drift', 'failed']), 'failed');
});
