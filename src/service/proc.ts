import { basename } from 'node:path';
import { localFiles, unlessNotInSnapshot, type HostFiles } from './host-files.js';

/**
 * What /proc says about one process. The stock script asks `ps -e | grep stap-serverd | grep PID`,
 * which takes PID 611 for alive while PID 6116 runs; reading /proc/PID itself cannot confuse them.
 */
export interface ProcessInfo {
  pid: number;
  /** Target of /proc/PID/exe; undefined when unreadable (a zombie, or a kernel thread). */
  exe: string | undefined;
  comm: string;
  /** Real uid. */
  uid: number;
  /** One letter: R S D Z T ... */
  state: string;
  /** Field 22 of /proc/PID/stat, in clock ticks since boot: with the PID, names one process for good. */
  startTime: number;
}

const SERVER_EXECUTABLE = 'stap-serverd';

/** The parts of /proc/PID/stat we use. comm may hold spaces and parentheses, so split at the last ')'. */
export function parseProcStat(text: string): { comm: string; state: string; startTime: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const state = fields[0];
  const startTime = Number(fields[22 - 3]);
  if (state === undefined || !Number.isInteger(startTime)) return undefined;
  return { comm: text.slice(open + 1, close), state, startTime };
}

/** The real uid from the `Uid:` line of /proc/PID/status. */
export function parseStatusUid(text: string): number | undefined {
  const match = /^Uid:\s+(\d+)/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** What /proc/PID/stat alone says: enough to see the process that started at a given moment go. */
export function readProcessStat(pid: number, procRoot = '/proc', host: HostFiles = localFiles): ReturnType<typeof parseProcStat> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseProcStat(host.readText(`${procRoot}/${pid}/stat`));
  } catch (error) {
    unlessNotInSnapshot(error);
    return undefined;
  }
}

/**
 * Whether the process PID that started at START_TIME still runs (a zombie does not): a PID and its
 * start time name one process for good, so /proc/PID/stat alone answers.
 */
export function runningSince(pid: number, startTime: number): boolean {
  const now = readProcessStat(pid);
  return now !== undefined && now.state !== 'Z' && now.startTime === startTime;
}

export function readProcess(pid: number, procRoot = '/proc', host: HostFiles = localFiles): ProcessInfo | undefined {
  const stat = readProcessStat(pid, procRoot, host);
  if (stat === undefined) return undefined;
  const dir = `${procRoot}/${pid}`;
  let uid: number | undefined;
  try {
    uid = parseStatusUid(host.readText(`${dir}/status`));
  } catch (error) {
    unlessNotInSnapshot(error);
    return undefined;
  }
  if (uid === undefined) return undefined;
  let exe: string | undefined;
  try {
    exe = host.readLink(`${dir}/exe`);
  } catch (error) {
    unlessNotInSnapshot(error);
    exe = undefined;
  }
  return { pid, exe, comm: stat.comm, uid, state: stat.state, startTime: stat.startTime };
}

/** A package upgrade replaces the binary under a running server; the kernel then appends " (deleted)". */
function executableName(exe: string): string {
  return basename(exe.replace(/ \(deleted\)$/, ''));
}

export function isServerProcess(info: ProcessInfo | undefined, uid: number): boolean {
  if (info === undefined) return false;
  if (info.state === 'Z' || info.state === 'X') return false;
  if (info.uid !== uid) return false;
  const name = info.exe === undefined ? info.comm : executableName(info.exe);
  return name === SERVER_EXECUTABLE;
}

export interface TcpSocket {
  inode: number;
  port: number;
  /** Two hex digits as the kernel prints them; '0A' is LISTEN. */
  state: string;
}

const TCP_LISTEN = '0A';

/** The rows of /proc/net/tcp or tcp6: `sl local_address rem_address st ... uid timeout inode ...`. */
export function parseProcNetTcp(text: string): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    const inode = Number(fields[9]);
    if (local === undefined || state === undefined || !Number.isInteger(inode)) continue;
    const portHex = local.slice(local.lastIndexOf(':') + 1);
    const port = Number.parseInt(portHex, 16);
    if (!/^[0-9A-Fa-f]+$/.test(portHex) || Number.isNaN(port)) continue;
    sockets.push({ inode, port, state: state.toUpperCase() });
  }
  return sockets;
}

/** Inodes of the sockets a process holds open, from its `socket:[INODE]` fd links. */
export function socketInodes(pid: number, procRoot = '/proc', host: HostFiles = localFiles): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = host.list(`${procRoot}/${pid}/fd`);
  } catch (error) {
    unlessNotInSnapshot(error);
    return inodes;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = host.readLink(`${procRoot}/${pid}/fd/${fd}`);
    } catch (error) {
      unlessNotInSnapshot(error);
      continue;
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(Number(match[1]));
  }
  return inodes;
}

/** A TCP socket in LISTEN that a process holds. */
export interface Listener {
  port: number;
  inode: number;
}

/**
 * The TCP sockets the process listens on: those of the first table that has any, by port. The
 * tables are read through /proc/PID/net so that a process in another network namespace (a
 * simulated host of the test farm) is seen in its own namespace. tcp6 first, and tcp only when the
 * process listens on none there: stap-serverd listens on IPv6's any address (dual stack), and the
 * kernel writes out every socket of the namespace for each read, most of them (ssh sessions,
 * clients) in tcp, so a start (which polls this) and a status read the large table no more.
 */
export function listeners(pid: number, procRoot = '/proc', host: HostFiles = localFiles): Listener[] {
  const inodes = socketInodes(pid, procRoot, host);
  if (inodes.size === 0) return [];
  const found = new Map<number, Listener>();
  for (const table of ['tcp6', 'tcp']) {
    if (found.size > 0) break;
    let text: string;
    try {
      text = host.readText(`${procRoot}/${pid}/net/${table}`);
    } catch (error) {
      unlessNotInSnapshot(error);
      continue;
    }
    for (const socket of parseProcNetTcp(text)) {
      if (socket.state === TCP_LISTEN && inodes.has(socket.inode) && !found.has(socket.port)) found.set(socket.port, { port: socket.port, inode: socket.inode });
    }
  }
  return [...found.values()].sort((a, b) => a.port - b.port);
}

/** The TCP ports the process listens on (listeners), in order. */
export function listeningPorts(pid: number, procRoot = '/proc', host: HostFiles = localFiles): number[] {
  return listeners(pid, procRoot, host).map((listener) => listener.port);
}
