/**
 * A host's facts, as FACTS_COMMAND printed them, turned into the HostFiles the engine reads. The
 * output is remote input: it is parsed strictly (a bad record is that host's failure) and answers
 * only what the command gathered. Anything else (a file outside that set, an error other than
 * "missing", a write) throws NotInSnapshot, and the host's agent answers instead.
 */
import { posix } from 'node:path';
import { StapctlError } from '../../errors.js';
import { fileProblem, UntrustedFile } from '../../service/file-trust.js';
import { NotInSnapshot, type HostFiles } from '../../service/host-files.js';
import { FACTS_PROTOCOL, KERNEL_NAMES, LISTED_DIRECTORIES } from './facts-command.js';

interface Entry {
  name: string;
  /** find's %Y: f d l p s c b, N missing, L a loop, ? an error. */
  type: string;
  /** find's %y %U %m %n: the entry itself (a symlink is l), its owner, permission bits and links. */
  own: { type: string; uid: number; mode: number; nlink: number };
}

interface Facts {
  home: string;
  /** `uname -m`, printed where the kernel has no file for it. */
  machine?: string;
  tests: Map<string, string>;
  entries: Map<string, Entry[]>;
  links: Map<string, string>;
  lines: Map<string, string[]>;
}

const END = Buffer.from('end\0');
const NUL = '\0';
const NEWLINE = '\n';

/**
 * The snapshot of OUTPUT, or undefined when the command did not do its work: no `end` record (it
 * stopped), or no line of /etc/passwd, which every host has (a grep without -H -Z, as BusyBox's).
 */
export function parseHostSnapshot(output: Buffer, host: string): HostFiles | undefined {
  if (output.length < END.length || !output.subarray(output.length - END.length).equals(END)) return undefined;
  const facts = parseFacts(output, host);
  if (facts.tests.get(PASSWD)?.includes('r') && !facts.lines.has(PASSWD)) return undefined;
  const uname = kernelNames(facts);
  return uname === undefined ? undefined : snapshotFiles(facts, uname);
}

type Uname = { hostname: string; release: string; machine: string };

/** uname(2)'s strings: each file holds one line; without all three the agent answers. */
function kernelNames(facts: Facts): Uname | undefined {
  const line = (path: string): string | undefined => {
    const lines = facts.lines.get(path);
    return lines?.length === 1 ? lines[0] : undefined;
  };
  const hostname = line(KERNEL_NAMES.hostname);
  const release = line(KERNEL_NAMES.release);
  const machine = facts.machine ?? line(KERNEL_NAMES.machine);
  return hostname === undefined || release === undefined || machine === undefined ? undefined : { hostname, release, machine };
}

const PASSWD = '/etc/passwd';

function malformed(host: string, what: string): StapctlError {
  return new StapctlError('AGENT_PROTOCOL', `the host's facts are malformed: ${what}`, {
    host,
    hint: 'the host answered the fixed facts command with something else; check its sh, find and grep',
  });
}

class Reader {
  private at = 0;
  private readonly text: string;

  constructor(
    output: Buffer,
    private readonly host: string,
  ) {
    // Decoded once, not field by field (a third of the parse's CPU): NUL and newline are bytes that
    // no UTF-8 sequence holds, and a broken sequence just before one becomes U+FFFD without taking
    // it, so every field reads as it would on its own.
    this.text = output.toString('utf8');
  }

  /** The text up to the next END character, which is consumed. */
  next(end: string, what: string): string {
    const stop = this.text.indexOf(end, this.at);
    if (stop < 0) throw malformed(this.host, `${what} is not terminated`);
    const text = this.text.slice(this.at, stop);
    this.at = stop + 1;
    return text;
  }

  path(what: string): string {
    const path = this.next(NUL, what);
    if (!path.startsWith('/')) throw malformed(this.host, `${what} ${JSON.stringify(path.slice(0, 80))} is not an absolute path`);
    return path;
  }

  get done(): boolean {
    return this.at === this.text.length;
  }
}

