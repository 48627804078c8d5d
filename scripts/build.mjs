// Two programs, both bundled by esbuild; tsc only type-checks.
// - The CLI (dist/cli/cli.js, run by the bin dist/cli/main.js with a V8 code cache): CommonJS, since
//   Node's ES module loader alone adds ~10 % to a start-up that is mostly Node's own. Fleet mode
//   (ssh2, YAML, zod, the table) is a second bundle, dist/cli/fleet-view.js, that cli.js loads only
//   for -H, so that a local run reads one bundle.
// - The agent (dist/stapctl.cjs): one self-contained file that the controller sends to hosts.
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
// commander requires node:child_process at load for a feature stapctl does not use (executable
// subcommands); a local run that starts no process should not pay for loading it.
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(build) {
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/') ? { path: 'child_process', namespace: 'lazy-child-process' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });",
      loader: 'js',
    }));
  },
};
// commander is needed only by a command line of more than one word (src/cli/argv.ts); its load
// (its classes, node:events, node:process) cost a plain `stapctl status` a tenth of its top level.
// The CLI's imports of it get getters that load the bundled package on first use.
const lazyCommander = {
  name: 'lazy-commander',
  setup(build) {
    build.onResolve({ filter: /^commander$/ }, (args) => (args.namespace === 'lazy-commander' ? undefined : { path: 'commander', namespace: 'lazy-commander' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-commander' }, () => ({
      resolveDir: process.cwd(),
      loader: 'js',
      contents: `const load = () => require('commander');
for (const name of ['Command', 'CommanderError', 'Option']) Object.defineProperty(module.exports, name, { get: () => load()[name], enumerable: true });`,
    }));
  },
};
// node:module (whose require and createRequire cost a local status ~0.35 ms) and node:os (~0.2 ms)
// serve only some runs: a child process to start, the host's name, release and machine, a home
// directory. Our code's imports of their functions become functions that require the module
// when first called: plain function declarations, which cost nothing at load (getters copied
// onto a module object did: ~0.3 ms for these two). An import of another name fails the build.
const LAZY_BUILTINS = {
  'node:module': ['createRequire'],
  'node:os': ['homedir', 'hostname', 'machine', 'release', 'tmpdir', 'userInfo'],
};
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) =>
      Object.hasOwn(LAZY_BUILTINS, args.path) && args.namespace !== 'lazy-builtin' && args.importer.startsWith(resolve('src'))
        ? { path: args.path, namespace: 'lazy-builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: LAZY_BUILTINS[args.path].map((name) => `export function ${name}(...args) { return require(${JSON.stringify(args.path)}).${name}(...args); }`).join('\n'),
    }));
  },
};
// ssh2 is bundled into the fleet bundle: one file to read and compile instead of some forty. Its
// index loads at once what a client never runs: the server, key generation and HTTP agents over
// SSH (with node:http, https and tls); stapctl's 'ssh2' is the client's parts, the rest loaded only
// if asked for. bcrypt-pbkdf (with tweetnacl) only decrypts passphrase-protected keys: loaded when
// one is. Its two native addons stay packages, found at run time as ssh2 finds them.
const SSH2_LIB = /[\\/]node_modules[\\/]ssh2[\\/]lib[\\/]/;
const ssh2ClientOnly = {
  name: 'ssh2-client-only',
  setup(build) {
    build.onResolve({ filter: /^ssh2$/ }, () => ({ path: 'ssh2', namespace: 'ssh2-client' }));
    build.onLoad({ filter: /.*/, namespace: 'ssh2-client' }, () => ({
      resolveDir: process.cwd(),
      loader: 'js',
      contents: `const agent = require('ssh2/lib/agent.js');
const client = { Client: require('ssh2/lib/client.js'), BaseAgent: agent.BaseAgent, createAgent: agent.createAgent, utils: { parseKey: require('ssh2/lib/protocol/keyParser.js').parseKey } };
module.exports = new Proxy(client, { get: (parts, name) => (name in parts ? parts[name] : require('ssh2/lib/index.js')[name]) });`,
    }));
    build.onResolve({ filter: /^\.\/crypto\/build\/Release\/sshcrypto\.node$/ }, () => ({ path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node', external: true }));
    build.onResolve({ filter: /^bcrypt-pbkdf$/ }, (args) => (SSH2_LIB.test(args.importer) ? { path: 'bcrypt-pbkdf', namespace: 'lazy-bcrypt-pbkdf' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'lazy-bcrypt-pbkdf' }, () => ({
      resolveDir: process.cwd(),
      loader: 'js',
      contents: "module.exports = { pbkdf: (...args) => require('bcrypt-pbkdf').pbkdf(...args) };",
    }));
  },
};
// What the fleet bundle's dependencies load at their top and a run seldom uses: Node compiles each
// built-in module anew in every process (~0.3 ms each), and these are some thirty of them. Each
// import is replaced by functions that load the module on their first call (node:zlib, for ssh2's
// compression, which stapctl does not offer, is lazy through patches/ssh2.patch): ssh2's host name
// lookup (node:dns), its agents for Pageant and Cygwin and the processes of
// ProxyCommand, the openssh transport, ssh config's Match exec and inventory scripts
// (node:child_process, with node:dgram and node:net's process handles), the openssh transport's
// files (node:fs/promises, with readline and file watchers), and ASN.1 (asn1 with
// safer-buffer, which copies node:buffer and so loads its File class, and node:assert), which
// ssh2 needs only for DSA and ECDSA keys and SFTP.
/**
 * A module with the names of built-in module ID (as this node has them) that loads it on first use:
 * its functions called through, anything else (classes, constants) behind a getter. Own properties,
 * not a Proxy: esbuild copies a bundled CommonJS module's own properties for an ES import of it.
 */
function loadedOnFirstUse(id) {
  const real = createRequire(import.meta.url)(id);
  const names = Object.keys(real).map((name) => [name, typeof real[name] === 'function' && /^[a-z]/.test(name)]);
  return `const load = () => require(${JSON.stringify(id)});
for (const [name, call] of ${JSON.stringify(names)}) {
  if (call) module.exports[name] = (...args) => load()[name](...args);
  else Object.defineProperty(module.exports, name, { get: () => load()[name], enumerable: true });
}`;
}
const LAZY_IN_FLEET = [
  { filter: /^(node:)?child_process$/, contents: loadedOnFirstUse('node:child_process') },
  { filter: /^node:fs\/promises$/, contents: loadedOnFirstUse('node:fs/promises') },
  { filter: /^dns$/, importer: SSH2_LIB, contents: "module.exports = { lookup: (...args) => require('node:dns').lookup(...args) };" },
  { filter: /^asn1$/, importer: SSH2_LIB, contents: "module.exports = { Ber: new Proxy({}, { get: (_, name) => require('asn1').Ber[name] }) };" },
  {
    filter: /^assert$/,
    importer: SSH2_LIB,
    contents: "module.exports = new Proxy(function assert() {}, { apply: (_, self, args) => require('node:assert')(...args), get: (_, name) => require('node:assert')[name] });",
  },
];
const lazyInFleet = {
  name: 'lazy-in-fleet',
  setup(build) {
    LAZY_IN_FLEET.forEach(({ filter, importer }, index) => {
      build.onResolve({ filter }, (args) =>
        args.namespace === 'lazy-in-fleet' || (importer !== undefined && !importer.test(args.importer)) ? undefined : { path: String(index), namespace: 'lazy-in-fleet' },
      );
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-in-fleet' }, (args) => ({ contents: LAZY_IN_FLEET[Number(args.path)].contents, resolveDir: process.cwd(), loader: 'js' }));
  },
};
await build({
  ...cli,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli/cli.js',
  external: ['./fleet-view.js'],
  supported: { 'dynamic-import': false },
  plugins: [lazyCommander, lazyChildProcessForCommander, lazyBuiltins],
});
// A command line of one action word runs a third bundle, dist/cli/local.js: the engine alone, a
// third of the CLI bundle, for V8 to load from a cache of less than half the size.
await build({ ...cli, entryPoints: ['src/cli/local-main.ts'], outfile: 'dist/cli/local.js', plugins: [lazyBuiltins] });
await build({
  ...cli,
  entryPoints: ['src/cli/fleet-view.ts'],
  outfile: 'dist/cli/fleet-view.js',
  external: ['cpu-features'],
  plugins: [ssh2ClientOnly, lazyInFleet, ssh2Patched(), lazyBuiltins],
});
// The command itself runs the two bundles with a V8 code cache each (src/cli/launcher.ts).
await build({ ...common, minify: true, format: 'cjs', target: 'node20', entryPoints: ['src/cli/launcher.ts'], outfile: 'dist/cli/main.js', banner: { js: '#!/usr/bin/env node' } });
// The root package.json says "module"; these files are CommonJS.
writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
chmodSync('dist/cli/main.js', 0o755);
// The caches hold what a run compiled: a fleet command that contacts no host (`hosts`), then a
// local `status` (the last run writes the CLI bundle's cache), then `status` alone for the local
// bundle's (its root given by STAPCTL_ROOT), in an empty root and home. The root
// has its status directory, as a host where the service is installed, under /var/run, a link to
// /run as on Debian and Red Hat: that status checks each directory of the path, follows the link
// and looks up the server account, which a status of a root without them skips, and which every
// real run then compiled anew.
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
  { 'dist/cli/cli.js.v8cache': 'dist/cli/cli.js', 'dist/cli/local.js.v8cache': 'dist/cli/local.js', 'dist/cli/fleet-view.js.v8cache': 'dist/cli/fleet-view.js' },
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
