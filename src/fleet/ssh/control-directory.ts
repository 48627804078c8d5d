/**
 * The private directory of one --transport openssh run: the masters' control sockets and the run's
 * ssh config file. Whoever can connect to a control socket runs commands on that host as the
 * login user, so the directory is the controller user's alone: created by mkdtemp (0700), checked
 * through lstat (a real directory, ours, 0700) before anything is put in it, with a parent that no
 * one else can rename it in, and removed at the end of the run.
 */
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StapctlError } from '../../errors.js';

/**
 * sun_path is 108 bytes on Linux and 104 on the BSDs and macOS; ssh also appends a temporary
 * suffix of up to 17 characters while it binds the socket.
 */
const SOCKET_PATH_LIMIT = 104 - 18;

export class ControlDirectory {
  private sockets = 0;

  private constructor(readonly path: string) {}

  /** Under $XDG_RUNTIME_DIR when it is usable (the user's own tmpfs), else under $TMPDIR or /tmp. */
  static async create(env: NodeJS.ProcessEnv): Promise<ControlDirectory> {
    const runtime = env.XDG_RUNTIME_DIR;
    const parent = runtime !== undefined && runtime !== '' && (await parentProblem(runtime)) === undefined ? runtime : env.TMPDIR || tmpdir();
    const problem = await parentProblem(parent);
    if (problem !== undefined) throw unsafe(parent, problem);
    const path = await mkdtemp(join(parent, 'stapctl-mux-'));
    const created = await lstat(path);
    const ownProblem = !created.isDirectory() ? 'not a directory' : created.uid !== process.getuid?.() ? `owned by uid ${created.uid}` : (created.mode & 0o777) !== 0o700 ? `mode ${(created.mode & 0o777).toString(8)}, not 700` : undefined;
    if (ownProblem !== undefined) {
      await rm(path, { recursive: true, force: true });
      throw unsafe(path, ownProblem);
    }
    const directory = new ControlDirectory(path);
    if (join(path, 'm99999').length > SOCKET_PATH_LIMIT) {
      await directory.remove();
      throw new StapctlError('UNSAFE_PATH', `control socket paths under ${parent} are too long for a Unix socket (${SOCKET_PATH_LIMIT} bytes)`, {
        hint: 'set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory, such as /tmp',
      });
    }
    return directory;
  }

  /** A fresh name for one master's socket: short, and never one that exists. */
  socketPath(): string {
    this.sockets += 1;
    return join(this.path, `m${this.sockets}`);
  }

  /** A file of the run, created exclusively (0600): nothing planted is ever written through. */
  async writeFile(name: string, content: string): Promise<string> {
    const file = join(this.path, name);
    await writeFile(file, content, { flag: 'wx', mode: 0o600 });
    return file;
  }

  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

/**
 * A parent in which no one else can replace our directory: ours or root's, and either writable by
 * no one else or sticky (/tmp), where only we may rename what we created.
 */
async function parentProblem(path: string): Promise<string | undefined> {
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    return `cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
  }
  if (!stat.isDirectory()) return 'not a directory (or a symbolic link)';
  if (stat.uid !== 0 && stat.uid !== process.getuid?.()) return `owned by uid ${stat.uid}`;
  if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) return 'writable by others and not sticky';
  return undefined;
}

function unsafe(path: string, problem: string): StapctlError {
  return new StapctlError('UNSAFE_PATH', `cannot keep ssh control sockets in ${path}: ${problem}`, {
    file: path,
    hint: 'set TMPDIR (or XDG_RUNTIME_DIR) to a directory of your own, mode 0700',
  });
}