function parseFacts(output: Buffer, host: string): Facts {
  const read = new Reader(output, host);
  const expect = (word: string) => {
    const found = read.next(NUL, `the record ${word}`);
    if (found !== word) throw malformed(host, `expected ${word}, got ${JSON.stringify(found.slice(0, 80))}`);
  };
  expect(FACTS_PROTOCOL);
  expect('home');
  const home = read.next(NUL, 'HOME');
  const facts: Facts = { home, tests: new Map(), entries: new Map(), links: new Map(), lines: new Map() };
  for (let kind = read.next(NUL, 'a record'); kind !== 'lines'; kind = read.next(NUL, 'a record')) {
    if (kind === 'test') {
      const path = read.path('a tested path');
      const flags = read.next(NUL, `the flags of ${path}`);
      if (!/^e?f?d?r?w?$/.test(flags)) throw malformed(host, `flags ${JSON.stringify(flags)} of ${path}`);
      facts.tests.set(path, flags);
    } else if (kind === 'entry') {
      const dir = read.path('a listed directory');
      const name = read.next(NUL, `an entry of ${dir}`);
      const type = read.next(NUL, `the type of ${dir}/${name}`);
      const own = [read.next(NUL, 'a type'), read.next(NUL, 'an owner'), read.next(NUL, 'a mode'), read.next(NUL, 'a link count')] as const;
      if (name === '' || name.includes('/') || !/^[fdlpscbNL?]$/.test(type) || !/^[fdlpscb]$/.test(own[0]) || !/^\d+$/.test(own[1]) || !/^[0-7]{1,4}$/.test(own[2]) || !/^\d+$/.test(own[3])) {
        throw malformed(host, `entry ${JSON.stringify(name)} (${[type, ...own].join(' ')}) of ${dir}`);
      }
      const entry = { name, type, own: { type: own[0], uid: Number(own[1]), mode: parseInt(own[2], 8), nlink: Number(own[3]) } };
      facts.entries.set(dir, [...(facts.entries.get(dir) ?? []), entry]);
    } else if (kind === 'machine') {
      const machine = read.next(NUL, 'uname -m');
      if (!/^\S+\n$/.test(machine)) throw malformed(host, `uname -m printed ${JSON.stringify(machine.slice(0, 80))}, not one word`);
      facts.machine = machine.slice(0, -1);
    } else if (kind === 'link') {
      const path = read.path('a link');
      facts.links.set(path, read.next(NUL, `the target of ${path}`));
    } else {
      throw malformed(host, `unknown record ${JSON.stringify(kind.slice(0, 80))}`);
    }
  }
  for (let path = read.next(NUL, 'a file name'); path !== 'end'; path = read.next(NUL, 'a file name')) {
    if (!path.startsWith('/')) throw malformed(host, `file name ${JSON.stringify(path.slice(0, 80))}`);
    const line = read.next(NEWLINE, `a line of ${path}`);
    const lines = facts.lines.get(path);
    if (lines === undefined) facts.lines.set(path, [line]);
    else lines.push(line);
  }
  if (!read.done) throw malformed(host, 'data after the end record');
  return facts;
}

