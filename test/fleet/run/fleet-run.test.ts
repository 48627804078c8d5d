import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { classify } from '../../../src/fleet/run/fleet-run.js';
import type { ActionReport } from '../../../src/service/report.js';

const base = { host: 'h1', address: '127.0.1.1', warnings: [] };
const withError = (code: ErrorCode) => ({ ...base, error: { code, message: code } });
const withReport = (action: ActionReport['action'], exitCode: number) => ({ ...base, report: { action, exitCode, steps: [], warnings: [] } });

describe('the state of a host', () => {
  test('a host whose action exited 0 is ok', () => assert.equal(classify('start', withReport('start', 0)), 'ok'));
  test('a host whose action failed is failed', () => assert.equal(classify('start', withReport('start', 1)), 'failed'));
  test('status exit 3 on a host is not-running', () => assert.equal(classify('status', withReport('status', 3)), 'not-running'));
  test('status exit 1 (a server died) is failed', () => assert.equal(classify('status', withReport('status', 1)), 'failed'));
  test('reload exit 3 is failed: only status uses 3 for not running', () => assert.equal(classify('reload', withReport('reload', 3)), 'failed'));

  for (const code of ['CONNECT_FAILED', 'CONNECT_TIMEOUT', 'AUTH_FAILED', 'KEY_PASSPHRASE_REQUIRED', 'HOST_KEY_UNKNOWN', 'HOST_KEY_MISMATCH', 'HOST_KEY_REVOKED', 'KNOWN_HOSTS_UNREADABLE'] as const) {
    test(`${code} makes the host unreachable`, () => assert.equal(classify('status', withError(code)), 'unreachable'));
  }

  for (const code of ['NO_NODE_ON_HOST', 'AGENT_FAILED', 'AGENT_PROTOCOL', 'HOST_TIMEOUT', 'UPLOAD_FAILED'] as const) {
    test(`${code} on a reached host makes it failed`, () => assert.equal(classify('status', withError(code)), 'failed'));
  }
});
