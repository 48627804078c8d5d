import { join } from 'node:path';
import { isMissingFile, StapctlError } from '../errors.js';
import { removeIfPresent, UntrustedFile, writeFileAtomically } from './file-trust.js';
import { emptySpec, type ServerSpec } from './server-spec.js';
import { isListKey, isScalarKey, LIST_FIELDS, SCALAR_FIELDS } from './config-file.js';
import { localFiles, unlessNotInSnapshot, type HostFiles } from './host-files.js';
import { byteOrder } from './system.js';

/**
 * `STAT_PATH/<pid>.stat` records one running server, in exactly the format and key order the
 * stock script writes (start_server), so that the stock script and stapctl manage each other's
 * servers. Values are literal: no quoting, one `KEY+=item` line per list item.
 */

export function formatStatusFile(spec: ServerSpec): string {
  const lines = [
    `ARCH=${spec.arch}`,
    `USER=${spec.user}`,
    ...spec.builds.map((build) => `BUILD+=${build}`),
    ...spec.includes.map((include) => `INCLUDE+=${include}`),
    ...spec.defines.map((define) => `DEFINE+=${define}`),
    `NICKNAME=${spec.nickname}`,
    `RUNTIME=${spec.runtime}`,
    ...spec.releases.map((release) => `RELEASE+=${release}`),
    `LOG=${spec.log}`,
    `PORT=${spec.port}`,
    `SSL=${spec.ssl}`,
    `MAXTHREADS=${spec.maxThreads}`,
    `MAXREQSIZE=${spec.maxRequestSize}`,
    `MAXCOMPRESSEDREQ=${spec.maxCompressedRequest}`,
  ];
  // Planner and config parser refuse line breaks; one here would forge the next setting.
  const forged = lines.find((line) => /[\n\r]/.test(line));
  if (forged !== undefined) throw new Error(`status file value contains a line break: ${JSON.stringify(forged)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The stock script's interpret_server_status grammar: `KEY=value` and `KEY+=value`, literal,
 * blank and `#` lines ignored. For a list key, `KEY=` and `KEY=()` empty the list and `KEY+=`
 * and `KEY+=()` add nothing. Unlike the stock reader, `INCLUDE+=` keeps its first character.
 */
export function parseStatusFile(text: string, file: string): ServerSpec {
  const spec = emptySpec();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, index) => {
    if (line === '' || line.startsWith('#')) return;
    const match = /^([A-Z]+)(\+?=)(.*)$/s.exec(line);
    const key = match?.[1] ?? '';
    const append = match?.[2] === '+=';
    const value = match?.[3] ?? '';
    if (match && CONTROL_CHARACTER.test(value)) {
      // No writer puts one there (values are checked); one here would reach a terminal or an argv.
      throw invalidLine(line, index, file);
    } else if (match && isScalarKey(key) && !append) {
      spec[SCALAR_FIELDS[key]] = value;
    } else if (match && isListKey(key)) {
      const field = LIST_FIELDS[key];
      // In place: copying the list on every `KEY+=` line made a long file quadratic.
      if (!append) spec[field] = [];
      if (value !== '' && value !== '()') spec[field].push(value);
    } else {
      throw invalidLine(line, index, file);
    }
  });
  return spec;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function invalidLine(line: string, index: number, file: string): StapctlError {
  return new StapctlError('STATUS_FILE_INVALID', `invalid line ${JSON.stringify(line)} in a server status file`, {
    file,
    line: index + 1,
    hint: `if no stap-serverd runs as that PID, remove ${file}`,
  });
}

export function statusFileName(pid: number): string {
  return `${pid}.stat`;
}

/** Linux's PID_MAX_LIMIT: a larger number cannot be a process. */
const PID_MAX = 4194304;

/** The PID a status file is named after; any other file in STAT_PATH is not a server. */
export function pidFromStatusFileName(name: string): number | undefined {
  if (!/^[1-9][0-9]*\.stat$/.test(name)) return undefined;
  const pid = Number(name.slice(0, -'.stat'.length));
  return pid <= PID_MAX ? pid : undefined;
}

function unreadable(path: string, error: unknown): StapctlError {
  return new StapctlError('STATUS_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, {
    file: path,
    hint: 'check that the status directory (STAT_PATH) is readable by root',
    cause: error,
  });
}

/**
 * Written whole or not at all (see writeFileAtomically: a new dot-file with a random name, which
 * neither the stock script's `ls` nor readStatusFiles lists, flushed, then renamed), root-owned
 * 0644 as the stock script's. The directory must exist and have passed the StrictModes check.
 */
export function writeStatusFile(statPath: string, pid: number, spec: ServerSpec): void {
  writeFileAtomically(statPath, statusFileName(pid), formatStatusFile(spec), 0o644);
}

export function removeStatusFile(statPath: string, pid: number): void {
  removeIfPresent(join(statPath, statusFileName(pid)));
}

export interface StatusEntry {
  pid: number;
  file: string;
  spec: ServerSpec;
}

/** A status file this large is not one any writer made. */
const MAX_STATUS_FILE_BYTES = 1024 * 1024;

/**
 * Who may have written a status file root acts on: root (stapctl or the stock script, umask
 * 022), or the invoking user itself. A file anyone else owns or can write, a symlink, a hard
 * link or a FIFO could have been planted by the server account to point root at a path.
 */
const STATUS_FILE_OWNERS = [...new Set([0, process.geteuid?.() ?? 0])];

function untrusted(file: string, problem: UntrustedFile): StapctlError {
  return new StapctlError('STATUS_FILE_UNTRUSTED', `ignored, ${problem.message.slice(file.length + 2)}; only root's own status files are acted on`, {
    file,
    hint: `if no stap-serverd runs as that PID, remove ${file}; if it does, stop it by its PID (kill)`,
  });
}

/**
 * The servers recorded in `statPath`, ordered as the stock script lists them (byte order of the
 * file names, as `ls` in the C locale). A missing directory records none; a file removed while
 * we read (a server stopped by another run) is skipped; a bad file is an error, a file root did
 * not write is `ignored`, and the rest go on.
 */
export function readStatusFiles(statPath: string, host: HostFiles = localFiles): { entries: StatusEntry[]; errors: StapctlError[]; ignored: StapctlError[] } {
  let names: string[];
  try {
    names = host.list(statPath);
  } catch (error) {
    unlessNotInSnapshot(error);
    if (isMissingFile(error)) return { entries: [], errors: [], ignored: [] };
    return { entries: [], errors: [unreadable(statPath, error)], ignored: [] };
  }
  const entries: StatusEntry[] = [];
  const errors: StapctlError[] = [];
  const ignored: StapctlError[] = [];
  for (const name of names.sort(byteOrder)) {
    const pid = pidFromStatusFileName(name);
    if (pid === undefined) continue;
    const file = join(statPath, name);
    let text: string;
    try {
      text = host.readRootFile(file, STATUS_FILE_OWNERS, MAX_STATUS_FILE_BYTES);
    } catch (error) {
      unlessNotInSnapshot(error);
      if (error instanceof UntrustedFile) ignored.push(untrusted(file, error));
      else if (!isMissingFile(error)) errors.push(unreadable(file, error));
      continue;
    }
    try {
      entries.push({ pid, file, spec: parseStatusFile(text, file) });
    } catch (error) {
      if (!(error instanceof StapctlError)) throw error;
      errors.push(error);
    }
  }
  return { entries, errors, ignored };
}
