/**
 * The namespace test farm: N simulated build hosts on this machine. Host K is an OpenSSH sshd,
 * PID 1 of its own mount, pid and uts namespaces, named hK, listening on its own loopback address
 * (127.0.1.K by default) with its own host key and private stap-server state. The per-host files
 * are made by docker/host-setup.sh, the script the Docker image runs too.
 *
 * A farm directory holds everything: inventory.yaml, known_hosts, ssh_config, client_key(.pub),
 * the one stap-server certificate that every host shares, hosts/hK/ (sshd config, host key, log,
 * private state) and farm.json, the record `down` uses to stop the hosts by PID.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { HostRoute } from '../../src/fleet/ssh/host-route.js';
import { acceptsTcp } from '../support/expect.js';

export interface FarmHost {
  name: string;
  address: string;
  port: number;
  /** The host's PID 1 (its sshd) as seen from this machine. */
  pid: number;
  /** hosts/NAME in the farm directory: sshd_config, host key, sshd.log and state/. */
  dir: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Farm {
  dir: string;
  hosts: FarmHost[];
  inventoryFile: string;
  knownHostsFile: string;
  sshConfigFile: string;
  clientKey: string;
  /** The certificate database every host's stap-serverd uses (stap.cert is its certificate). */
  serverCert: string;
  /** With userCa: the private key of the CA whose user certificates every host's sshd trusts. */
  userCaKey?: string;
  down(): Promise<void>;
  /** Runs argv inside the host's namespaces (nsenter), as root, without ssh. */
  exec(host: FarmHost, argv: string[]): Promise<ExecResult>;
}

export interface FarmOptions {
  dir: string;
  hosts: number;
  /** The first host's address; the others follow it. Default 127.0.1.1. */
  firstAddress?: string;
  /** How long a host may take to accept ssh connections. Default 30 s. */
  readyTimeoutMs?: number;
  /**
   * Also the non-root login users of LOGIN_USERS on every host, private to it, logging in with the
   * farm's client key. Default false.
   */
  loginUsers?: boolean;
  /** Also a user CA (ssh-keygen) whose certificates every host's sshd trusts (TrustedUserCAKeys). Default false. */
  userCa?: boolean;
}

/** The non-root login users a farm started with loginUsers has (docker/host-setup.sh --login-users). */
export const LOGIN_USERS = {
  /** sudo lets it run anything as root without a password. */
  passwordlessSudo: 'deploy',
  /** sudo asks it for a password. */
  passwordSudo: 'nopass',
} as const;

/** farm.json: enough to stop a farm from another process or after a crash. */
interface FarmRecord {
  hosts: FarmHost[];
}

const SERVER_USER = 'stap-server';
const SSHD = '/usr/sbin/sshd';
const UNSHARE_FLAGS = ['--mount', '--pid', '--uts', '--fork', '--mount-proc', '--propagation', 'private'];
const LAUNCHER = fileURLToPath(new URL('./host-namespace.sh', import.meta.url));
const HOST_SETUP = fileURLToPath(new URL('../../docker/host-setup.sh', import.meta.url));
/** Everything a farm writes into its directory, so that `down` removes exactly that. */
const FARM_ENTRIES = ['farm.json', 'inventory.yaml', 'known_hosts', 'ssh_config', 'client_key', 'client_key.pub', 'user_ca', 'user_ca.pub', 'server-cert', 'hosts'];

/**
 * STAPCTL_FARM_NET=N moves every farm of this process to 127.N.x.y, so that several checkouts can
 * run their farm tests on one machine at the same time without sharing an address.
 */
export function inFarmNetwork(address: string, env: NodeJS.ProcessEnv = process.env): string {
  const net = env.STAPCTL_FARM_NET;
  if (net === undefined || net === '') return address;
  if (!/^\d{1,3}$/.test(net) || Number(net) > 255) throw new Error(`STAPCTL_FARM_NET must be 0-255, got "${net}"`);
  return address.replace(/^127\.\d+\./, `127.${Number(net)}.`);
}

export function hostAddresses(first: string, count: number): string[] {
  const start = ipv4ToNumber(first);
  const addresses = Array.from({ length: count }, (_, index) => numberToIpv4(start + index));
  const outside = addresses.find((address) => !address.startsWith('127.'));
  if (outside !== undefined) {
    throw new Error(`farm addresses must stay in 127.0.0.0/8; ${count} hosts from ${first} reach ${outside}`);
  }
  return addresses;
}

function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`not an IPv4 address: "${address}"`);
  }
  return parts.reduce((value, part) => value * 256 + part, 0);
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/**
 * Ansible's inventory shape, with what stapctl reads only: Ansible, run on the same farm by the
 * benchmark and the module's tests, is given the farm's known_hosts by ansibleSshArgs, so that
 * stapctl's warning about an Ansible setting it does not honour never shows in the demo.
 */
