/**
 * Local mode, side by side: `stapctl status` against the stock `stap-server status` on the same
 * host state (one running server), each run N times, as ratios of medians.
 *
 *   npm run build && node --import tsx bench/local.ts [--rounds 30]
 *
 * As root. The server is started by stapctl in the real paths (the stock script has no --root),
 * found by both tools, and stopped at the end.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const rounds = Number(values.rounds);

/**
 * A login shell's environment, not this machine's: its shells carry NODE_EXTRA_CA_CERTS, whose CA
 * bundle Node parses at every start (43 ms here), a cost that is the machine's, not stapctl's.
 */
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', LC_ALL: 'C' };

function timed(argv: string[], expectCode: number): number {
  const began = performance.now();
  const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', env: CLEAN_ENV });
  const elapsed = performance.now() - began;
  if (result.status !== expectCode || !/running as PID \d+/.test(result.stdout)) {
    throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stdout}${result.stderr}`);
  }
  return elapsed;
}

const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] as number;

const start = spawnSync(process.execPath, [CLI, 'start', '-r', 'bench-local-release'], { encoding: 'utf8' });
if (start.status !== 0) throw new Error(`could not start a server: ${start.stdout}${start.stderr}`);
try {
  const tools = {
    stapctl: [process.execPath, CLI, 'status'],
    'stock stap-server': ['/usr/bin/stap-server', 'status'],
  };
  const samples: Record<string, number[]> = { stapctl: [], 'stock stap-server': [] };
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, argv] of Object.entries(tools)) samples[name]?.push(timed(argv, 0));
  }
  const base = median(samples.stapctl as number[]);
  console.log(`| tool | median ms | min | max | × stapctl |\n| --- | ---: | ---: | ---: | ---: |`);
  for (const [name, list] of Object.entries(samples)) {
    console.log(`| ${name} | ${median(list).toFixed(1)} | ${Math.min(...list).toFixed(1)} | ${Math.max(...list).toFixed(1)} | ${(median(list) / base).toFixed(2)} |`);
  }
} finally {
  spawnSync(process.execPath, [CLI, 'stop', '-r', 'bench-local-release'], { stdio: 'ignore' });
}
