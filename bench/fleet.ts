/**
 * Fleet-mode benchmark: stapctl side by side with pssh, ClusterShell and Ansible on one namespace
 * test farm (test/fleet/farm.ts) that the benchmark brings up at 127.0.3.1 and tears down itself.
 *
 *   node --import tsx bench/fleet.ts [--hosts 16[,64,256,1000]] [--rounds 5] [--forks 32]
 *        [--tools stapctl,pssh,pssh-c25519,ssh2,clush,ansible] [--no-cycles] [--no-start-i]
 *        [--no-profile] [--startup-rounds 20] [--first-run-rounds N] [--timeout 300] [--json FILE]
 *
 * A farm of up to 64 hosts runs every scenario; a larger one (up to 1000, over several /24s) runs
 * the scale scenario only: status with no server running, stapctl against pssh-c25519 and ssh2
 * alone (bench/ssh2-client.ts). The report opens with issue 7's targets table computed from this
 * one run.
 *
 * Needs root, a built dist/ (npm run build), and the Debian packages pssh, clustershell, ansible.
 * Every timed run is checked (exit code, every host answered, the expected servers listed or
 * status files present) and a run that fails a check stops the benchmark: a broken run is never
 * timed as a fast one. The CPU of an action is counted in cgroups (bench/cpu-cgroup.ts): the
 * tool's and the farm's, apart from what else the machine runs (its busy time is reported beside).
 * bench/README.md explains what is measured and holds the results.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem, tmpdir } from 'node:os';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { AGENT_PROTOCOL, runAgent, type AgentBundle } from '../src/fleet/agent/contract.js';
import { createCpuCgroup, type CpuCgroup } from './cpu-cgroup.js';
import { findAgentBundle } from '../src/fleet/agent/local-bundle.js';
import { planAuth } from '../src/fleet/ssh/auth.js';
import { OpensshTransport } from '../src/fleet/ssh/openssh-transport.js';
import { connect, type SshSession } from '../src/fleet/ssh/transport.js';
import { FACTS_COMMAND } from '../src/fleet/facts/facts-command.js';
import { statusFromFacts } from '../src/fleet/facts/status-from-facts.js';
import type { ServiceRequest } from '../src/service/engine.js';
import { ansibleSshArgs, farmRoute, startFarm, type Farm } from '../test/fleet/farm.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'dist', 'cli', 'main.js');
const STOCK = '/usr/bin/stap-server';
/**
 * Away from the test farms (127.0.1.x to 127.0.9.x) so that a benchmark and the tests can run at
 * once; 1000 hosts reach 127.0.19.232.
 */
const FIRST_ADDRESS = '127.0.16.1';
/** Above this many hosts a farm runs the scale scenario only: status with no server running. */
const SCALE_ABOVE = 64;
const MAX_HOSTS = 1000;

export const TOOLS = ['stapctl', 'stapctl-openssh', 'pssh', 'pssh-c25519', 'ssh2', 'clush', 'ansible'] as const;
export type Tool = (typeof TOOLS)[number];

interface BenchOptions {
  hostCounts: number[];
  rounds: number;
  forks: number;
  tools: Tool[];
  cycles: boolean;
  startupRounds: number;
  /** Pairs of a first run and a warm one: their ratio moves by ±0.1 at 3 (default: --rounds). */
  firstRunRounds: number;
  /** The start -i cycle (not the same work for every tool); the same-work cycle runs with cycles. */
  startI: boolean;
  profile: boolean;
  timeoutMs: number;
  jsonFile?: string;
}

/** What one tool reported for one host. */
export interface HostOutput {
  ok: boolean;
  /** Servers listed as running (the stock `running as PID` lines, or stapctl's running servers). */
  running: number;
  text: string;
}

interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** ru_maxrss of the largest process of the tool's tree (GNU time's %M): the controller for all five. */
  maxRssKb: number;
  /** User + system CPU of the tool and the children it waited for (ssh clients, Ansible's forks). */
  controllerCpuS: number;
  /** Every CPU second this machine spent during the run: controller, sshd, remote commands, agents, and anything else it ran. */
  machineCpuS: number;
  /**
   * The CPU of the action alone: the tool's processes and the farm's (each in a cgroup of its own,
   * the farm's counted until its sessions have exited) and the machine's interrupts (the loopback's
   * packets are handled there). NaN for commands run without a farm.
   */
  actionCpuS: number;
}

interface Sample {
  farmHosts: number;
  scenario: string;
  tool: string;
  round: number;
  wallMs: number;
  maxRssKb: number;
  controllerCpuS: number;
  machineCpuS: number;
  actionCpuS: number;
}

/** Where the CPU of an action is counted: the tool's cgroup and the farm's (its sshd processes). */
interface ActionCgroups {
  tool: CpuCgroup;
  farm: CpuCgroup;
  /** The listening sshd of each host (the farm's PID 1s): there between actions. */
  listeners: ReadonlySet<number>;
}

interface FarmContext {
  farm: Farm;
  cgroups: ActionCgroups;
  hostsFile: string;
  forks: number;
  timeoutMs: number;
  scratch: string;
  runDir: string;
  /** bench/ssh2-client.ts as bundleSsh2Client made it, for the ssh2 tool. */
  ssh2Client: string;
}

// ---------------------------------------------------------------------------------------------
// Pure parts: command lines, output parsers, statistics, the report.

/** The command line that runs the stock script's ACTION (or stapctl's) on every farm host. */
export function toolArgv(tool: Tool, context: Pick<FarmContext, 'hostsFile' | 'forks' | 'timeoutMs' | 'ssh2Client'> & { inventory: string; knownHosts: string; sshConfig: string; hostCount: number }, action: readonly string[]): string[] {
  const seconds = String(Math.ceil(context.timeoutMs / 1000));
  switch (tool) {
    case 'stapctl':
    case 'stapctl-openssh':
      return [
        'node', CLI, '--inventory', context.inventory, '--known-hosts', context.knownHosts, '-f', String(context.forks), '-H', 'farm', ...action, '--json',
        // The system ssh client, one ControlMaster per host (OpenSSH's default key exchange).
        ...(tool === 'stapctl-openssh' ? ['--transport', 'openssh'] : []),
      ];
    case 'pssh':
    case 'pssh-c25519':
      return [
        'parallel-ssh', '-h', context.hostsFile, '-x', `-F ${context.sshConfig}`, '-p', String(context.forks), '-t', seconds, '-i',
        // OpenSSH 9's default key exchange (sntrup761x25519) costs ~6x the CPU of curve25519, the one ssh2 uses.
        ...(tool === 'pssh-c25519' ? ['-O', 'KexAlgorithms=curve25519-sha256'] : []),
        STOCK, ...action,
      ];
    case 'ssh2':
      return ['node', context.ssh2Client, context.sshConfig, context.hostsFile, String(context.forks), seconds, [STOCK, ...action].join(' ')];
    case 'clush':
      return ['clush', '-w', `h[1-${context.hostCount}]`, '-f', String(context.forks), '-u', seconds, '-o', `-F ${context.sshConfig}`, STOCK, ...action];
    case 'ansible':
      return ['ansible', 'farm', '-i', context.inventory, '-m', 'command', '-a', [STOCK, ...action].join(' '), '-f', String(context.forks), '-T', seconds];
  }
}

