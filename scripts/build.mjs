// Two programs, both bundled by esbuild; tsc only type-checks.
// - The CLI (dist/cli/cli.js, run by the bin dist/cli/main.js with a V8 code cache): CommonJS, since
//   Node's ES module loader alone adds ~10 % to a start-up that is mostly Node's own. Fleet mode
//   (ssh2, YAML, zod, the table) is a second bundle, dist/cli/fleet-view.js, that cli.js loads only
//   for -H, so that a local run reads one bundle.
// - The agent (dist/stapctl.cjs): one self-contained file that the controller sends to hosts.
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { COMMANDER, FLEET_DEPENDENCIES, firstUse, OUR_BUILT_INS } from './first-use.mjs';
import { ssh2ClientOnly } from './ssh2-client-only.mjs';
import { ssh2Patched } from './ssh2-patch.mjs';

rmSync('dist', { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { stdio: 'inherit' });

const common = { bundle: true, platform: 'node', minify: false, legalComments: 'none', logLevel: 'warning' };
const cli = {
  ...common,
  // Less to compile: V8 reads all of main.js on every run.
  minify: true,
  format: 'cjs',
  target: 'node20',
  // import.meta.url has no CommonJS spelling; findAgentBundle needs where the bundle is. A getter:
  // a run that never asks (a local one) does not pay for the URL.
  define: { 'import.meta.url': '__stapctlModule.url' },
  banner: { js: "const __stapctlModule = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
};

// Fleet mode is a second CommonJS bundle that main.js require()s (esbuild turns its import() into
// one): no ES module loader at all, and no scan of the file for export names, which import() of
// a CommonJS file costs.
// ssh2 is bundled into the fleet bundle, the client's parts only (scripts/ssh2-client-only.mjs):
// one file to read and compile instead of some forty.
// The CLI's bundles, each run by the launcher with the code cache beside it (`<bundle>.v8cache`).
const CLI_BUNDLE = 'dist/cli/cli.js';
const LOCAL_BUNDLE = 'dist/cli/local.js';
const FLEET_BUNDLE = 'dist/cli/fleet-view.js';
await build({
  ...cli,
  entryPoints: ['src/cli/main.ts'],
  outfile: CLI_BUNDLE,
  external: ['./fleet-view.js'],
  supported: { 'dynamic-import': false },
  plugins: [firstUse([...COMMANDER, ...OUR_BUILT_INS])],
});
// A command line of one action word runs a third bundle, dist/cli/local.js: the engine alone, a
// third of the CLI bundle, for V8 to load from a cache of less than half the size.
await build({ ...cli, entryPoints: ['src/cli/local-main.ts'], outfile: LOCAL_BUNDLE, plugins: [firstUse(OUR_BUILT_INS)] });
await build({
  ...cli,
  entryPoints: ['src/cli/fleet-view.ts'],
  outfile: FLEET_BUNDLE,
  plugins: [ssh2ClientOnly(), firstUse([...FLEET_DEPENDENCIES, ...OUR_BUILT_INS]), ssh2Patched()],
});
// The command itself: it runs one of the bundles with its code cache (src/cli/launcher.ts).
await build({ ...common, minify: true, format: 'cjs', target: 'node20', entryPoints: ['src/cli/launcher.ts'], outfile: 'dist/cli/main.js', banner: { js: '#!/usr/bin/env node' } });
// The root package.json says "module"; these files are CommonJS.
writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
chmodSync('dist/cli/main.js', 0o755);
// The caches hold what a run compiled: a fleet command that contacts no host (`hosts`), then a
// local `status` (the last run writes the CLI bundle's cache), then `status` alone for the local
// bundle's (its root given by STAPCTL_ROOT), in an empty root and home. The root has its status
// directory, as a host where the service is installed, under /var/run, a link to /run as on
// Debian and Red Hat: that status checks each directory of the path, follows the link and looks
// up the server account, which a status of a root without them skips, and which every real run
// then compiled anew.
runForCodeCache(
  (scratch) => {
    mkdirSync(join(scratch, 'run/stap-server'), { recursive: true, mode: 0o755 });
    mkdirSync(join(scratch, 'var'), { mode: 0o755 });
    symlinkSync(join(scratch, 'run'), join(scratch, 'var/run'));
    return [
      { argv: ['dist/cli/main.js', '-H', 'code-cache', '--adhoc', 'hosts', '--json'] },
      { argv: ['dist/cli/main.js', 'status', '--root', scratch] },
      { argv: ['dist/cli/main.js', 'status'], env: { STAPCTL_ROOT: scratch } },
    ];
  },
  { STAPCTL_WRITE_CODE_CACHES_IN: resolve('dist/cli') },
  Object.fromEntries([CLI_BUNDLE, LOCAL_BUNDLE, FLEET_BUNDLE].map((bundle) => [`${bundle}.v8cache`, bundle])),
);

/**
 * Runs this node once per run that `runsIn` lists for a scratch directory (the runs' empty root and
 * home, removed after), with stdin the run's input if it has one and its own variables besides
 * ENV; throws unless each cache file that `expected` maps to its bundle was written.
 */
function runForCodeCache(runsIn, env, expected) {
  const scratch = mkdtempSync(join(tmpdir(), 'stapctl-build-'));
  try {
    for (const { argv, input, env: runEnv } of runsIn(scratch)) {
      const stdin = input === undefined ? 'ignore' : 'pipe';
      const run = spawnSync(process.execPath, argv, { env: { PATH: process.env.PATH, HOME: scratch, ...env, ...runEnv }, input, stdio: [stdin, 'ignore', 'pipe'] });
      if (run.error) throw run.error;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const [cache, bundle] of Object.entries(expected)) {
    if (!existsSync(cache)) throw new Error(`no code cache was written for ${bundle}`);
  }
}

// Minified: every host compiles it on every run, and a first run sends it. Ansible runs a module
// by its interpreter line and passes it JSON arguments when it says WANT_JSON.
await build({
  ...common,
  minify: true,
  entryPoints: ['src/agent-main.ts'],
  outfile: 'dist/stapctl.cjs',
  target: 'node18',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node\n// WANT_JSON' },
});

// The agent's V8 code cache (src/fleet/agent/code-cache.ts): every function of the agent, compiled
// as hosts compile it and run once for a `status` of an empty root, by this node with no V8 flags
// (a host's node with other flags or another V8 rejects it).
await build({
  ...common,
  stdin: { contents: "import { runAgentForCodeCache } from './src/fleet/agent/code-cache.ts'; runAgentForCodeCache(process.argv[2]);", resolveDir: process.cwd(), loader: 'ts' },
  outfile: 'dist/agent-code-cache.cjs',
  format: 'cjs',
  target: 'node20',
});
try {
  runForCodeCache(
    (scratch) => [{ argv: ['dist/agent-code-cache.cjs', resolve('dist/stapctl.cjs')], input: JSON.stringify({ protocol: 1, request: { action: 'status', tokens: [], root: scratch } }) }],
    {},
    { 'dist/agent.v8cache': 'dist/stapctl.cjs' },
  );
} finally {
  rmSync('dist/agent-code-cache.cjs');
}

// stapctl(1) from the option definitions themselves (src/cli/man-page.ts): bundled, run once,
// written to man/stapctl.1 (package.json "man"); the bundle that wrote it is not kept. Not under
// dist/: Ansible, given dist/ as its module library, takes any stapctl.* in it or below it for
// the module.
const manBundle = 'dist/man-page.mjs';
await build({
  ...common,
  entryPoints: ['src/cli/man-page.ts'],
  outfile: manBundle,
  format: 'esm',
  target: 'node20',
  banner: { js: "import { createRequire as __stapctlCreateRequire } from 'node:module'; const require = __stapctlCreateRequire(import.meta.url);" },
});
const { manPage } = await import(pathToFileURL(manBundle).href);
mkdirSync('man', { recursive: true });
writeFileSync('man/stapctl.1', manPage());
rmSync(manBundle);
