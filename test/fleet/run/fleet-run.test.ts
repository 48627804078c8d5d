import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StapctlError, type ErrorCode } from '../../../src/errors.js';
import { agentBundle } from '../../../src/fleet/agent/contract.js';
import { fleetExitCode } from '../../../src/fleet/run/fan-out.js';
import { classify, hostError, runFleet, sshEnvironment } from '../../../src/fleet/run/fleet-run.js';
import type { HostEntry } from '../../../src/fleet/targets/inventory.js';
import type { ActionReport } from '../../../src/service/report.js';
import { inFarmNetwork } from '../farm.js';

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

  for (const code of ['NO_NODE_ON_HOST', 'AGENT_FAILED', 'AGENT_PROTOCOL', 'HOST_TIMEOUT'] as const) {
    test(`${code} on a reached host makes it failed`, () => assert.equal(classify('status', withError(code)), 'failed'));
  }
});

describe('a host that timed out', () => {
  test('is reported with the --timeout the user gave, not the time that was left of it', () => {
    const stopped = new StapctlError('HOST_TIMEOUT', 'h1: the command did not finish within 3.27 s and was stopped', { host: 'h1' });
    assert.equal(hostError('h1', stopped, 4000).message, 'h1: did not finish within --timeout 4 s and was stopped');
  });

  test('keeps a fractional --timeout as it was written', () => {
    assert.match(hostError('h1', new StapctlError('HOST_TIMEOUT', 'x'), 300).message, /--timeout 0\.3 s/);
  });
});

describe('a bug while handling one host', () => {
  const home = mkdtempSync(join(tmpdir(), 'stapctl-fleet-run-'));
  after(() => rmSync(home, { recursive: true, force: true }));

  test('is that host INTERNAL failure; the other hosts keep their results and the run exits 70', async () => {
    // Nothing listens there: the other host ends unreachable, without a farm.
    const closed: HostEntry = { name: 'closed', address: inFarmNetwork('127.0.250.9'), port: 9, user: 'root', become: false, groups: [], vars: {}, varSources: {}, source: 'ad-hoc', warnings: [] };
    const buggy = { ...closed, name: 'buggy' } as HostEntry;
    Object.defineProperty(buggy, 'identityFile', {
      get: () => {
        throw new TypeError('a bug');
      },
    });
    const settings = { hostKeyCheck: 'strict' as const, connectTimeoutMs: 2000, timeoutMs: 5000, forks: 2 };
    const results = await runFleet([buggy, closed], { action: 'status', tokens: [] }, agentBundle(Buffer.from('x')), settings, undefined, sshEnvironment({ HOME: home }));
    assert.deepEqual(
      results.map((result) => [result.host, result.state, result.error?.code]),
      [
        ['buggy', 'failed', 'INTERNAL'],
        ['closed', 'unreachable', 'CONNECT_FAILED'],
      ],
    );
    assert.match(results[0]?.error?.detail ?? '', /TypeError: a bug/);
    assert.equal(fleetExitCode(results), 70);
  });
});

describe('a ProxyJump chain', () => {
  const home = mkdtempSync(join(tmpdir(), 'stapctl-fleet-run-'));
  after(() => rmSync(home, { recursive: true, force: true }));

  test('that loops back to its host fails that host with SSH_CONFIG_INVALID before any connection', async () => {
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'config'), 'Host loop\n  ProxyJump loop\n');
    const loop: HostEntry = { name: 'loop', address: inFarmNetwork('127.0.250.9'), port: 9, user: 'root', become: false, groups: [], vars: {}, varSources: {}, source: 'ad-hoc', warnings: [] };
    const settings = { hostKeyCheck: 'strict' as const, connectTimeoutMs: 2000, timeoutMs: 5000, forks: 1 };
    const [result] = await runFleet([loop], { action: 'status', tokens: [] }, agentBundle(Buffer.from('x')), settings, undefined, sshEnvironment({ HOME: home }));
    assert.equal(result?.error?.code, 'SSH_CONFIG_INVALID');
    assert.equal(result?.error?.message, 'ProxyJump of loop loops');
  });
});

describe('an interrupted run', () => {
  test('an INTERRUPTED host is interrupted', () => assert.equal(classify('start', withError('INTERRUPTED')), 'interrupted'));
  test('exits 130 whatever the other hosts did', () => assert.equal(fleetExitCode([{ state: 'unreachable' }, { state: 'interrupted' }, { state: 'failed', error: { code: 'INTERNAL' } }]), 130));
});