/** stapctl --json: one entry per host with its state and its servers. */
export function parseStapctl(stdout: string): Map<string, HostOutput> {
  const document = JSON.parse(stdout) as { hosts: { host: string; state: string; result?: { servers?: { outcome: string }[] } }[] };
  return new Map(
    document.hosts.map((host) => [
      host.host,
      { ok: host.state === 'ok', running: (host.result?.servers ?? []).filter((server) => server.outcome === 'running').length, text: JSON.stringify(host) },
    ]),
  );
}

const RUNNING_LINE = /running as PID \d+/;
/** What status says on a host with no server: the stock line, or stapctl's host state. */
const NO_SERVER = /No managed stap-server is running|"state":"not-running"/;

function hostOutput(ok: boolean, lines: readonly string[]): HostOutput {
  return { ok, running: lines.filter((line) => RUNNING_LINE.test(line)).length, text: lines.join('\n') };
}

/** parallel-ssh -i: `[1] 18:26:19 [SUCCESS] h1` then the host's output, host after host. */
export function parsePssh(stdout: string): Map<string, HostOutput> {
  const hosts = new Map<string, HostOutput>();
  let current: { name: string; ok: boolean; lines: string[] } | undefined;
  const flush = () => {
    if (current) hosts.set(current.name, hostOutput(current.ok, current.lines));
  };
  for (const line of stdout.split('\n')) {
    const header = /^\[\d+\] \d\d:\d\d:\d\d \[(SUCCESS|FAILURE)\] (\S+)/.exec(line);
    if (header) {
      flush();
      current = { name: header[2] as string, ok: header[1] === 'SUCCESS', lines: [] };
    } else {
      current?.lines.push(line);
    }
  }
  flush();
  return hosts;
}

const CLUSH_FAILURE = /^clush: ([\w.-]+): .*(?:exit code|timeout)/gm;
/** bench/ssh2-client.ts writes a line on stderr for a failed host only. */
const SSH2_CLIENT_FAILURE = /^ssh2-client: ([\w.-]+): /gm;

/**
 * clush: `h1: line` on stdout; `clush: h1: exited with exit code N` on stderr for a failure
 * (FAILURE_LINE: bench/ssh2-client.ts writes clush's format too).
 */
export function parseClush(stdout: string, stderr: string, failureLine = CLUSH_FAILURE): Map<string, HostOutput> {
  const lines = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const match = /^([\w.-]+): (.*)$/.exec(line);
    if (match) lines.set(match[1] as string, [...(lines.get(match[1] as string) ?? []), match[2] as string]);
  }
  const failed = new Set([...stderr.matchAll(failureLine)].map((match) => match[1] as string));
  for (const host of failed) if (!lines.has(host)) lines.set(host, []);
  return new Map([...lines].map(([host, text]) => [host, hostOutput(!failed.has(host), text)]));
}

/** ansible ad-hoc: `h1 | CHANGED | rc=0 >>` then the output; `h1 | UNREACHABLE! => {` for a dead host. */
export function parseAnsible(stdout: string): Map<string, HostOutput> {
  const hosts = new Map<string, HostOutput>();
  let current: { name: string; ok: boolean; lines: string[] } | undefined;
  const flush = () => {
    if (current) hosts.set(current.name, hostOutput(current.ok, current.lines));
  };
  for (const line of stdout.split('\n')) {
    const header = /^(\S+) \| (CHANGED|SUCCESS|FAILED!?|UNREACHABLE!)(?: \| rc=(\d+))?/.exec(line);
    if (header) {
      flush();
      current = { name: header[1] as string, ok: (header[2] === 'CHANGED' || header[2] === 'SUCCESS') && (header[3] ?? '0') === '0', lines: [] };
    } else {
      current?.lines.push(line);
    }
  }
  flush();
  return hosts;
}

export function parseToolOutput(tool: Tool, stdout: string, stderr: string): Map<string, HostOutput> {
  switch (tool) {
    case 'stapctl':
    case 'stapctl-openssh':
      return parseStapctl(stdout);
    case 'pssh':
    case 'pssh-c25519':
      return parsePssh(stdout);
    case 'ssh2':
      return parseClush(stdout, stderr, SSH2_CLIENT_FAILURE);
    case 'clush':
      return parseClush(stdout, stderr);
    case 'ansible':
      return parseAnsible(stdout);
  }
}

/**
 * Why a run does not count, or undefined when it does: a non-zero exit, a host missing from the
 * output or failed, or (status) a host that does not list the expected number of running servers.
 */
