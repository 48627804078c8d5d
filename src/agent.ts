/**
 * Agent mode: one request in (a line of JSON on stdin), the engine's typed results out (JSON on
 * stdout). The controller starts it on each host over SSH; nothing user-supplied is ever on its
 * command line. The request's shape is the contract's (src/fleet/agent/contract.ts).
 */
import { readSync, writeSync } from 'node:fs';
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

/**
 * stdin and stdout are used through their descriptors, not process.stdin and process.stdout: for
 * a pipe those are net.Socket streams, and loading net and the stream modules cost more than the
 * agent's whole reading and writing (~5 ms of CPU on every host, every run). An O_NONBLOCK
 * descriptor (EAGAIN) is waited on in 5 ms steps, as the launcher's first stage does.
 */
function retryingIo(operation: () => number): number {
  for (;;) {
    try {
      return operation();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/**
 * The request is one line (JSON has no raw newline): the controller keeps stdin open after it, in
 * case the launcher asks for the agent (contract.ts), so the line's end, not stdin's, ends it.
 * Without a newline, the end of stdin does.
 */
function readRequestLine(): string {
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    const length = retryingIo(() => readSync(0, chunk, 0, chunk.length, null));
    if (length === 0) return Buffer.concat(chunks).toString('utf8');
    const end = chunk.subarray(0, length).indexOf(0x0a);
    chunks.push(chunk.subarray(0, end >= 0 ? end : length));
    if (end >= 0) return Buffer.concat(chunks).toString('utf8');
  }
}

function writeStdout(text: string): void {
  const bytes = Buffer.from(text);
  for (let written = 0; written < bytes.length; ) written += retryingIo(() => writeSync(1, bytes, written));
}

/** Runs the agent on this process's stdin and stdout; the exit code is the protocol's, not the action's. */
export async function runAgent(): Promise<number> {
  const response = await answerAgentRequest(readRequestLine());
  writeStdout(JSON.stringify(response) + '\n');
  return 'error' in response ? exitCodeOf(response.error) : EXIT_CODE.ok;
}