function failure(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

/** /proc/PID/exe and /proc/PID/fd/N: a process that is gone has none of them. */
function processOf(path: string): string | undefined {
  return /^\/proc\/[1-9]\d*(?=\/)/.exec(path)?.[0];
}

/**
 * The facts read each network namespace's TCP tables once, through the first server in it: PATH,
 * /proc/PID/net/tcp or tcp6 of another server, is that table when both /proc/PID/ns/net links name
 * the same namespace. Undefined when no table read stands for it.
 */
function sharedTable(facts: Facts, path: string): string | undefined {
  const match = /^(\/proc\/[1-9]\d*)\/net\/(tcp6?)$/.exec(path);
  if (match === null) return undefined;
  const namespace = facts.links.get(`${match[1]}/ns/net`);
  if (namespace === undefined || !/^net:\[\d+\]$/.test(namespace)) return undefined;
  for (const [link, target] of facts.links) {
    const server = /^(\/proc\/[1-9]\d*)\/ns\/net$/.exec(link)?.[1];
    if (target === namespace && server !== undefined && facts.tests.has(`${server}/net/${match[2]}`)) return `${server}/net/${match[2]}`;
  }
  return undefined;
}

function snapshotFiles(facts: Facts, uname: Uname): HostFiles {
  const tested = (path: string, access: string): string => {
    const flags = facts.tests.get(path);
    if (flags === undefined) throw new NotInSnapshot(`${access} ${path}`);
    if (!flags.includes('e')) throw failure('ENOENT', path);
    return flags;
  };
  /** find printed the directory itself first, as a directory: a symlink it did not list. */
  const listedBy = (dir: string): boolean => facts.entries.get(posix.dirname(dir))?.some((entry) => entry.name === posix.basename(dir) && entry.own.type === 'd') ?? false;
  const processGone = (path: string): boolean => {
    const proc = processOf(path);
    return proc !== undefined && facts.tests.get(`${proc}/stat`) === '';
  };
  return {
    live: false,
    readText(wanted) {
      const path = facts.tests.has(wanted) ? wanted : (sharedTable(facts, wanted) ?? wanted);
      const flags = tested(path, 'read');
      if (!flags.includes('r') || flags.includes('d')) throw new NotInSnapshot(`read ${path} (${flags})`);
      const lines = facts.lines.get(path);
      return lines === undefined ? '' : `${lines.join('\n')}\n`;
    },
    /**
     * The same checks as on the host (file-trust.ts), on what find saw of the entry itself. The
     * content is read a moment later by grep: in a directory the server account owns, a file
     * swapped in between could change what a read-only status reports, never what root does;
     * every action that acts on status files runs in the agent, which checks the open descriptor.
     */
    readRootFile(path, owners) {
      const entry = facts.entries.get(posix.dirname(path))?.find((item) => item.name === posix.basename(path));
      if (entry === undefined) throw new NotInSnapshot(`read ${path}`);
      // The host opens it O_NOFOLLOW: a symlink fails there before anything else is looked at.
      if (entry.own.type === 'l') throw new UntrustedFile(`${path}: it is a symbolic link`);
      const problem = fileProblem({ regular: entry.own.type === 'f', nlink: entry.own.nlink, uid: entry.own.uid, mode: entry.own.mode }, { owners, privateToOwner: true });
      if (problem !== undefined) throw new UntrustedFile(`${path}: ${problem}`);
      return this.readText(path);
    },
    list(dir) {
      if (/^\/proc\/[1-9]\d*\/fd$/.test(dir)) {
        if (!facts.links.has(dir)) {
          if (processGone(dir)) throw failure('ENOENT', dir);
          throw new NotInSnapshot(`list ${dir}`);
        }
        return [...facts.links.keys()].filter((path) => posix.dirname(path) === dir).map((path) => posix.basename(path));
      }
      const flags = tested(dir, 'list');
      if (!LISTED_DIRECTORIES.includes(dir) || !flags.includes('r') || !listedBy(dir)) throw new NotInSnapshot(`list ${dir} (${flags})`);
      return (facts.entries.get(dir) ?? []).map((entry) => entry.name);
    },
    readLink(path) {
      const target = facts.links.get(path);
      if (target === undefined) {
        if (processGone(path)) throw failure('ENOENT', path);
        throw new NotInSnapshot(`readlink ${path}`);
      }
      if (target === '') throw failure('EACCES', path);
      return target;
    },
    kind(path) {
      const entry = facts.entries.get(posix.dirname(path))?.find((item) => item.name === posix.basename(path));
      const type = entry?.type;
      if (type === 'N') throw failure('ENOENT', path);
      if (type === 'f' || type === 'd') return type === 'f' ? 'file' : 'directory';
      if (type !== undefined && type !== 'L' && type !== '?') return 'other';
      if (type !== undefined) throw new NotInSnapshot(`stat ${path} (${type})`);
      const flags = tested(path, 'stat');
      return flags.includes('f') ? 'file' : flags.includes('d') ? 'directory' : 'other';
    },
    writable: (path) => tested(path, 'access').includes('w'),
    getent(database, key) {
      throw new NotInSnapshot(`getent ${database} ${key}`);
    },
    machine: () => uname.machine,
    release: () => uname.release,
    hostname: () => uname.hostname,
    home: () => facts.home,
  };
}