export function runProblem(hosts: readonly string[], code: number, outputs: ReadonlyMap<string, HostOutput>, expectedRunning?: number, noServer = false): string | undefined {
  // With no server running, status exits 3 on every host, and the tools report that as a failure.
  if (code !== 0 && !noServer) return `exit code ${code}`;
  for (const host of hosts) {
    const output = outputs.get(host);
    if (output === undefined) return `${host} is missing from the output`;
    if (noServer ? !NO_SERVER.test(output.text) : !output.ok) return `${host} failed: ${output.text.slice(0, 400)}`;
    if (expectedRunning !== undefined && output.running !== expectedRunning) {
      return `${host} lists ${output.running} running servers, expected ${expectedRunning}: ${output.text.slice(0, 400)}`;
    }
  }
  const extra = [...outputs.keys()].find((host) => !hosts.includes(host));
  return extra === undefined ? undefined : `the output names a host that is not in the farm: ${extra}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Puts each tool first in turn, so that no tool always runs right after the same other one. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const shift = round % Math.max(items.length, 1);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

interface Row {
  tool: string;
  median: number;
  min: number;
  max: number;
  ratio: number;
  rssMb: number;
  controllerCpuS: number;
  actionCpuS: number;
  machineCpuS: number;
  rounds: number;
}

/** One row per tool of a scenario; ratios are to the row named `base` (stapctl). */
export function scenarioRows(samples: readonly Sample[], base: string): Row[] {
  const tools = [...new Set(samples.map((sample) => sample.tool))];
  const baseMedian = median(samples.filter((sample) => sample.tool === base).map((sample) => sample.wallMs));
  return tools.map((tool) => {
    const mine = samples.filter((sample) => sample.tool === tool);
    const walls = mine.map((sample) => sample.wallMs);
    return {
      tool,
      median: median(walls),
      min: Math.min(...walls),
      max: Math.max(...walls),
      ratio: median(walls) / baseMedian,
      rssMb: median(mine.map((sample) => sample.maxRssKb)) / 1024,
      controllerCpuS: median(mine.map((sample) => sample.controllerCpuS)),
      actionCpuS: median(mine.map((sample) => sample.actionCpuS)),
      machineCpuS: median(mine.map((sample) => sample.machineCpuS)),
      rounds: mine.length,
    };
  });
}

export function renderRows(rows: readonly Row[]): string {
  const seconds = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    '| tool | median s | min s | max s | × stapctl | peak RSS MB | controller CPU s | action CPU s | machine busy s | rounds |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((row) =>
      `| ${row.tool} | ${seconds(row.median)} | ${seconds(row.min)} | ${seconds(row.max)} | ${row.ratio.toFixed(2)} | ${row.rssMb.toFixed(0)} | ${row.controllerCpuS.toFixed(2)} | ${row.actionCpuS.toFixed(2)} | ${row.machineCpuS.toFixed(2)} | ${row.rounds} |`,
    ),
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Side effects: processes, the farm, the clock.

/** Busy jiffies of all CPUs (all of them, and those of interrupts), from the first line of /proc/stat, in seconds. */
async function machineCpuSeconds(): Promise<{ busy: number; interrupts: number }> {
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = (await readFile('/proc/stat', 'utf8')).split('\n')[0]?.trim().split(/\s+/).map(Number) ?? [];
  return { busy: (user + nice + system + irq + softirq) / 100, interrupts: (irq + softirq) / 100 };
}

/**
 * The farm's CPU for an action goes on after the tool exits: sshd ends each session once the client
 * has gone. Waits (up to 10 s) until no sshd but the hosts' listening ones is left in the farm's
 * cgroup, so that the whole action is counted at every farm size, its last sessions included.
 */
async function farmSettled(cgroups: ActionCgroups): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const others = (await cgroups.farm.pids()).filter((pid) => !cgroups.listeners.has(pid));
    const comms = await Promise.all(others.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')));
    if (!comms.some((comm) => comm.trim() === 'sshd')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * What every measured command runs with: the environment of a login shell on a fresh machine, not
 * this one's. Shells here carry NODE_EXTRA_CA_CERTS (and a dozen other CA bundle variables), and
 * Node parses that whole bundle when it starts, before any script: `node -e 0` took 73 ms of CPU
 * with it and 30 ms without, which made every node process look 43 ms heavier and stapctl's ratios
 * to `node -e 0` look better than they are. The hosts' own commands get sshd's clean environment.
 */
const CLEAN_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: process.env.HOME ?? '/root',
  USER: process.env.USER ?? 'root',
  // Ansible refuses to start under a locale that is not UTF-8.
  LANG: 'C.UTF-8',
};

/**
 * Runs argv under GNU time in its own process group, killed (by that group's id) at the deadline.
 * With CGROUPS, the command runs in the tool's cgroup (a shell moves itself there, then executes
 * GNU time), and the action's CPU is counted from the tool's and the farm's cgroups.
 */
async function measure(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd: string; timeoutMs: number; scratch: string; cgroups?: ActionCgroups }): Promise<Measured> {
  const timeFile = join(options.scratch, 'time.out');
  await rm(timeFile, { force: true });
  const { cgroups } = options;
  const actionBefore = cgroups && (await Promise.all([cgroups.tool.usageSeconds(), cgroups.farm.usageSeconds()]));
  const cpuBefore = await machineCpuSeconds();
  const began = performance.now();
  const timed = ['/usr/bin/time', '-f', '%M %U %S', '-o', timeFile, '--', ...argv];
  const [command, ...args] = cgroups ? ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroups.tool.procsFile, ...timed] : timed;
  const child = spawn(command as string, args, {
    cwd: options.cwd,
    env: { ...CLEAN_ENV, ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, options.timeoutMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode ?? 128));
  }).finally(() => clearTimeout(timer));
  const wallMs = performance.now() - began;
  const cpuAfter = await machineCpuSeconds();
  const machineCpuS = cpuAfter.busy - cpuBefore.busy;
  if (timedOut) throw new Error(`${argv.join(' ')} did not finish within ${options.timeoutMs / 1000} s`);
  let actionCpuS = Number.NaN;
  if (cgroups && actionBefore) {
    await farmSettled(cgroups);
    const [tool, farm] = await Promise.all([cgroups.tool.usageSeconds(), cgroups.farm.usageSeconds()]);
    actionCpuS = tool - actionBefore[0] + (farm - actionBefore[1]) + ((await machineCpuSeconds()).interrupts - cpuBefore.interrupts);
  }
  const timeLine = (await readFile(timeFile, 'utf8')).trim().split('\n').at(-1) ?? '';
  const [rss = Number.NaN, user = Number.NaN, system = Number.NaN] = timeLine.split(' ').map(Number);
  return { code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), wallMs, maxRssKb: rss, controllerCpuS: user + system, machineCpuS, actionCpuS };
}

function commandOutput(command: string, argv: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, argv, { timeout: 20_000 }, (error, stdout, stderr) => resolve(error && !stdout && !stderr ? `(${command} failed: ${error.message})` : `${stdout}${stderr}`.trim()));
  });
}

const TOOL_ENV: Partial<Record<Tool, NodeJS.ProcessEnv>> = {
  stapctl: { NO_COLOR: '1' },
  'stapctl-openssh': { NO_COLOR: '1' },
  // The hosts share this machine's /usr, so python3 is where Ansible's discovery would find it.
  ansible: { ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3', ANSIBLE_NOCOLOR: '1' },
};

class Bench {
  readonly samples: Sample[] = [];

  constructor(private readonly context: FarmContext) {}

  private get farm(): Farm {
    return this.context.farm;
  }

  private argv(tool: Tool, action: readonly string[]): string[] {
    return toolArgv(tool, {
      ...this.context,
      inventory: this.farm.inventoryFile,
      knownHosts: this.farm.knownHostsFile,
      sshConfig: this.farm.sshConfigFile,
      hostCount: this.farm.hosts.length,
    }, action);
  }

  /** Runs ACTION with TOOL on the whole farm, checks it, and returns the measurement. */
  async run(tool: Tool, action: readonly string[], expectedRunning?: number, noServer = false): Promise<Measured> {
    const env = tool === 'ansible' ? { ...TOOL_ENV.ansible, ...ansibleSshArgs(this.farm.knownHostsFile) } : TOOL_ENV[tool];
    const measured = await measure(this.argv(tool, action), { env, cwd: this.context.scratch, timeoutMs: this.context.timeoutMs, scratch: this.context.scratch, cgroups: this.context.cgroups });
    // `stapctl status` exits 0 only when every server runs; the others' exit codes are checked per host.
    let outputs: Map<string, HostOutput>;
    try {
      outputs = parseToolOutput(tool, measured.stdout, measured.stderr);
    } catch (error) {
      throw new Error(`${tool} ${action.join(' ')}: unreadable output (${(error as Error).message}):\n${measured.stdout.slice(0, 2000)}\n${measured.stderr.slice(0, 2000)}`, { cause: error });
    }
    const problem = runProblem(this.farm.hosts.map((host) => host.name), measured.code, outputs, expectedRunning, noServer);
    if (problem !== undefined) {
      throw new Error(`${tool} ${action.join(' ')} on ${this.farm.hosts.length} hosts does not count: ${problem}\nstderr: ${measured.stderr.slice(0, 2000)}`);
    }
    return measured;
  }

  record(scenario: string, tool: string, round: number, measured: Pick<Measured, 'wallMs' | 'maxRssKb' | 'controllerCpuS' | 'machineCpuS' | 'actionCpuS'>): void {
    const { wallMs, maxRssKb, controllerCpuS, machineCpuS, actionCpuS } = measured;
    this.samples.push({ farmHosts: this.farm.hosts.length, scenario, tool, round, wallMs, maxRssKb, controllerCpuS, machineCpuS, actionCpuS });
    process.stderr.write(`  ${scenario} ${tool} round ${round + 1}: ${(wallMs / 1000).toFixed(2)} s\n`);
  }

  /** The status files on each host: what a start left running, independently of the tool's own report. */
  async statFiles(): Promise<Map<string, number>> {
    const counts = await Promise.all(
      this.farm.hosts.map(async (host) => {
        const entries = await readdir(join(host.dir, 'state', this.context.runDir, 'stap-server')).catch(() => []);
        return [host.name, entries.filter((entry) => /^\d+\.stat$/.test(entry)).length] as const;
      }),
    );
    return new Map(counts);
  }

  async expectStatFiles(perHost: number, after: string): Promise<void> {
    const wrong = [...(await this.statFiles())].filter(([, count]) => count !== perHost);
    if (wrong.length > 0) {
      throw new Error(`after ${after}: expected ${perHost} status files per host, found ${wrong.map(([host, count]) => `${host}: ${count}`).join(', ')}`);
    }
  }

  async clearAgentCache(): Promise<void> {
    await Promise.all(this.farm.hosts.map((host) => rm(join(host.dir, 'state', 'root', '.cache', 'stapctl'), { recursive: true, force: true })));
  }
}

/**
 * The agent install on a fresh farm against a cached agent, stapctl only. `status` needs no agent
 * (the facts answer it), so this is `start -i` with its servers already running: the agent checks
 * each and starts nothing, and the status files stay as they are.
 */
async function firstRunScenario(bench: Bench, rounds: number, running: number): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    await bench.clearAgentCache();
    bench.record('first run (agent install)', 'stapctl', round, await bench.run('stapctl', ['start', '-i']));
    bench.record('first run (agent install)', 'stapctl warm', round, await bench.run('stapctl', ['start', '-i']));
    await bench.expectStatFiles(running, 'start -i of running servers');
  }
}

async function statusScenario(bench: Bench, tools: readonly Tool[], rounds: number, running: number): Promise<void> {
  // One untimed run each: stapctl's agent is cached, Ansible's ControlPersist masters are up, caches are warm.
  for (const tool of tools) await bench.run(tool, ['status'], running);
  for (let round = 0; round < rounds; round += 1) {
    for (const tool of rotate(tools, round)) bench.record('status', tool, round, await bench.run(tool, ['status'], running));
  }
}

/**
 * A start then a stop on every host, timed apart and together. ACTION_FOR gives each tool's start
 * command line and the status files it must leave per host.
 */
async function cycleScenario(bench: Bench, name: string, tools: readonly Tool[], rounds: number, startFor: (tool: Tool) => { action: string[]; servers: number }): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    for (const tool of rotate(tools, round)) {
      const { action, servers } = startFor(tool);
      const started = await bench.run(tool, action);
      await bench.expectStatFiles(servers, `${tool} ${action.join(' ')}`);
      const stopped = await bench.run(tool, ['stop']);
      await bench.expectStatFiles(0, `${tool} stop`);
      bench.record(`${name}: start`, tool, round, started);
      bench.record(`${name}: stop`, tool, round, stopped);
      bench.record(`${name}: start + stop`, tool, round, {
        wallMs: started.wallMs + stopped.wallMs,
        maxRssKb: Math.max(started.maxRssKb, stopped.maxRssKb),
        controllerCpuS: started.controllerCpuS + stopped.controllerCpuS,
        machineCpuS: started.machineCpuS + stopped.machineCpuS,
        actionCpuS: started.actionCpuS + stopped.actionCpuS,
      });
    }
  }
}

/** status with no server running, stapctl against the tools that scale (pssh-c25519 by default). */
async function noServerStatusScenario(bench: Bench, tools: readonly Tool[], rounds: number): Promise<void> {
  for (const tool of tools) await bench.run(tool, ['status'], 0, true);
  for (let round = 0; round < rounds; round += 1) {
    for (const tool of rotate(tools, round)) bench.record(NO_SERVER_STATUS, tool, round, await bench.run(tool, ['status'], 0, true));
  }
}

const NO_SERVER_STATUS = 'status, no server running';

/** Per host, for the scale tables: wall, controller CPU, the action's CPU, the machine's busy time, and the controller's peak memory. */
export function renderPerHostRows(samples: readonly Sample[]): string {
  const lines = [
    '| hosts | tool | median s | controller CPU ms per host | action CPU ms per host | machine busy ms per host | peak RSS MB | rounds |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const keys = [...new Set(samples.map((sample) => `${sample.farmHosts} ${sample.tool}`))];
  for (const key of keys) {
    const [hostsText = '', tool = ''] = key.split(' ');
    const hosts = Number(hostsText);
    const mine = samples.filter((sample) => sample.farmHosts === hosts && sample.tool === tool);
    const perHost = (values: number[]) => ((median(values) * 1000) / hosts).toFixed(1);
    lines.push(
      `| ${hosts} | ${tool} | ${(median(mine.map((sample) => sample.wallMs)) / 1000).toFixed(2)} | ${perHost(mine.map((sample) => sample.controllerCpuS))} | ${perHost(mine.map((sample) => sample.actionCpuS))} | ${perHost(mine.map((sample) => sample.machineCpuS))} | ${(median(mine.map((sample) => sample.maxRssKb)) / 1024).toFixed(0)} | ${mine.length} |`,
    );
  }
  return lines.join('\n');
}

/** Whole-process start-up on this machine: a command against `node -e 0`, alternating. */
export interface StartupSample {
  command: string;
  wallMs: number;
  cpuS: number;
}

export interface TargetRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

/** The rows of issue 7's targets table, from the samples of one run (medians, ratios stapctl/other). */
export function targetRows(samples: readonly Sample[], startup: readonly StartupSample[]): TargetRow[] {
  const counts = [...new Set(samples.map((sample) => sample.farmHosts))].sort((a, b) => a - b);
  const base = counts.filter((count) => count <= SCALE_ABOVE).at(-1);
  // A run without a farm above SCALE_ABOVE measured no scale: its rows say so, under the size the
  // issue names, instead of comparing the one farm with itself.
  const scale = counts.filter((count) => count > SCALE_ABOVE).at(-1);
  const scaleLabel = scale ?? 1000;
  const wall = (hosts: number | undefined, scenario: string, tool: string) => {
    const values = samples.filter((sample) => sample.farmHosts === hosts && sample.scenario === scenario && sample.tool === tool).map((sample) => sample.wallMs);
    return values.length === 0 ? Number.NaN : median(values);
  };
  const perHostMs = (hosts: number | undefined, scenario: string, pick: (sample: Sample) => number, tool = 'stapctl') => {
    const values = samples.filter((sample) => sample.farmHosts === hosts && sample.scenario === scenario && sample.tool === tool).map(pick);
    return values.length === 0 || hosts === undefined ? Number.NaN : (median(values) * 1000) / hosts;
  };
  const row = (measure: string, value: number, limit: number, unit = 'x', digits = 2): TargetRow => ({
    measure,
    value: Number.isNaN(value) ? 'not measured' : `${value.toFixed(digits)}${unit === 'x' ? 'x' : ` ${unit}`}`,
    target: `<= ${limit}${unit === 'x' ? 'x' : ` ${unit}`}`,
    met: Number.isNaN(value) ? undefined : value <= limit,
  });
  // What the SSH library alone, as stapctl ships it, costs the controller for the same hosts.
  const ssh2Alone = (hosts: string, value: number): TargetRow => ({ ...row(`the same for ssh2 alone, ${hosts} (bench/ssh2-client.ts; no target)`, value, 5, 'ms', 1), target: '', met: undefined });
  const ratio = (scenario: string, other: string, hosts = base) => wall(hosts, scenario, 'stapctl') / wall(hosts, scenario, other);
  const startupRatio = (command: string) => {
    const mine = startup.filter((sample) => sample.command === command).map((sample) => sample.wallMs);
    const floor = startup.filter((sample) => sample.command === 'node -e 0').map((sample) => sample.wallMs);
    return mine.length === 0 || floor.length === 0 ? Number.NaN : median(mine) / median(floor);
  };
  const controllerCpu = (sample: Sample) => sample.controllerCpuS;
  const actionCpu = (sample: Sample) => sample.actionCpuS;
  const actionGrowth = (tool: string) => perHostMs(scale, NO_SERVER_STATUS, actionCpu, tool) / perHostMs(base, NO_SERVER_STATUS, actionCpu, tool);
  const scaleRss = samples.filter((sample) => sample.farmHosts === scale && sample.scenario === NO_SERVER_STATUS && sample.tool === 'stapctl').map((sample) => sample.maxRssKb / 1024);
  return [
    row(`status, ${base} hosts, vs pssh with curve25519`, ratio('status', 'pssh-c25519'), 0.8),
    row(`status, ${base} hosts, vs pssh defaults`, ratio('status', 'pssh'), 0.4),
    row(`status, ${base} hosts, vs Ansible`, ratio('status', 'ansible'), 0.15),
    row(`start + stop, same work, ${base} hosts, vs pssh with curve25519`, ratio('start: start + stop', 'pssh-c25519'), 0.8),
    row(`first run (agent install) vs warm, ${base} hosts`, wall(base, 'first run (agent install)', 'stapctl') / wall(base, 'first run (agent install)', 'stapctl warm'), 1.1),
    row('local `stapctl status` vs `node -e 0`', startupRatio('stapctl status'), 1.15),
    row('`stapctl --version` vs `node -e 0`', startupRatio('stapctl --version'), 1.15),
    row(`controller CPU per host, status, ${base} hosts (2 servers each)`, perHostMs(base, 'status', controllerCpu), 5, 'ms', 1),
    ssh2Alone(`${base} hosts`, perHostMs(base, 'status', controllerCpu, 'ssh2')),
    row(`controller CPU per host, status, ${scaleLabel} hosts (no server)`, perHostMs(scale, NO_SERVER_STATUS, controllerCpu), 5, 'ms', 1),
    ssh2Alone(`${scaleLabel} hosts`, perHostMs(scale, NO_SERVER_STATUS, controllerCpu, 'ssh2')),
    row(`${scaleLabel} hosts status: peak RSS`, scaleRss.length === 0 ? Number.NaN : median(scaleRss), 300, 'MB', 0),
    row(`${scaleLabel} hosts status: controller CPU per host vs ${base} hosts`, perHostMs(scale, NO_SERVER_STATUS, controllerCpu) / perHostMs(base, NO_SERVER_STATUS, controllerCpu), 1.2),
    // The action's CPU (tool, farm, interrupts), not the machine's busy time: a 1000-host run keeps
    // both CPUs busy for its whole length, and /proc/stat then also counts what else ran meanwhile.
    row(`${scaleLabel} hosts status: machine CPU per host for the action vs ${base} hosts`, actionGrowth('stapctl'), 1.2),
    { ...row(`${scaleLabel} hosts status: the same for pssh with curve25519 (no target: the farm's share)`, actionGrowth('pssh-c25519'), 1.2), target: '', met: undefined },
  ];
}

