// Two programs, both bundled by esbuild; tsc only type-checks.
// - The CLI (dist/cli/main.js, the bin): CommonJS, since Node's ES module loader alone adds ~10 %
//   to a start-up that is mostly Node's own. Fleet mode (ssh2, YAML, zod, the table) is a second
//   bundle, an ES module, that main.js loads only for -H, so that a local run reads one file.
// - The agent (dist/stapctl.cjs): one self-contained file that the controller uploads to hosts.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { stdio: 'inherit' });

const common = { bundle: true, platform: 'node', minify: false, legalComments: 'none', logLevel: 'warning' };
const cli = {
  ...common,
  // Less to compile: V8 reads all of main.js on every run.
  minify: true,
  format: 'cjs',
  target: 'node20',
  // import.meta.url has no CommonJS spelling; findAgentBundle needs where the bundle is.
  define: { 'import.meta.url': '__stapctlModuleUrl' },
  banner: { js: "const __stapctlModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
};

// main.js imports fleet-view.js by that name; the file is an ES module (.mjs), since Node scans a
// CommonJS file that import() loads for its export names, ~0.3 s of CPU for this one.
const fleetViewAsModule = {
  name: 'fleet-view-as-module',
  setup(build) {
    build.onResolve({ filter: /^\.\/fleet-view\.js$/ }, () => ({ path: './fleet-view.mjs', external: true }));
  },
};
await build({ ...cli, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli/main.js', plugins: [fleetViewAsModule] });
await build({
  ...common,
  minify: true,
  entryPoints: ['src/cli/fleet-view.ts'],
  outfile: 'dist/cli/fleet-view.mjs',
  format: 'esm',
  target: 'node20',
  // ssh2 loads an optional native addon by a computed path: it stays a package of its own.
  external: ['ssh2'],
  // The bundled CommonJS packages (cli-table3, yaml, ...) call require() for Node's modules.
  banner: { js: "import { createRequire as __stapctlCreateRequire } from 'node:module'; const require = __stapctlCreateRequire(import.meta.url);" },
});
// The root package.json says "module"; main.js is CommonJS.
writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
chmodSync('dist/cli/main.js', 0o755);

// Minified: every host compiles it on every run, and a first run uploads it.
await build({ ...common, minify: true, entryPoints: ['src/agent-main.ts'], outfile: 'dist/stapctl.cjs', target: 'node18', format: 'cjs' });