export function renderInventory(hosts: readonly FarmHost[], clientKey: string): string {
  const entries = hosts.map((host) => [
    host.name,
    { ansible_host: host.address, ansible_port: host.port, ansible_user: 'root', ansible_ssh_private_key_file: clientKey },
  ]);
  return stringify({
    all: {
      vars: { stapctl_server_user: SERVER_USER },
      children: { farm: { hosts: Object.fromEntries(entries) } },
    },
  });
}

/** The environment that has Ansible check the farm's host keys against its known_hosts. */
export function ansibleSshArgs(knownHostsFile: string): NodeJS.ProcessEnv {
  return { ANSIBLE_SSH_COMMON_ARGS: `-o UserKnownHostsFile=${knownHostsFile} -o StrictHostKeyChecking=yes`, ANSIBLE_HOST_KEY_CHECKING: 'True' };
}

/** One line per host, under its address (what a client connecting by address looks up) and its name. */
export function renderKnownHosts(hosts: readonly FarmHost[], publicKeys: readonly string[]): string {
  return hosts
    .map((host, index) => {
      const [type, key] = (publicKeys[index] ?? '').trim().split(/\s+/);
      const names = host.port === 22 ? [host.address, host.name] : [`[${host.address}]:${host.port}`, `[${host.name}]:${host.port}`];
      return `${names.join(',')} ${type} ${key}\n`;
    })
    .join('');
}

/** For `ssh -F FILE h1` and for tools such as pssh and ClusterShell. */
export function renderSshConfig(hosts: readonly FarmHost[], clientKey: string, knownHostsFile: string): string {
  return hosts
    .map((host) =>
      [
        `Host ${host.name}`,
        `  HostName ${host.address}`,
        `  Port ${host.port}`,
        '  User root',
        `  IdentityFile ${clientKey}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHostsFile}`,
        '  StrictHostKeyChecking yes',
        '',
      ].join('\n'),
    )
    .join('\n');
}

/** How stapctl's transports reach HOST, resolved as from the inventory: root with the farm's key, strict host keys. */
export function farmRoute(farm: Pick<Farm, 'clientKey' | 'knownHostsFile'>, host: FarmHost): HostRoute {
  return {
    host: host.name,
    address: host.address,
    port: host.port,
    user: 'root',
    identities: [{ file: farm.clientKey, origin: 'option' }],
    identitiesOnly: true,
    hostKeyPolicy: 'strict',
    knownHostsFiles: [farm.knownHostsFile],
  };
}

/** The home directory of USER in passwd text, or undefined when there is no such user. */
export function homeOf(passwd: string, user: string): string | undefined {
  const line = passwd.split('\n').find((entry) => entry.split(':')[0] === user);
  return line?.split(':')[5];
}

/**
 * The directories a host mounts over (or below) in its namespace. A farm directory inside one of
 * them would be hidden from the host by its own mounts.
 */
async function hostMountedDirectories(): Promise<string[]> {
  const home = homeOf(await readFile('/etc/passwd', 'utf8'), SERVER_USER);
  if (home === undefined) {
    throw new Error(`user ${SERVER_USER} does not exist; create it with: useradd --system --home-dir /var/lib/stap-server --create-home ${SERVER_USER}`);
  }
  const paths = ['/etc', '/var/run', '/var/log', '/lib', '/root', home];
  return Promise.all(paths.map((path) => realpath(path).catch(() => path)));
}

function refuseMountedDirectory(dir: string, mounted: readonly string[]): void {
  const hidden = mounted.find((path) => dir === path || dir.startsWith(`${path}/`));
  if (hidden !== undefined) {
    throw new Error(`farm directory ${dir} is inside ${hidden}, which every host mounts over; use a directory elsewhere, such as under /tmp`);
  }
}