export function renderTargetRows(rows: readonly TargetRow[]): string {
  return [
    '| measure | this run | target | met |',
    '| --- | ---: | ---: | --- |',
    ...rows.map((row) => `| ${row.measure} | ${row.value} | ${row.target} | ${row.met === undefined ? '' : row.met ? 'yes' : '**no**'} |`),
  ].join('\n');
}

/** stapctl's start-up against Node's own floor on this machine: alternating, wall and CPU. */
async function startupScenario(rounds: number, scratch: string): Promise<StartupSample[]> {
  const commands: [string, string[]][] = [
    ['node -e 0', ['node', '-e', '0']],
    ['stapctl --version', ['node', CLI, '--version']],
    ['stapctl status', ['node', CLI, 'status']],
  ];
  const samples: StartupSample[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (const [command, argv] of rotate(commands, round)) {
      const measured = await measure(argv, { cwd: scratch, timeoutMs: 60_000, scratch });
      // Local status exits 3 when no server runs on this machine, as the stock script.
      if (measured.code !== 0 && measured.code !== 3) throw new Error(`${command} exited ${measured.code}: ${measured.stderr}`);
      samples.push({ command, wallMs: measured.wallMs, cpuS: measured.controllerCpuS });
    }
  }
  return samples;
}

export function renderStartup(samples: readonly StartupSample[]): string {
  const commands = [...new Set(samples.map((sample) => sample.command))];
  const floor = median(samples.filter((sample) => sample.command === 'node -e 0').map((sample) => sample.wallMs));
  return [
    '| command | median ms | min ms | max ms | CPU ms | × node -e 0 | rounds |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...commands.map((command) => {
      const mine = samples.filter((sample) => sample.command === command);
      const walls = mine.map((sample) => sample.wallMs);
      return `| ${command} | ${median(walls).toFixed(0)} | ${Math.min(...walls).toFixed(0)} | ${Math.max(...walls).toFixed(0)} | ${(median(mine.map((sample) => sample.cpuS)) * 1000).toFixed(0)} | ${(median(walls) / floor).toFixed(2)} | ${mine.length} |`;
    }),
  ].join('\n');
}

