/** The provisioning tasks through the agent contract: what the controller sends and reads back. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StapctlError } from '../../src/errors.js';
import { decodeAgentResponse, parseAgentRequest } from '../../src/fleet/agent/contract.js';
import { emptySpec } from '../../src/service/server-spec.js';

const header = { protocol: 1, version: '0.1.0', hostname: 'h1' } as const;

describe('provisioning tasks in the agent contract', () => {
  test('the agent accepts the apply task the controller builds', () => {
    const task = { kind: 'apply' as const, servers: [{ ...emptySpec(), nickname: 'a', releases: ['6.1'] }], check: true, serverUser: 'stap-server' };
    assert.deepEqual(parseAgentRequest(JSON.stringify({ protocol: 1, request: task })), task);
  });

  test('a trust task without its certificates is refused, naming the field', () => {
    assert.throws(
      () => parseAgentRequest('{"protocol":1,"request":{"kind":"trust","revoke":false}}'),
      (error: StapctlError) => error.code === 'AGENT_PROTOCOL' && /certificates/.test(error.message),
    );
  });

  test('an apply answer decodes, and one with an unknown change is AGENT_PROTOCOL', () => {
    const server = { nickname: 'a', file: 'a.conf', change: 'added', action: 'start', outcome: 'done', pid: 42, port: 4242 };
    const apply = { check: false, servers: [server], changed: true, exitCode: 0, errors: [], warnings: [] };
    assert.deepEqual(decodeAgentResponse('h1', { ...header, apply }, ''), { ...header, apply });
    assert.throws(
      () => decodeAgentResponse('h1', { ...header, apply: { ...apply, servers: [{ ...server, change: 'wiped' }] } }, ''),
      (error: StapctlError) => error.code === 'AGENT_PROTOCOL',
    );
  });

  test('an endpoints answer with a port out of range is AGENT_PROTOCOL', () => {
    const endpoints = { endpoints: [{ nickname: 'a', pid: 42, port: 70000, arch: 'x86_64', releases: [] }], exitCode: 0, errors: [] };
    assert.throws(() => decodeAgentResponse('h1', { ...header, endpoints }, ''), (error: StapctlError) => error.code === 'AGENT_PROTOCOL');
  });
});