export async function startFarm(options: FarmOptions): Promise<Farm> {
  if (!Number.isInteger(options.hosts) || options.hosts < 1) {
    throw new Error(`a farm needs at least one host, got ${options.hosts}`);
  }
  const addresses = hostAddresses(inFarmNetwork(options.firstAddress ?? '127.0.1.1'), options.hosts);
  const mounted = await hostMountedDirectories();
  refuseMountedDirectory(resolvePath(options.dir), mounted);
  await mkdir(options.dir, { recursive: true });
  const dir = await realpath(options.dir);
  refuseMountedDirectory(dir, mounted);
  // A run that crashed leaves its hosts (stopped by the record) or at least its files behind.
  await stopFarm(dir);
  await removeFarmFiles(dir);

  const clientKey = join(dir, 'client_key');
  const knownHostsFile = join(dir, 'known_hosts');
  const sshConfigFile = join(dir, 'ssh_config');
  const inventoryFile = join(dir, 'inventory.yaml');
  const userCaKey = options.userCa === true ? join(dir, 'user_ca') : undefined;
  await Promise.all([generateClientKey(clientKey), generateServerCert(join(dir, 'server-cert')), ...(userCaKey === undefined ? [] : [generateClientKey(userCaKey)])]);

  const extras = [...(options.loginUsers === true ? ['login-users'] : []), ...(userCaKey === undefined ? [] : [`user-ca=${userCaKey}.pub`])];
  const launches = await Promise.allSettled(addresses.map((address, index) => launchHost(dir, `h${index + 1}`, address, clientKey, extras)));
  const hosts = launches.flatMap((launch) => (launch.status === 'fulfilled' ? [launch.value] : []));
  try {
    await writeRecord(dir, { hosts });
    const failed = launches.find((launch) => launch.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await Promise.all(hosts.map((host) => waitUntilListening(host, options.readyTimeoutMs ?? 30_000)));
  } catch (error) {
    await stopHosts(hosts);
    await removeFarmFiles(dir);
    throw error;
  }

  const publicKeys = await Promise.all(hosts.map((host) => readFile(join(host.dir, 'ssh_host_ed25519_key.pub'), 'utf8')));
  await Promise.all([
    writeFile(knownHostsFile, renderKnownHosts(hosts, publicKeys)),
    writeFile(sshConfigFile, renderSshConfig(hosts, clientKey, knownHostsFile)),
    writeFile(inventoryFile, renderInventory(hosts, clientKey)),
  ]);

  return {
    dir,
    hosts,
    inventoryFile,
    knownHostsFile,
    sshConfigFile,
    clientKey,
    serverCert: join(dir, 'server-cert'),
    ...(userCaKey !== undefined && { userCaKey }),
    down: () => stopFarm(dir),
    exec: (host, argv) => run('nsenter', ['-t', String(host.pid), '-m', '-u', '-p', '--', ...argv]),
  };
}

/**
 * Stops (SIGSTOP) every server recorded on a host, so that a `stapctl stop` of it waits for them
 * far longer than a short --timeout, however loaded the machine is. The returned function lets
 * them run on: they then take the SIGTERM that is waiting for them and exit.
 */
export async function holdServers(farm: Farm, host: FarmHost): Promise<() => Promise<void>> {
  const listing = await farm.exec(host, ['ls', '-A', '/var/run/stap-server']);
  const pids = listing.stdout.split('\n').filter((entry) => /^\d+\.stat$/.test(entry)).map((entry) => entry.slice(0, -'.stat'.length));
  if (pids.length === 0) throw new Error(`${host.name} has no recorded server to hold`);
  await farm.exec(host, ['kill', '-STOP', ...pids]);
  return async () => {
    await farm.exec(host, ['kill', '-CONT', ...pids]);
  };
}

/** Stops the farm recorded in DIR/farm.json, if any, and removes its files. Safe to repeat. */
export async function stopFarm(dir: string): Promise<void> {
  const record = await readRecord(dir);
  if (record === undefined) return;
  await stopHosts(record.hosts);
  await removeFarmFiles(dir);
}

async function readRecord(dir: string): Promise<FarmRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'farm.json'), 'utf8')) as FarmRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeRecord(dir: string, record: FarmRecord): Promise<void> {
  const temporary = join(dir, 'farm.json.tmp');
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`);
  await rename(temporary, join(dir, 'farm.json'));
}

async function removeFarmFiles(dir: string): Promise<void> {
  await Promise.all(FARM_ENTRIES.map((entry) => rm(join(dir, entry), { recursive: true, force: true })));
}

async function generateClientKey(path: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stapctl-farm-client', '-f', path], { check: true });
}

/**
 * One certificate for all hosts: stap-gen-cert costs ~0.7 s of CPU. It runs as the server user in
 * a directory of its own under the system temporary directory, because the farm directory may not
 * be reachable by that user.
 */
async function generateServerCert(destination: string): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'stapctl-farm-cert-'));
  try {
    await run('chown', [SERVER_USER, scratch], { check: true });
    await run('runuser', ['-u', SERVER_USER, '--', '/usr/lib/systemtap/stap-gen-cert', join(scratch, 'server')], { check: true });
    await run('cp', ['-a', join(scratch, 'server'), destination], { check: true });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** EXTRAS: host-namespace.sh's optional arguments (login-users, user-ca=FILE). */
async function launchHost(dir: string, name: string, address: string, clientKey: string, extras: readonly string[]): Promise<FarmHost> {
  const hostDir = join(dir, 'hosts', name);
  await mkdir(join(hostDir, 'scratch'), { recursive: true });
  const log = openSync(join(hostDir, 'sshd.log'), 'a');
  try {
    // Only the log is inherited: a daemon that inherits a lock file's descriptor holds the lock
    // until it exits, and later runs wait on it.
    const child = spawn(
      'unshare',
      [
        ...UNSHARE_FLAGS,
        LAUNCHER,
        name,
        hostDir,
        address,
        `${clientKey}.pub`,
        join(dir, 'server-cert'),
        HOST_SETUP,
        ...extras,
      ],
      { detached: true, stdio: ['ignore', log, log], cwd: '/' },
    );
    child.unref();
    if (child.pid === undefined) throw new Error(`${name}: could not run unshare: is util-linux installed?`);
    return { name, address, port: 22, pid: await namespaceInit(child.pid, name), dir: hostDir };
  } finally {
    closeSync(log);
  }
}

/** `unshare --fork` runs the host in a child: that child is PID 1 of the new namespaces. */
async function namespaceInit(unsharePid: number, name: string): Promise<number> {
  const childrenFile = `/proc/${unsharePid}/task/${unsharePid}/children`;
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const children = await readFile(childrenFile, 'utf8').catch(() => '');
    const pid = Number.parseInt(children, 10);
    if (Number.isInteger(pid)) return pid;
    await delay(10);
  }
  throw new Error(`${name}: unshare (PID ${unsharePid}) started no namespace (${childrenFile} stayed empty)`);
}

async function waitUntilListening(host: FarmHost, timeoutMs: number): Promise<void> {
  const logFile = join(host.dir, 'sshd.log');
  const listening = `Server listening on ${host.address} port ${host.port}.`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await readFile(logFile, 'utf8');
    // The log line tells our sshd from any other process that listens on the same address.
    if (log.includes(listening) && (await acceptsTcp(host.address, host.port))) return;
    if ((await checkHostProcess(host)) === 'gone') {
      throw new Error(`${host.name} exited while starting; its log ${logFile} says:\n${lastLines(log, 10)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${host.name} did not accept ssh on ${host.address}:${host.port} within ${timeoutMs} ms; see ${logFile}`);
    }
    await delay(25);
  }
}

type HostProcess = 'ours' | 'other' | 'gone';

/**
 * Whether the host's PID still is its PID 1: the first process of a PID namespace (NSpid ends in
 * 1) running sshd with the host's config, or the launcher (or unshare) before it has become sshd.
 * While a process is in execve, /proc may show the new executable with an empty command line:
 * such a process is 'other' for a moment.
 */
async function checkHostProcess(host: FarmHost): Promise<HostProcess> {
  let status: string;
  try {
    status = await readFile(`/proc/${host.pid}/status`, 'utf8');
  } catch {
    return 'gone';
  }
  if (/^State:\s*Z/m.test(status)) return 'gone';
  const nsPid = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
  const [cmdline, exe] = await Promise.all([
    readFile(`/proc/${host.pid}/cmdline`, 'utf8').catch(() => ''),
    readlink(`/proc/${host.pid}/exe`).catch(() => ''),
  ]);
  if (nsPid.length < 2 || nsPid.at(-1) !== '1') return 'other';
  const argv = cmdline.split('\0');
  const isSshd = exe === SSHD && cmdline.includes(join(host.dir, 'sshd_config'));
  const isLauncher = argv.includes(LAUNCHER) && argv.includes(host.dir);
  return isSshd || isLauncher ? 'ours' : 'other';
}

/** Asks again for a moment while the process looks like someone else's (it may be in execve). */
async function identifyHostProcess(host: FarmHost): Promise<HostProcess> {
  for (let attempt = 0; ; attempt += 1) {
    const found = await checkHostProcess(host);
    if (found !== 'other' || attempt === 40) return found;
    await delay(25);
  }
}

/**
 * SIGKILL, because the kernel ends everything else in a PID namespace with SIGKILL once its PID 1
 * is gone anyway, and because PID 1 of a namespace ignores SIGTERM until sshd has set a handler.
 */
async function stopHosts(hosts: readonly FarmHost[]): Promise<void> {
  const found = await Promise.all(hosts.map(identifyHostProcess));
  const running = hosts.filter((_, index) => found[index] === 'ours');
  for (const host of running) process.kill(host.pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const states = await Promise.all(running.map(checkHostProcess));
    const left = running.filter((_, index) => states[index] === 'ours');
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`farm hosts still running 10 s after SIGKILL: ${left.map((host) => `${host.name} (PID ${host.pid})`).join(', ')}`);
    }
    await delay(20);
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(command: string, argv: string[], options: { check?: boolean } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(command, argv, { cwd: '/', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      if (options.check === true && code !== 0) {
        reject(new Error(`${command} ${argv.join(' ')} failed (exit ${code}): ${stderr.trim()}`));
        return;
      }
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code, stdout, stderr });
    });
  });
}