interface ProfileRow {
  step: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/**
 * Where one host's time goes, on one host with nothing else running from here: the controller's
 * start, ssh2's connect and authentication, one exec round trip, node's start on the host, the
 * facts command that answers status, the agent's start and stop of one server, and OpenSSH's own
 * connection for comparison.
 */
async function profileOneHost(farm: Farm, rounds: number, scratch: string): Promise<ProfileRow[]> {
  const host = farm.hosts[0];
  if (host === undefined) return [];
  const bundle = findAgentBundle();
  const samples = new Map<string, number[]>();
  const add = (step: string, ms: number) => samples.set(step, [...(samples.get(step) ?? []), ms]);
  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const began = performance.now();
    const result = await work();
    add(step, performance.now() - began);
    return result;
  };
  const wall = async (step: string, argv: string[]) => {
    const measured = await measure(argv, { cwd: scratch, timeoutMs: 60_000, scratch });
    if (measured.code !== 0) throw new Error(`profile: ${argv.join(' ')} exited ${measured.code}: ${measured.stderr}`);
    add(step, measured.wallMs);
  };
  const statusRequest: ServiceRequest = { action: 'status', tokens: [], serverUser: 'stap-server' };
  for (let round = 0; round < rounds; round += 1) {
    await wall('controller: node -e 0 (local)', ['node', '-e', '0']);
    await wall('controller: stapctl --version (module loading)', ['node', CLI, '--version']);
    await wall(`controller: stapctl -H ${host.name} status, whole run`, ['node', CLI, '--inventory', farm.inventoryFile, '--known-hosts', farm.knownHostsFile, '-H', host.name, 'status', '--json']);
    const auth = await planAuth({ identities: [{ file: farm.clientKey, origin: 'option' }], identitiesOnly: true, defaultKeyDir: join(scratch, 'no-keys'), host: host.name });
    await timed('TCP connect alone', () => tcpConnected(host.address, host.port));
    const session = await timed('ssh2: TCP + key exchange + host key + auth', () =>
      connect({ host: host.name, address: host.address, port: host.port, user: 'root', auth, hostKeyPolicy: 'strict', knownHostsFiles: [farm.knownHostsFile] }),
    );
    try {
      await timed('ssh2 exec: true, the connection\'s first command', () => session.exec('true'));
      // The agent may not be there yet: status, answered from the facts, never installs it.
      await runAgent(session, host.name, { protocol: AGENT_PROTOCOL, request: statusRequest }, { bundle, deadline: Date.now() + 60_000 });
      await timed('ssh2 exec: true (channel + sshd session + sh)', () => session.exec('true'));
      const facts = await timed('ssh2 exec: the facts command (what status runs)', () => session.exec(FACTS_COMMAND));
      const fromFacts = await timed('controller: status from the facts (parse + engine)', () => statusFromFacts(statusRequest, facts.stdout, host.name));
      if (fromFacts === undefined) throw new Error('profile: the facts did not answer status');
      await timed('ssh2 exec: node -e 0 (node start on the host)', () => session.exec('node -e 0'));
      // What a fleet start and stop run on each host: the agent, starting one stap-serverd (and
      // waiting until it listens), then stopping it (and waiting until it has exited).
      await timed('ssh2 exec: the agent, start -n profile (what start runs: one server started)', () => agentAction(session, host.name, bundle, 'start'));
      await timed('ssh2 exec: the agent, stop -n profile (what stop runs: that server stopped)', () => agentAction(session, host.name, bundle, 'stop'));
      await timed(`ssh2 exec: ${STOCK} status (stock script)`, () => session.exec(`${STOCK} status`));
    } finally {
      session.close();
    }
    await opensshFirstCommands(farm, scratch, timed);
    await wall('OpenSSH: ssh HOST true (default kex sntrup761x25519)', ['ssh', '-F', farm.sshConfigFile, host.name, 'true']);
    await wall('OpenSSH: ssh HOST true (curve25519-sha256)', ['ssh', '-F', farm.sshConfigFile, '-o', 'KexAlgorithms=curve25519-sha256', host.name, 'true']);
  }
  return [...samples].map(([step, values]) => ({ step, medianMs: median(values), minMs: Math.min(...values), maxMs: Math.max(...values) }));
}

