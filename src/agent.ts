/**
 * Agent mode: one request in (JSON on stdin), the engine's typed results out (JSON on stdout).
 * The controller starts it on each host over SSH; nothing user-supplied is ever on its command line.
 */
import { hostname } from 'node:os';
import { StapctlError, type SerializedError } from './errors.js';
import { EXIT_CODE, exitCodeOf } from './exit-code.js';
import { runService, type ServiceRequest } from './service/engine.js';
import type { ActionReport } from './service/report.js';
import { ACTIONS } from './service/report.js';
import { VERSION } from './version.js';

export const AGENT_PROTOCOL = 1;

export interface AgentRequest {
  protocol: typeof AGENT_PROTOCOL;
  request: ServiceRequest;
}

export type AgentResponse =
  | { protocol: typeof AGENT_PROTOCOL; version: string; hostname: string; report: ActionReport }
  | { protocol: typeof AGENT_PROTOCOL; version: string; hostname: string; error: SerializedError };

async function answerAgentRequest(input: string): Promise<AgentResponse> {
  const base = { protocol: AGENT_PROTOCOL, version: VERSION, hostname: hostname() } as const;
  try {
    const request = parseAgentRequest(input);
    return { ...base, report: await runService(request) };
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return { ...base, error: error.toJSON() };
  }
}

function parseAgentRequest(input: string): ServiceRequest {
  let data: unknown;
  try {
    data = JSON.parse(input);
  } catch {
    throw protocolError('the request is not JSON');
  }
  if (typeof data !== 'object' || data === null) throw protocolError('the request is not an object');
  const { protocol, request } = data as Partial<AgentRequest>;
  if (protocol !== AGENT_PROTOCOL) throw protocolError(`protocol ${String(protocol)} is not ${AGENT_PROTOCOL}`);
  if (typeof request !== 'object' || request === null || !ACTIONS.includes(request.action) || !Array.isArray(request.tokens)) {
    throw protocolError('the request has no valid action and tokens');
  }
  return request;
}

function protocolError(message: string): StapctlError {
  return new StapctlError('AGENT_PROTOCOL', message, { hint: 'the controller and the agent must be the same stapctl version' });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs the agent on this process's stdin and stdout; the exit code is the protocol's, not the action's. */
export async function runAgent(): Promise<number> {
  const response = await answerAgentRequest(await readAll(process.stdin));
  process.stdout.write(JSON.stringify(response) + '\n');
  return 'error' in response ? exitCodeOf(response.error) : EXIT_CODE.ok;
}
