/**
 * The agent's V8 code cache: made by the build (scripts/build.mjs) from one run of the agent,
 * read by the controller, sent to hosts inside the agent's checked bytes (contract.ts,
 * agentBundle). With it a host's node neither parses the script nor compiles its functions:
 * ~10 ms of CPU of a start or a stop, each host, each run.
 *
 * V8 checks a cache against its own version and flags and the source's length only, so a cache
 * made from an earlier bundle of the same length would run that bundle's code: the file starts
 * with the SHA-256 of the bundle it was made from, and any other bundle goes without it.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { compiledEagerly, runCommonJs } from '../../commonjs-script.js';
import { agentScript, compileAgentScript } from './contract.js';

/** Beside the bundle; not `stapctl.*`, which Ansible would take for the module. */
export function codeCacheFileOf(bundleFile: string): string {
  return join(dirname(bundleFile), 'agent.v8cache');
}

const DIGEST_BYTES = 32;

function digest(bundle: Buffer): Buffer {
  return createHash('sha256').update(bundle).digest();
}

/** The code cache made from `bundle`, or nothing when the file is missing or was made from another bundle. */
export function readCodeCache(bundle: Buffer, file: string): Buffer {
  let cache: Buffer;
  try {
    cache = readFileSync(file);
  } catch {
    return Buffer.alloc(0);
  }
  return cache.length > DIGEST_BYTES && cache.subarray(0, DIGEST_BYTES).equals(digest(bundle)) ? cache.subarray(DIGEST_BYTES) : Buffer.alloc(0);
}

/**
 * Runs the agent in this process (its request on stdin, its answer on stdout) compiled as hosts
 * compile it, and at exit writes the code cache. The script is compiled eagerly: the cache then
 * holds every function, those of start and stop as well as those the build's run calls (start +
 * stop on a farm host 0.95x of its CPU against a cache of the run alone; 330 kB of cache instead
 * of 140).
 */
export function runAgentForCodeCache(bundleFile: string): void {
  const bundle = readFileSync(bundleFile);
  const script = compiledEagerly({ setFlagsFromString }, () => compileAgentScript(agentScript(bundle), bundleFile));
  process.on('exit', () => writeFileSync(codeCacheFileOf(bundleFile), Buffer.concat([digest(bundle), script.createCachedData()])));
  process.argv.splice(1, Infinity, bundleFile, 'agent');
  runCommonJs(script, bundleFile, createRequire(bundleFile));
}