/**
 * --transport openssh on one host: its master (ssh -M, then ssh -O check), then two commands
 * through it. sshd announces its host keys (hostkeys-00) after authentication; the first command's
 * channel confirmation waits for that packet's delayed ACK (README, Transports).
 */
async function opensshFirstCommands(farm: Farm, scratch: string, timed: <T>(step: string, work: () => Promise<T>) => Promise<T>): Promise<void> {
  const host = farm.hosts[0];
  if (host === undefined) return;
  const transport = await OpensshTransport.start({ PATH: process.env.PATH, TMPDIR: scratch }, []);
  try {
    const session = await timed('openssh transport: master up (ssh -M -N, then ssh -O check)', () => transport.connect(farmRoute(farm, host)));
    try {
      await timed('openssh transport: true, the connection\'s first command', () => session.exec('true'));
      await timed('openssh transport: true, its second command', () => session.exec('true'));
    } finally {
      session.close();
    }
  } finally {
    await transport.close();
  }
}

/** The agent as a fleet run runs it on a host with its cached copy, for one server of its own beside the running ones. */
async function agentAction(session: SshSession, host: string, bundle: AgentBundle, action: 'start' | 'stop'): Promise<void> {
  const request: ServiceRequest = { action, tokens: [{ flag: 'n', value: 'profile' }], serverUser: 'stap-server' };
  const answer = await runAgent(session, host, { protocol: AGENT_PROTOCOL, request }, { bundle, deadline: Date.now() + 60_000 });
  if (!('report' in answer) || answer.report.exitCode !== 0) throw new Error(`profile: the agent's ${action} -n profile failed: ${JSON.stringify(answer).slice(0, 500)}`);
}

