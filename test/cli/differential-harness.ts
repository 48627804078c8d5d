/**
 * What the differential tests need around the namespace farm: running the stock initscript and
 * stapctl inside a host, reading a host's service state, and normalising what differs from run to
 * run (PIDs, dates) without hiding anything else.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecResult, Farm, FarmHost } from '../fleet/farm.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const STOCK = '/usr/bin/stap-server';
export const STAT_PATH = '/var/run/stap-server';
export const CONF_D = '/etc/stap-server/conf.d';
export const SERVICE_LOG = '/var/log/stap-server/log';

/** C locale, and no STAPCTL_ROOT from the caller's environment: both tools see the host's real paths. */
const ENV = ['env', '-u', 'STAPCTL_ROOT', 'LC_ALL=C'];

export type Tool = 'stock' | 'stapctl';

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' before the differential tests`);
}

export function runTool(farm: Farm, host: FarmHost, tool: Tool, args: readonly string[]): Promise<ExecResult> {
  const command = tool === 'stock' ? [STOCK] : [process.execPath, CLI];
  return farm.exec(host, [...ENV, ...command, ...args]);
}

export function sh(farm: Farm, host: FarmHost, script: string): Promise<ExecResult> {
  return farm.exec(host, ['sh', '-c', script]);
}

/** Every file of the status directory (dot-files such as stapctl's lock excepted), by name. */
export async function statusFiles(farm: Farm, host: FarmHost): Promise<Map<string, string>> {
  // One NUL between name and content and one after each content: names and contents may hold newlines.
  const answer = await sh(farm, host, `cd ${STAT_PATH} && for f in *; do [ -f "$f" ] && printf '%s\\0' "$f" && cat "$f" && printf '\\0'; done; true`);
  const parts = answer.stdout.split('\0');
  const files = new Map<string, string>();
  for (let index = 0; index + 1 < parts.length; index += 2) files.set(parts[index]!, parts[index + 1]!);
  return files;
}

/** The PIDs of the stap-serverd processes of a host, as the host sees them. */
export async function serverPids(farm: Farm, host: FarmHost): Promise<number[]> {
  const answer = await sh(farm, host, 'for p in /proc/[0-9]*; do [ "$(readlink $p/exe 2>/dev/null)" = /usr/lib/systemtap/stap-serverd ] && echo ${p#/proc/}; done; true');
  return answer.stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
}

/** The argv of a host's process, as /proc/PID/cmdline records it. */
export async function cmdline(farm: Farm, host: FarmHost, pid: number): Promise<string[]> {
  const answer = await farm.exec(host, ['cat', `/proc/${pid}/cmdline`]);
  return answer.stdout.split('\0').slice(0, -1);
}

/**
 * The initscript's own lines of the service log (`Mon DD HH:MM:SS: message`), without the lines
 * stap-serverd writes to the same file (`Sun Nov 29 18:13:23 2026: ...`, which stapctl lets it do).
 */
export async function serviceLogLines(farm: Farm, host: FarmHost): Promise<string[]> {
  const answer = await farm.exec(host, ['cat', SERVICE_LOG]);
  return answer.stdout.split('\n').filter((line) => SERVICE_LOG_LINE.test(line));
}

export const SERVICE_LOG_LINE = /^[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d: /;
/** The stock script's date exactly: its unquoted echo turns `date +"%b %e %T"`'s "Nov  9" into "Nov 9". */
const STOCK_LOG_DATE = /^[A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d: /;

/**
 * Gives each PID the token <pid1>, <pid2>, ... in order of first appearance, across every text of
 * one tool's run, so that two runs compare equal only when their PIDs play the same roles. Only
 * numbers in a PID's places are replaced: `PID N`, `-n "N"`, `NICKNAME=N`, `N.stat`, `as pid N`.
 */
export class PidNormaliser {
  private readonly tokens = new Map<string, string>();

  /** Registers PIDs in a given order first (the order servers were started in, say). */
  constructor(known: readonly number[] = []) {
    for (const pid of known) this.token(String(pid));
  }

  text(value: string): string {
    return value
      .replace(/\b(PID|pid) (\d+)\b/g, (_, word: string, pid: string) => `${word} ${this.token(pid)}`)
      .replace(/-n "(\d+)"/g, (_, pid: string) => `-n "${this.token(pid)}"`)
      .replace(/^NICKNAME=(\d+)$/gm, (_, pid: string) => `NICKNAME=${this.token(pid)}`)
      .replace(/^(\d+)\.stat$/gm, (_, pid: string) => `${this.token(pid)}.stat`);
  }

  /** Status files with their names and contents normalised, in a stable order. */
  files(files: ReadonlyMap<string, string>): [string, string][] {
    return [...files]
      .map(([name, content]): [string, string] => [this.text(name), this.text(content)])
      .sort(([a], [b]) => a.localeCompare(b));
  }

  private token(pid: string): string {
    let token = this.tokens.get(pid);
    if (token === undefined) {
      token = `<pid${this.tokens.size + 1}>`;
      this.tokens.set(pid, token);
    }
    return token;
  }
}

/** Replaces a date of the stock script's shape; any other date and the message stay as they are. */
export function normaliseLogDates(lines: readonly string[]): string[] {
  return lines.map((line) => line.replace(STOCK_LOG_DATE, '<date>: '));
}

/** Everything a scenario observed on one host, normalised for comparison. */
export interface Observation {
  runs: { code: number; stdout: string }[];
  statusFiles: [string, string][];
  log: string[];
  servers: number;
}

/** The running servers' PIDs get the first tokens, in start order (ascending PIDs), then the others as they appear. */
export async function observe(farm: Farm, host: FarmHost, runs: readonly ExecResult[]): Promise<Observation> {
  const [files, log, pids] = await Promise.all([statusFiles(farm, host), serviceLogLines(farm, host), serverPids(farm, host)]);
  const normaliser = new PidNormaliser(pids);
  return {
    runs: runs.map((run) => ({ code: run.code, stdout: normaliser.text(run.stdout) })),
    statusFiles: normaliser.files(files),
    log: normaliseLogDates(log.map((line) => normaliser.text(line))),
    servers: pids.length,
  };
}

/**
 * Puts a host back to no servers and no state: each tool stops what it manages, then anything
 * left (a server whose status file a test removed) is stopped by PID, and the files are removed.
 */
export async function resetHost(farm: Farm, host: FarmHost): Promise<void> {
  await runTool(farm, host, 'stapctl', ['stop']);
  await runTool(farm, host, 'stock', ['stop']);
  const left = await serverPids(farm, host);
  if (left.length > 0) await farm.exec(host, ['kill', '-KILL', ...left.map(String)]);
  await sh(farm, host, `rm -f ${CONF_D}/*.conf ${STAT_PATH}/* && : > ${SERVICE_LOG}`);
  for (let attempt = 0; (await serverPids(farm, host)).length > 0; attempt += 1) {
    if (attempt === 100) throw new Error(`${host.name}: stap-serverd still running after reset`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
