/**
 * Agent mode: one request in (JSON on stdin), the engine's typed results out (JSON on stdout).
 * The controller starts it on each host over SSH; nothing user-supplied is ever on its command
 * line. The request's shape is the contract's (src/fleet/agent/contract.ts).
 */
import { hostname } from 'node:os';
import { StapctlError } from './errors.js';
import { EXIT_CODE, exitCodeOf } from './exit-code.js';
import { AGENT_PROTOCOL, parseAgentRequest, type AgentResponse, type ProvisionTask } from './fleet/agent/contract.js';
import { runApply, type ApplyReport } from './provision/apply.js';
import { hostTrust, runTrust, type TrustReport } from './provision/client-trust.js';
import { readEndpoints, type EndpointReport } from './provision/endpoint-facts.js';
import { runService } from './service/engine.js';
import { VERSION } from './version.js';

async function answerAgentRequest(input: string): Promise<AgentResponse> {
  const base = { protocol: AGENT_PROTOCOL, version: VERSION, hostname: hostname() } as const;
  try {
    const request = parseAgentRequest(input);
    if (!('kind' in request)) return { ...base, report: await runService(request) };
    return { ...base, ...(await answerProvisionTask(request)) };
  } catch (error) {
    if (!(error instanceof StapctlError)) throw error;
    return { ...base, error: error.toJSON() };
  }
}

async function answerProvisionTask(task: ProvisionTask): Promise<{ apply: ApplyReport } | { endpoints: EndpointReport } | { trust: TrustReport }> {
  switch (task.kind) {
    case 'apply':
      return { apply: await runApply(task) };
    case 'endpoints':
      return { endpoints: readEndpoints(task.root) };
    case 'trust':
      return { trust: runTrust(task, hostTrust()) };
  }
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
