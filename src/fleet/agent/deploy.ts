/**
 * Where the agent lives on a host and the one fixed command line that runs it. The request goes
 * on stdin, so nothing user-supplied is ever part of a remote shell command.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StapctlError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { killProcessGroupCommand } from '../ssh/transport.js';

export interface AgentBundle {
  /** The bundle on this machine. */
  localPath: string;
  /** Where it is cached on a host, relative to the login user's home. */
  remotePath: string;
}

/** The remote command's exit code when the cached agent is missing: upload it, then run again. */
export const AGENT_MISSING = 97;
/** The remote command's exit code when the host has no node. */
export const NODE_MISSING = 98;

export function findAgentBundle(env: NodeJS.ProcessEnv = process.env): AgentBundle {
  const candidates = [
    env.STAPCTL_AGENT_BUNDLE,
    // The CLI bundle's chunks are in dist/cli/; this source file is src/fleet/agent/deploy.ts.
    fileURLToPath(new URL('../stapctl.cjs', import.meta.url)),
    fileURLToPath(new URL('../../../dist/stapctl.cjs', import.meta.url)),
  ].filter((path): path is string => !!path);
  const localPath = candidates.find((path) => existsSync(path));
  if (!localPath) {
    throw new StapctlError('AGENT_FAILED', `the agent bundle is missing (looked in ${candidates.join(', ')})`, { hint: "run 'npm run build'" });
  }
  return { localPath, remotePath: agentRemotePath(readFileSync(localPath)) };
}

/** A path per version and content, so hosts never run a stale or foreign agent. */
export function agentRemotePath(bundle: Buffer, version = VERSION): string {
  const hash = createHash('sha256').update(bundle).digest('hex').slice(0, 12);
  return `.cache/stapctl/${version}-${hash}/stapctl.cjs`;
}

/**
 * One exec per host and action: checks for node and for the cached agent, then runs it, as the
 * login user or (become) as root through `sudo -n`, which fails instead of asking for a password.
 */
export function agentCommand(bundle: AgentBundle, become: boolean): string {
  if (!/^[\w./-]+$/.test(bundle.remotePath)) throw new Error(`unsafe agent path ${bundle.remotePath}`);
  const run = become ? 'exec sudo -n -- "$n" "$a" agent' : 'exec "$n" "$a" agent';
  return [
    'n=$(command -v node || command -v nodejs)',
    `[ -n "$n" ] || { echo "node not found in PATH=$PATH" >&2; exit ${NODE_MISSING}; }`,
    `a="$HOME/${bundle.remotePath}"`,
    `[ -f "$a" ] || exit ${AGENT_MISSING}`,
    run,
  ].join('; ');
}

/**
 * Kills the process group of an agent past its deadline. With become the agent runs as root, so
 * the kill goes through sudo as well, and through the same node that ran the agent: a sudo rule
 * that allows the login user only node (what AGENT_FAILED's hint suggests) then covers it too.
 */
export function agentKillCommand(processGroup: number, become: boolean): string {
  if (!Number.isInteger(processGroup) || processGroup <= 1) throw new Error(`not a process group: ${processGroup}`);
  if (!become) return killProcessGroupCommand(processGroup);
  return [
    'n=$(command -v node || command -v nodejs)',
    `exec sudo -n -- "$n" -e 'process.kill(-Number(process.argv[1]), "SIGKILL")' ${processGroup}`,
  ].join('; ');
}
