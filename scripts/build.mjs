// Two artefacts: the CLI (compiled by tsc, runs from node_modules) and the agent, one self-contained
// CommonJS file that the controller uploads to hosts, so it must carry its dependencies but not ssh2.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
chmodSync('dist/cli/main.js', 0o755);

await build({
  entryPoints: ['src/agent-main.ts'],
  outfile: 'dist/stapctl.cjs',
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
