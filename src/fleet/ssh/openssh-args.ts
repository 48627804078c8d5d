/**
 * The command lines of the system ssh client for one fleet run (--transport openssh): the master
 * connection of a host, a command through that master, the master's check. Pure: the settings
 * stapctl resolved go in as explicit options, ssh reads the user's ssh config for the rest
 * (certificates, GSSAPI, FIDO and PKCS#11 keys), and no option lets ssh prompt or forward anything.
 */
import { StapctlError } from '../../errors.js';
import type { HostRoute } from './host-route.js';

/** What every ssh command of one run shares. */
export interface OpensshRun {
  /** The ssh client, an absolute path. */
  ssh: string;
  /** The run's config file: Include lines for the ssh config files stapctl itself reads. */
  configFile: string;
}

/**
 * How long an idle master outlives its last command. stapctl ends each master when the host is
 * done; this bounds how long one stays if the controller itself is killed (SIGKILL).
 */
export const CONTROL_PERSIST_S = 10;

/** ProxyCommand of a command through a master: a client that finds no master must not connect on its own. */
export const NO_MASTER_MARKER = 'stapctl-no-ssh-master';
const NO_DIRECT_CONNECTION = `ProxyCommand=sh -c "echo ${NO_MASTER_MARKER} >&2"`;

/**
 * For every ssh process: never prompt (a fleet run has no one to answer), never forward the agent,
 * X11 or ports the user's config may ask for, never run a LocalCommand or the config's
 * RemoteCommand, and record no host keys but the one verified (UpdateHostKeys=no, as with ssh2).
 */
const COMMON = [
  '-o', 'BatchMode=yes',
  '-o', 'ClearAllForwardings=yes',
  '-o', 'ForwardAgent=no',
  '-o', 'ForwardX11=no',
  '-o', 'PermitLocalCommand=no',
  '-o', 'RemoteCommand=none',
  '-o', 'RequestTTY=no',
  '-o', 'UpdateHostKeys=no',
];

/**
 * The master of ROUTE: authenticates, listens on SOCKET, then goes to the background (ControlPersist
 * implies that), so that the ssh process stapctl started ends with status 0 once the host can
 * take commands, or with 255 and ssh's reasons on stderr. JUMP_SOCKET is the master of the
 * previous hop when the route has one.
 */
export function masterArgs(run: OpensshRun, route: HostRoute, socket: string, jumpSocket?: string): string[] {
  return [
    // -F is a plain path, not expanded: the run's config file as it is.
    '-F', run.configFile,
    '-M', '-N',
    '-o', `ControlPath=${tokens(socket)}`,
    '-o', `ControlPersist=${CONTROL_PERSIST_S}`,
    ...COMMON,
    // INFO: the host-key messages stapctl reads (ssh's default; the user's config may lower it).
    '-o', 'LogLevel=INFO',
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=3',
    ...connectionArgs(route),
    ...(route.proxyJump === undefined || jumpSocket === undefined ? [] : ['-o', `ProxyCommand=${throughJump(run, route.proxyJump, jumpSocket, jumpErrors(socket))}`]),
    '--', destination(route),
  ];
}

/** A command run through the master at SOCKET; ssh's exit status is the command's. */
export function commandArgs(run: OpensshRun, route: HostRoute, socket: string, command: string): string[] {
  return [...clientArgs(run, route, socket), '-T', '-e', 'none', '-o', 'LogLevel=ERROR', '--', destination(route), command];
}

/** `ssh -O check`: exits 0 and names the master's PID while the master runs. */
export function checkArgs(run: OpensshRun, route: HostRoute, socket: string): string[] {
  return [...clientArgs(run, route, socket), '-O', 'check', '--', destination(route)];
}

/** `ssh -O exit`: the master at SOCKET removes it and ends its connection. */
export function exitArgs(run: OpensshRun, route: HostRoute, socket: string): string[] {
  return [...clientArgs(run, route, socket), '-O', 'exit', '--', destination(route)];
}

