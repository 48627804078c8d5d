/**
 * `status` answered on the controller: the host's facts (one fixed command, FACTS_COMMAND) read by
 * the same engine that the agent runs on the host. Where the facts cannot answer exactly as the
 * agent would, the caller runs the agent.
 */
import { NotInSnapshot } from '../../service/host-files.js';
import { runService, type ServiceRequest } from '../../service/engine.js';
import type { ActionReport } from '../../service/report.js';
import { parseHostSnapshot } from './host-snapshot.js';

/**
 * Whether the facts can answer REQUEST: `status` at the stock paths, by the login user itself. A
 * root prefix or a -c file moves the paths, and with become the agent runs as root (through a sudo
 * rule that may allow nothing but node), which sees what the login user may not.
 */
export function factsCanAnswer(request: ServiceRequest, become: boolean): boolean {
  return request.action === 'status' && !become && request.configFile === undefined && (request.root === undefined || request.root === '/');
}

/**
 * The report the agent would give, from the facts the host printed; undefined when the agent must
 * answer. A malformed answer throws AGENT_PROTOCOL: it is that host's failure.
 */
export async function statusFromFacts(request: ServiceRequest, output: Buffer, host: string): Promise<{ hostname: string; report: ActionReport } | undefined> {
  const snapshot = parseHostSnapshot(output, host);
  if (snapshot === undefined) return undefined;
  try {
    return { hostname: snapshot.hostname(), report: await runService(request, snapshot) };
  } catch (error) {
    if (error instanceof NotInSnapshot) return undefined;
    throw error;
  }
}
