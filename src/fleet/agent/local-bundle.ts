/**
 * Where the agent bundle and its code cache are on this machine. Apart from the contract because
 * the bundle imports the contract, and finding a file next to this module needs ESM's import.meta.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StapctlError } from '../../errors.js';
import { codeCacheFileOf, readCodeCache } from './code-cache.js';
import { agentBundle, type AgentBundle } from './contract.js';

export function findAgentBundle(env: NodeJS.ProcessEnv = process.env): AgentBundle {
  const candidates = [
    env.STAPCTL_AGENT_BUNDLE,
    // The CLI bundle's chunks are in dist/cli/; this source file is src/fleet/agent/local-bundle.ts.
    fileURLToPath(new URL('../stapctl.cjs', import.meta.url)),
    fileURLToPath(new URL('../../../dist/stapctl.cjs', import.meta.url)),
  ].filter((path): path is string => !!path);
  const localPath = candidates.find((path) => existsSync(path));
  if (!localPath) {
    throw new StapctlError('AGENT_FAILED', `the agent bundle is missing (looked in ${candidates.join(', ')})`, { hint: "run 'npm run build'" });
  }
  const bundle = readFileSync(localPath);
  return agentBundle(bundle, undefined, readCodeCache(bundle, codeCacheFileOf(localPath)));
}