/** The master's PID in `ssh -O check`'s answer ("Master running (pid=1234)"). */
export function masterPid(checkOutput: string): number | undefined {
  const match = /Master running \(pid=(\d+)\)/.exec(checkOutput);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function clientArgs(run: OpensshRun, route: HostRoute, socket: string): string[] {
  return ['-F', run.configFile, '-S', tokens(socket), '-o', 'ControlMaster=no', '-o', NO_DIRECT_CONNECTION, ...COMMON, ...endpointArgs(route)];
}

function endpointArgs(route: HostRoute): string[] {
  return ['-l', route.user, '-p', String(route.port), '-o', `HostName=${route.address}`];
}

/** The settings stapctl resolved, so that ssh connects exactly where and as whom `stapctl hosts` says. */
function connectionArgs(route: HostRoute): string[] {
  return [
    ...endpointArgs(route),
    ...(route.connectTimeoutMs === undefined ? [] : ['-o', `ConnectTimeout=${Math.max(1, Math.ceil(route.connectTimeoutMs / 1000))}`]),
    // Only the identities ssh would not read itself: its config's IdentityFile lines it reads anyway.
    ...route.identities.filter((identity) => identity.origin === 'inventory' || identity.origin === 'option').flatMap((identity) => ['-i', tokens(identity.file)]),
    ...(route.identitiesOnly ? ['-o', 'IdentitiesOnly=yes'] : []),
    ...hostKeyArgs(route),
  ];
}

/**
 * stapctl's policies on ssh's StrictHostKeyChecking. With off, ssh's `no` would record the new
 * key in the first known_hosts file: /dev/null comes first, so that off records nothing, as with
 * ssh2. The system-wide file is ssh's GlobalKnownHostsFile when stapctl checks it.
 */
function hostKeyArgs(route: HostRoute): string[] {
  const global = route.knownHostsFiles.filter((file) => file === SYSTEM_KNOWN_HOSTS);
  const user = route.knownHostsFiles.filter((file) => file !== SYSTEM_KNOWN_HOSTS);
  const recordInto = route.hostKeyPolicy === 'off' ? ['/dev/null'] : [];
  const strict = { strict: 'yes', 'accept-new': 'accept-new', off: 'no' }[route.hostKeyPolicy];
  return [
    '-o', `StrictHostKeyChecking=${strict}`,
    '-o', `UserKnownHostsFile=${fileList([...recordInto, ...user])}`,
    '-o', `GlobalKnownHostsFile=${fileList(global)}`,
    ...(route.hostKeyAlias === undefined ? [] : ['-o', `HostKeyAlias=${route.hostKeyAlias}`]),
  ];
}

const SYSTEM_KNOWN_HOSTS = '/etc/ssh/ssh_known_hosts';

function fileList(files: readonly string[]): string {
  return files.length === 0 ? 'none' : files.map((file) => `"${tokens(file)}"`).join(' ');
}

/**
 * Where the jump client of the master at SOCKET writes its stderr: a file, because a process that
 * lives as long as the master must not hold the pipe stapctl reads the master's start from.
 */
export function jumpErrors(socket: string): string {
  return `${socket}.jump-stderr`;
}

/**
 * The host's ProxyCommand when it sits behind a jump host: stdio forwarding (-W) through the jump's
 * own master, so that every host behind one bastion shares its connection, as ssh2's jumps do.
 * ssh expands %h and %p to this host's address and port, and runs it with /bin/sh.
 */
function throughJump(run: OpensshRun, jump: HostRoute, jumpSocket: string, errors: string): string {
  const argv = [run.ssh, ...clientArgs(run, jump, jumpSocket), '-W', '[%h]:%p', '--', destination(jump)];
  // The words were escaped for the inner ssh; the outer ssh expands the whole line once more.
  return [...argv.map((word) => (word === '[%h]:%p' ? word : percent(shellQuote(word)))), `2>>${percent(shellQuote(errors))}`].join(' ');
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** ssh expands %-tokens in paths: a literal % is %%. A " or a line break cannot be written at all. */
function tokens(text: string): string {
  if (/["\n\r\0]/.test(text)) {
    throw new StapctlError('SSH_CONFIG_INVALID', `cannot pass ${JSON.stringify(text)} to ssh: it holds a double quote or a line break`, {
      hint: 'rename the file or directory, or use --transport ssh2',
    });
  }
  return percent(text);
}

function percent(text: string): string {
  return text.replace(/%/g, '%%');
}

/** The name ssh matches its config's Host lines against; a leading '-' would read as an option. */
function destination(route: HostRoute): string {
  if (route.host.startsWith('-')) {
    throw new StapctlError('SSH_CONFIG_INVALID', `host name ${route.host} starts with '-'`, { host: route.host, hint: 'rename the host in the inventory' });
  }
  return route.host;
}