function tcpConnected(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: address, port }, () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

async function machineFacts(): Promise<string[]> {
  const first = (text: string) => text.split('\n')[0] ?? '';
  const [systemtap, ssh, pssh, clush, ansible, kernel] = await Promise.all([
    commandOutput('stap', ['-V']),
    commandOutput('ssh', ['-V']),
    commandOutput('parallel-ssh', ['--version']),
    commandOutput('clush', ['--version']),
    commandOutput('ansible', ['--version']),
    commandOutput('uname', ['-r']),
  ]);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return [
    `date: ${new Date().toISOString()}`,
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${gib(totalmem())} RAM (${gib(freemem())} free), kernel ${kernel}`,
    `load average at start: ${loadavg().map((load) => load.toFixed(2)).join(' ')}`,
    `node ${process.version}; ${first(systemtap)}; ${first(ssh)}`,
    `parallel-ssh ${first(pssh)}; ${first(clush)}; ${first(ansible)}`,
  ];
}

/**
 * bench/ssh2-client.ts bundled as scripts/build.mjs bundles ssh2 for stapctl: the client's parts
 * only, patches/ssh2.patch applied, its native addons loaded from this checkout's node_modules.
 */
async function bundleSsh2Client(dir: string): Promise<string> {
  const scripts = (name: string) => import(pathToFileURL(join(REPO, 'scripts', name)).href);
  const { ssh2ClientOnly } = (await scripts('ssh2-client-only.mjs')) as { ssh2ClientOnly: (installedIn: string) => Plugin };
  const { ssh2Patched } = (await scripts('ssh2-patch.mjs')) as { ssh2Patched: () => Plugin };
  const outfile = join(dir, 'ssh2-client.cjs');
  await build({ entryPoints: [join(REPO, 'bench', 'ssh2-client.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, outfile, logLevel: 'warning', plugins: [ssh2ClientOnly(REPO), ssh2Patched()] });
  return outfile;
}

async function benchFarm(hostCount: number, options: BenchOptions, report: string[], allSamples: Sample[], ssh2Client: string): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'stapctl-bench-'));
  let farm: Farm | undefined;
  const made: CpuCgroup[] = [];
  try {
    const began = performance.now();
    farm = await startFarm({ dir: join(scratch, 'farm'), hosts: hostCount, firstAddress: FIRST_ADDRESS });
    const upS = (performance.now() - began) / 1000;
    process.stderr.write(`${hostCount}-host farm up in ${upS.toFixed(1)} s (${farm.hosts[0]?.address} ..)\n`);
    const hostsFile = join(scratch, 'hosts');
    await writeFile(hostsFile, farm.hosts.map((host) => `${host.name}\n`).join(''));
    const cgroups = await actionCgroups(farm, `stapctl-bench-${process.pid}-${hostCount}`, made);
    const bench = new Bench({ farm, cgroups, hostsFile, forks: options.forks, timeoutMs: options.timeoutMs, scratch, runDir: (await realpath('/var/run')).slice(1), ssh2Client });

    report.push(`## ${hostCount} hosts`, '', `Farm up in ${upS.toFixed(1)} s. Parallelism ${options.forks} for every tool.`, '');
    const scaleTools = options.tools.filter((tool) => tool === 'stapctl' || tool === 'pssh-c25519' || tool === 'ssh2');
    if (hostCount > SCALE_ABOVE) {
      await noServerStatusScenario(bench, scaleTools, options.rounds);
      report.push(`### ${NO_SERVER_STATUS}`, '', renderRows(scenarioRows(bench.samples, 'stapctl')), '', renderPerHostRows(bench.samples), '');
      allSamples.push(...bench.samples);
      return;
    }

    // Two releases per host (host-setup.sh): stapctl's start -i makes one server each.
    const releases = 2;
    const first = await bench.run('stapctl', ['start', '-i']);
    await bench.expectStatFiles(releases, 'stapctl start -i');
    report.push(`Very first stapctl run (start -i with the agent installed, ${releases} servers per host): ${(first.wallMs / 1000).toFixed(2)} s.`, '');

    if (options.tools.includes('stapctl')) {
      await firstRunScenario(bench, options.firstRunRounds, releases);
      report.push('### stapctl: first run on a fresh farm (agent installed through the launcher) vs warm', '', renderRows(scenarioRows(bench.samples.filter((sample) => sample.scenario.startsWith('first run')), 'stapctl warm')), '');
    }

    await statusScenario(bench, options.tools, options.rounds, releases);
    report.push(`### status on every host (${releases} servers running per host)`, '', renderRows(scenarioRows(bench.samples.filter((sample) => sample.scenario === 'status'), 'stapctl')), '');

    // While the servers run: the facts list them, and the agent starts and stops one beside them.
    if (options.profile) {
      const profile = await profileOneHost(farm, options.rounds, scratch);
      report.push(
        '### stapctl: where one host\'s time goes (one host, sequential)',
        '',
        '| step | median ms | min ms | max ms |',
        '| --- | ---: | ---: | ---: |',
        ...profile.map((row) => `| ${row.step} | ${row.medianMs.toFixed(0)} | ${row.minMs.toFixed(0)} | ${row.maxMs.toFixed(0)} |`),
        '',
      );
    }
    await bench.run('stapctl', ['stop']);
    await bench.expectStatFiles(0, 'stapctl stop');

    // The per-host baseline of the scale farms: the same scenario on this farm.
    await noServerStatusScenario(bench, scaleTools, options.rounds);
    const noServer = bench.samples.filter((sample) => sample.scenario === NO_SERVER_STATUS);
    report.push(`### ${NO_SERVER_STATUS}`, '', renderRows(scenarioRows(noServer, 'stapctl')), '', renderPerHostRows(noServer), '');

    if (options.cycles && options.startI) {
      await cycleScenario(bench, 'start -i', options.tools, options.rounds, (tool) => (tool.startsWith('stapctl') ? { action: ['start', '-i'], servers: releases } : { action: ['start', '-i'], servers: 1 }));
      report.push(
        '### start -i, then stop (not the same work)',
        '',
        `stapctl starts one server per release (${releases} per host, each checked to listen); the stock -i starts one server for all releases (1 per host, checked once with ps).`,
        '',
      );
      for (const part of ['start + stop', 'start', 'stop']) {
        report.push(`${part}:`, '', renderRows(scenarioRows(bench.samples.filter((sample) => sample.scenario === `start -i: ${part}`), 'stapctl')), '');
      }
    }
    if (options.cycles) {
      await cycleScenario(bench, 'start', options.tools, options.rounds, () => ({ action: ['start'], servers: 1 }));
      report.push('### start, then stop (the same work: one server per host for the running kernel)', '');
      for (const part of ['start + stop', 'start', 'stop']) {
        report.push(`${part}:`, '', renderRows(scenarioRows(bench.samples.filter((sample) => sample.scenario === `start: ${part}`), 'stapctl')), '');
      }
    }

    allSamples.push(...bench.samples);
  } finally {
    if (farm) await farm.down();
    await Promise.all(made.map(removeWhenEmpty));
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * A cgroup for the farm, holding every host's sshd (the sessions they fork are born there), and
 * one for the tools. MADE collects them for removal, also when this fails half-way.
 */
async function actionCgroups(farm: Farm, name: string, made: CpuCgroup[]): Promise<ActionCgroups> {
  const farmGroup = await createCpuCgroup(`${name}-farm`);
  made.push(farmGroup);
  const tool = await createCpuCgroup(`${name}-tool`);
  made.push(tool);
  for (const host of farm.hosts) await farmGroup.add(host.pid);
  return { tool, farm: farmGroup, listeners: new Set(farm.hosts.map((host) => host.pid)) };
}

/** The kernel ends a stopped farm's processes a moment after their PID 1: a cgroup empties soon after. */
async function removeWhenEmpty(cgroup: CpuCgroup): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await cgroup.remove();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt === 50) {
        process.stderr.write(`could not remove the cgroup of ${cgroup.procsFile}: ${(error as Error).message}\n`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '5' },
      forks: { type: 'string', default: '32' },
      tools: { type: 'string', default: TOOLS.join(',') },
      'no-cycles': { type: 'boolean', default: false },
      'no-start-i': { type: 'boolean', default: false },
      'startup-rounds': { type: 'string', default: '20' },
      'first-run-rounds': { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300' },
      json: { type: 'string' },
    },
  });
  const positive = (name: string, text: string, max: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} needs a whole number from 1 to ${max}, got "${text}"`);
    return value;
  };
  const tools = values.tools.split(',');
  const unknown = tools.find((tool) => !(TOOLS as readonly string[]).includes(tool));
  if (unknown !== undefined) throw new Error(`--tools: unknown tool "${unknown}"; known: ${TOOLS.join(', ')}`);
  if (!tools.includes('stapctl')) throw new Error('--tools must include stapctl: the ratios are to it');
  return {
    hostCounts: values.hosts.split(',').map((count) => positive('hosts', count, MAX_HOSTS)),
    startupRounds: positive('startup-rounds', values['startup-rounds'], 100),
    rounds: positive('rounds', values.rounds, 100),
    firstRunRounds: positive('first-run-rounds', values['first-run-rounds'] ?? values.rounds, 100),
    forks: positive('forks', values.forks, 256),
    tools: tools as Tool[],
    cycles: !values['no-cycles'],
    startI: !values['no-start-i'],
    profile: !values['no-profile'],
    timeoutMs: positive('timeout', values.timeout, 3600) * 1000,
    ...(values.json !== undefined && { jsonFile: values.json }),
  };
}

async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  if (process.getuid?.() !== 0) throw new Error('the benchmark brings up a namespace farm: run it as root');
  const head = ['# stapctl fleet benchmark', '', `command: node --import tsx bench/fleet.ts ${argv.join(' ')}`.trimEnd(), '', ...(await machineFacts()).map((line) => `- ${line}`), ''];
  const scratch = await mkdtemp(join(tmpdir(), 'stapctl-bench-startup-'));
  const startup = await startupScenario(options.startupRounds, scratch).finally(() => rm(scratch, { recursive: true, force: true }));
  const report = ['## Start-up on this machine (alternating, whole process)', '', renderStartup(startup), ''];
  const samples: Sample[] = [];
  const tools = await mkdtemp(join(tmpdir(), 'stapctl-bench-tools-'));
  try {
    const ssh2Client = options.tools.includes('ssh2') ? await bundleSsh2Client(tools) : '';
    for (const hostCount of options.hostCounts) {
      try {
        await benchFarm(hostCount, options, report, samples, ssh2Client);
      } catch (error) {
        // A scale farm may be more than this machine can hold: say so, keep what was measured.
        if (hostCount <= SCALE_ABOVE) throw error;
        process.stderr.write(`${hostCount} hosts: ${(error as Error).message}\n`);
        report.push(`## ${hostCount} hosts`, '', `This run could not complete here: ${(error as Error).message.split('\n')[0]}`, '');
      }
    }
  } finally {
    await rm(tools, { recursive: true, force: true });
  }
  report.push(`load average at end: ${loadavg().map((load) => load.toFixed(2)).join(' ')}`);
  const targets = ['## Targets (issue 7): ratios are stapctl / the other, medians of this run', '', renderTargetRows(targetRows(samples, startup)), ''];
  if (options.jsonFile) await writeFile(options.jsonFile, `${JSON.stringify({ options, startup, samples }, null, 2)}\n`);
  console.log([...head, ...targets, ...report].join('\n'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`bench/fleet.ts: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
