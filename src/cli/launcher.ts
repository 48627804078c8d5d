/**
 * The stapctl command (dist/cli/main.js): runs the CLI bundle (dist/cli/cli.js), or for a command
 * line of one action word the local bundle (dist/cli/local.js: the engine without the option
 * parser), and, when the CLI asks for it, the fleet bundle (dist/cli/fleet-view.js), each compiled
 * with the V8 code cache that scripts/build.mjs made for it. Node 20 caches no compiled code of a
 * CommonJS file: V8 parses and compiles the bundles anew on every run, which costs more than
 * anything a local `status` does and as much again as Node's own start for fleet mode.
 *
 * V8 checks a cache against the V8 version, its flags and the source's length only: each cache
 * holds a copy of the bundle it was made from, compared byte for byte with the bundle (a memcmp;
 * a CRC-32 needed node:zlib, whose load cost more than the whole comparison), and any other bundle
 * is compiled without it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileCommonJs, compiledEagerly, runCommonJs } from '../commonjs-script.js';
import { VERSION } from '../version.js';
import { plainAction } from './plain-action.js';
import { writeStdout } from './std-write.js';

/** Set by the build to the directory of the bundles: each run with it writes the caches there. */
const WRITE_CACHES_IN = 'STAPCTL_WRITE_CODE_CACHES_IN';
/** A cache file: the bundle's length (4 bytes, big-endian), the bundle, then V8's data. */
const LENGTH_BYTES = 4;

/**
 * The bundles' own `require`: the CLI's one external, the fleet bundle, is loaded by loadBundle too.
 * The bundles sit beside this file, so its own `require` resolves what theirs would, without
 * node:module's createRequire, whose first public use costs a local run 1 % of its CPU.
 */
function bundleRequire(): NodeJS.Require {
  const beside: NodeJS.Require = require;
  return Object.assign((id: string) => (id === './fleet-view.js' ? loadFleetBundle(beside) : beside(id)), beside);
}

/**
 * V8 optimises a function once it has run ~67 kB of bytecode; a fleet run of a few seconds spends
 * more CPU in those background compilations than they win back (status on 64 hosts: 0.85x of CPU
 * with 15 times the budget), and long runs still optimise what stays hot. Set before the fleet
 * bundle is compiled, as when its cache was made; a local run does not load node:v8 for it.
 */
function loadFleetBundle(plain: NodeJS.Require): unknown {
  const v8 = plain('node:v8') as typeof import('node:v8');
  v8.setFlagsFromString('--interrupt-budget=1000000');
  return loadBundle('fleet-view.js', v8);
}

function cachedCode(cacheFile: string, bundle: Buffer): Buffer | undefined {
  let cache: Buffer;
  try {
    cache = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const dataStart = LENGTH_BYTES + bundle.length;
  const madeFromBundle = cache.length > dataStart && cache.readUInt32BE(0) === bundle.length && bundle.equals(cache.subarray(LENGTH_BYTES, dataStart));
  return madeFromBundle ? cache.subarray(dataStart) : undefined;
}

/**
 * EAGERLY (the fleet bundle) is given V8 to compile the build's run eagerly: the cache then holds
 * every function of the bundle, not only those a run that contacts no host calls. Without, ssh2,
 * the facts parser and the engine were compiled on first use in every run (status on 1 host 0.92x
 * of CPU with them cached, 64 hosts 0.97x).
 */
function loadBundle(name: string, eagerly?: typeof import('node:v8')): unknown {
  const file = join(__dirname, name);
  const bytes = readFileSync(file);
  const cacheFile = `${file}.v8cache`;
  const cachedData = cachedCode(cacheFile, bytes);
  const writeCache = process.env[WRITE_CACHES_IN] === __dirname;
  const compile = () => compileCommonJs(bytes.toString('utf8'), file, cachedData);
  const script = writeCache && eagerly !== undefined ? compiledEagerly(eagerly, compile) : compile();
  if (writeCache) {
    // At exit, the cache holds every function this run compiled, not only the top level.
    process.on('exit', () => {
      const length = Buffer.alloc(LENGTH_BYTES);
      length.writeUInt32BE(bytes.length);
      writeFileSync(cacheFile, Buffer.concat([length, bytes, script.createCachedData()]));
    });
  }
  return runCommonJs(script, file, bundleRequire());
}

/**
 * `stapctl --version` alone, as scripts and configuration management run it to see what is
 * installed, answers before loading the CLI: the same line and exit code as the CLI's own
 * -V/--version, without compiling and running the option parser for it.
 */
function asksOnlyForVersion(args: readonly string[]): boolean {
  return args.length === 1 && (args[0] === '--version' || args[0] === '-V');
}

const args = process.argv.slice(2);
if (asksOnlyForVersion(args)) writeStdout(`${VERSION}\n`);
else loadBundle(plainAction(args) === undefined ? 'cli.js' : 'local.js');
