/**
 * A CommonJS file compiled through node:vm instead of require(), so that a V8 code cache can be
 * given to the compilation and made from it: inside the function Node's own module wrapper
 * declares. The launcher runs the CLI's bundles this way, and hosts the agent (whose first stage
 * writes the same wrapper into its `node -e` text), so a cache the build makes is one they accept.
 */
import { dirname } from 'node:path';
import { Script } from 'node:vm';

export const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const WRAPPER_TAIL = '\n})';

export function compileCommonJs(source: string, filename: string, cachedData?: Buffer): Script {
  return new Script(`${WRAPPER_HEAD}${source}${WRAPPER_TAIL}`, { filename, ...(cachedData && { cachedData }) });
}

/**
 * Runs COMPILE under V8's --no-lazy: a code cache made from what it compiles (createCachedData)
 * then holds every function, not only those a run calls. V8 accepts such a cache with --lazy back:
 * it checks the flags when a cache is used, not how it was compiled. node:v8 is given, not
 * imported, so that a local run loads it only when it needs it.
 */
export function compiledEagerly<T>(v8: Pick<typeof import('node:v8'), 'setFlagsFromString'>, compile: () => T): T {
  v8.setFlagsFromString('--no-lazy');
  try {
    return compile();
  } finally {
    v8.setFlagsFromString('--lazy');
  }
}

/** Runs a compiled file as the module FILENAME with REQUIRE; returns its exports. */
export function runCommonJs(script: Script, filename: string, require: NodeJS.Require): unknown {
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, require, module, filename, dirname(filename));
  return module.exports;
}
