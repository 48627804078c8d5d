/**
 * The controller-agent contract without root and without sshd: the launcher runs under a local
 * `sh` with a temporary HOME (as Mitogen's first_stage_test does), and `runAgent` talks to a
 * session that runs its commands the same way.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, readdirSync, readlinkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StapctlError } from '../../../src/errors.js';
import {
  AGENT_MISSING,
  AGENT_PROTOCOL,
  AGENT_WANTED,
  agentBundle,
  agentScript,
  CACHE_UNSAFE,
  compileAgentScript,
  decodeAgentResponse,
  killCommand,
  launcherCommand,
  NODE_MISSING,
  parseAgentRequest,
  reportedPid,
  runAgent,
  sudo,
  withoutPidReport,
  type AgentBundle,
  type AgentRequest,
} from '../../../src/fleet/agent/contract.js';
import type { ExecOptions, ExecResult, SshSession } from '../../../src/fleet/ssh/transport.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-agent-contract-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const RESPONSE = { protocol: AGENT_PROTOCOL, version: '0.0.0', hostname: 'h1', report: { action: 'status', steps: [], exitCode: 3, warnings: [] } };
/** A stand-in agent: answers RESPONSE and leaves a mark, so a test can tell whether it ran. */
const AGENT_SOURCE = `require("fs").writeFileSync(process.env.HOME + "/ran", "yes"); process.stdout.write(${JSON.stringify(JSON.stringify(RESPONSE))} + "\\n");`;

let counter = 0;
function fixture(source = AGENT_SOURCE, codeCache?: Buffer): { home: string; bundle: AgentBundle; cached: string } {
  const dir = join(scratch, `case-${++counter}`);
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const bundle = agentBundle(Buffer.from(source), '9.9.9', codeCache);
  return { home, bundle, cached: join(home, bundle.remotePath) };
}

function cache(f: { bundle: AgentBundle; cached: string }, content = f.bundle.content): void {
  mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
  writeFileSync(f.cached, content);
}

/** The request as the controller sends it: one line. */
const REQUEST = '{"protocol":1}\n';

function launch(command: string, home: string, path = process.env.PATH ?? '', input: string | Buffer = REQUEST, env: NodeJS.ProcessEnv = {}) {
  return spawnSync('/bin/sh', ['-c', command], { env: { HOME: home, PATH: path, ...env }, encoding: 'utf8', input });
}

/**
 * The launcher on a host with no agent, its stdin as the controller sends it when asked: the
 * request, then the bundle and the request again, all of it at once.
 */
function install(f: { home: string; bundle: AgentBundle }, options: { path?: string; env?: NodeJS.ProcessEnv; prefix?: string; content?: Buffer; become?: typeof sudo; request?: string } = {}) {
  const request = options.request ?? REQUEST;
  const input = Buffer.concat([Buffer.from(request), options.content ?? f.bundle.content, Buffer.from(request)]);
  return launch(`${options.prefix ?? ''}${launcherCommand(f.bundle, options.become)}`, f.home, options.path, input, options.env);
}

/** Whether the launcher asked for the agent: its line of its own on stderr. */
function askedForAgent(stderr: string): boolean {
  return stderr.split('\n').includes(AGENT_WANTED);
}

/** The cache directory's entries: the agent and nothing else, or nothing at all. */
function cacheEntries(f: { cached: string }): string[] {
  return readdirSync(dirname(f.cached)).sort();
}

/** A directory of fake commands put first in PATH. */
function fakeBin(scripts: Record<string, string>): string {
  const bin = join(scratch, `bin-${++counter}`);
  mkdirSync(bin);
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

/** Fake `id` and `sudo`: the login user seems another uid than the one that made the cache; sudo runs what follows `--`. */
function anotherLoginUser(): string {
  return fakeBin({ id: `echo ${(process.getuid?.() ?? 0) + 4242}`, sudo: '[ "$1" = -n ] && [ "$2" = -- ] || exit 1; shift 2; exec "$@"' });
}

describe('the agent cache path', () => {
  test('changes with the bundle content and the version', () => {
    const a = agentBundle(Buffer.from('one'), '1.0.0').remotePath;
    assert.match(a, /^\.cache\/stapctl\/1\.0\.0-[0-9a-f]{12}\/agent$/);
    assert.notEqual(a, agentBundle(Buffer.from('two'), '1.0.0').remotePath);
    assert.notEqual(a, agentBundle(Buffer.from('one'), '1.0.1').remotePath);
  });

  test('a remote path with shell characters is refused', () => {
    assert.throws(() => launcherCommand({ content: Buffer.from('x'), scriptLength: 1, remotePath: '.cache/$(id)/a', sha256: 'a'.repeat(64) }), /unsafe/);
  });

  test('the launcher\'s command line holds only the fixed path, the hash and numbers after the first stage', () => {
    const bundle = agentBundle(Buffer.from('x'.repeat(1234)), '1.0.0', Buffer.from('c'.repeat(10)));
    const tail = (command: string) => command.slice(command.lastIndexOf("'") + 1);
    const path = `"$HOME/${bundle.remotePath}"`;
    assert.equal(tail(launcherCommand(bundle)), ` ${path} ${bundle.sha256} - 1234 1244`);
    assert.equal(tail(launcherCommand(bundle, sudo)), ` ${path} ${bundle.sha256} "$(id -u)" 1234 1244`);
  });
});

describe('the launcher under a local sh', () => {
  test('exits 98 with a message when the host has no node', () => {
    const f = fixture();
    cache(f);
    const result = launch(launcherCommand(f.bundle), f.home, '/nonexistent-bin');
    assert.equal(result.status, NODE_MISSING);
    assert.match(result.stderr, /node not found/);
  });

  test('asks for the agent when none is cached, and exits 97 when stdin then ends: nothing cached, nothing run', () => {
    const f = fixture();
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, AGENT_MISSING, result.stderr);
    assert.ok(askedForAgent(result.stderr), result.stderr);
    assert.match(result.stderr, /stapctl-agent-corrupt the 0 bytes received are not the bundle/);
    assert.deepEqual(cacheEntries(f), []);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('runs the cached agent with the request on its stdin when its SHA-256 matches, without asking for the agent', () => {
    const f = fixture('process.stdin.pipe(process.stdout)');
    cache(f);
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, REQUEST);
    assert.equal(askedForAgent(result.stderr), false);
  });

  test('reports its pid first on stderr', () => {
    const f = fixture();
    cache(f);
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.ok(reportedPid(Buffer.from(result.stderr)) !== undefined, result.stderr);
  });

  test('a replaced cached agent is not run: the launcher asks for the agent', () => {
    const f = fixture();
    cache(f, Buffer.from(`require("fs").writeFileSync(process.env.HOME + "/ran", "evil")`));
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, AGENT_MISSING);
    assert.ok(askedForAgent(result.stderr), result.stderr);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('an empty cached agent is not run: the launcher asks for the agent', () => {
    const f = fixture();
    cache(f, Buffer.alloc(0));
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, AGENT_MISSING);
    assert.ok(askedForAgent(result.stderr), result.stderr);
  });

  test('a cached agent that is a symlink to the right content is not followed: the launcher asks for the agent', () => {
    const f = fixture();
    mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
    const elsewhere = join(scratch, `right-content-${counter}`);
    writeFileSync(elsewhere, f.bundle.content);
    symlinkSync(elsewhere, f.cached);
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, AGENT_MISSING);
    assert.ok(askedForAgent(result.stderr), result.stderr);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a cache directory that is a symlink is refused: exit 96 naming it', () => {
    const f = fixture();
    const elsewhere = join(scratch, `elsewhere-${counter}`);
    mkdirSync(elsewhere, { mode: 0o700 });
    mkdirSync(join(f.home, '.cache'), { recursive: true });
    symlinkSync(elsewhere, join(f.home, '.cache/stapctl'));
    cache(f);
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /stapctl-cache-unsafe .*\.cache\/stapctl: not a directory/);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a cache directory gone between the shell\'s mkdir and the first stage\'s check is refused: exit 96 naming it, the agent not asked for', () => {
    const f = fixture();
    const shims = join(scratch, `shims-${counter}`);
    mkdirSync(shims);
    // A mkdir that succeeds and makes nothing: the directory removed right after the shell made it.
    writeFileSync(join(shims, 'mkdir'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const result = launch(launcherCommand(f.bundle), f.home, `${shims}:${process.env.PATH ?? ''}`);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /stapctl-cache-unsafe .*\.cache\/stapctl: cannot be checked \(ENOENT\)/);
    assert.equal(askedForAgent(result.stderr), false);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a cache directory writable by others is refused: exit 96', () => {
    const f = fixture();
    cache(f);
    chmodSync(dirname(f.cached), 0o777);
    const result = launch(launcherCommand(f.bundle), f.home);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /writable by others/);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('(become) a cache directory not owned by the login user is refused: exit 96 (another login uid faked through id)', () => {
    const f = fixture();
    cache(f);
    const result = launch(launcherCommand(f.bundle, sudo), f.home, `${anotherLoginUser()}:${process.env.PATH ?? ''}`);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /owned by uid/);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('become wraps the same first stage in sudo -n, which never asks for a password', () => {
    const f = fixture();
    cache(f);
    const log = join(scratch, `sudo-args-${counter}`);
    // A stand-in sudo: records its arguments, then runs what follows `--`.
    const bin = fakeBin({ sudo: `printf '%s\\n' "$@" > ${log}; [ "$1" = -n ] && [ "$2" = -- ] || exit 1; shift 2; exec "$@"` });
    const result = launch(launcherCommand(f.bundle, sudo), f.home, `${bin}:${process.env.PATH ?? ''}`);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), RESPONSE);
    const args = readFileSync(log, 'utf8').split('\n');
    assert.deepEqual(args.slice(0, 2), ['-n', '--']);
    assert.match(args[2] ?? '', /node/);
    assert.equal(args[3], '-e');
  });
});

describe('the launcher installing the agent it asked for, under a local sh', () => {
  /** The agent echoes its stdin: what is left there after the bundle must be the request alone. */
  const ECHO = 'process.stdin.pipe(process.stdout)';
  /** Makes the first stage's random temporary name predictable: ".tmp-" then 16 zeros. */
  const fixedRandom = join(scratch, 'fixed-random.cjs');
  writeFileSync(fixedRandom, 'require("crypto").randomBytes = (n) => Buffer.alloc(n);\n');
  const temporaryOf = (f: { cached: string }) => `${f.cached}.tmp-${'0'.repeat(16)}`;

  test('creates the cache directories 0700, installs the agent it received (0600, no temporary file left) and runs it with the request on its stdin', () => {
    const f = fixture(ECHO);
    const result = install(f);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, REQUEST);
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
    assert.equal(statSync(f.cached).mode & 0o777, 0o600);
    assert.equal(statSync(join(f.home, '.cache/stapctl')).mode & 0o777, 0o700);
    assert.equal(statSync(dirname(f.cached)).mode & 0o777, 0o700);
    assert.deepEqual(cacheEntries(f), ['agent']);
    assert.equal(launch(launcherCommand(f.bundle), f.home).stdout, REQUEST);
  });

  test('bytes that are not the bundle are refused: exit 97, nothing cached, nothing run', () => {
    const f = fixture();
    const tampered = Buffer.from(f.bundle.content);
    tampered[0] = 0x20;
    const result = install(f, { content: tampered });
    assert.equal(result.status, AGENT_MISSING);
    assert.match(result.stderr, /stapctl-agent-corrupt the \d+ bytes received are not the bundle/);
    assert.deepEqual(cacheEntries(f), []);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a stdin that ends before the bundle does is refused: exit 97, nothing cached, nothing run', () => {
    const f = fixture();
    const result = launch(launcherCommand(f.bundle), f.home, undefined, Buffer.concat([Buffer.from(REQUEST), f.bundle.content.subarray(0, 10)]));
    assert.equal(result.status, AGENT_MISSING);
    assert.match(result.stderr, /stapctl-agent-corrupt the 10 bytes received are not the bundle/);
    assert.deepEqual(cacheEntries(f), []);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a request line longer than the bundle is read past whole: the bundle that follows installs and the agent reads the request sent after it', () => {
    const f = fixture(ECHO);
    const request = `{"pad":"${'x'.repeat(3 * f.bundle.content.length)}"}\n`;
    const result = install(f, { request });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, request);
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
  });

  test('a corrupted cached agent is replaced by the one received', () => {
    const f = fixture(ECHO);
    cache(f, Buffer.from('process.exit(3)'));
    assert.equal(install(f).status, 0);
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
  });

  test('a symlink planted at the final name is replaced, never written through', () => {
    const f = fixture(ECHO);
    const target = join(scratch, `planted-target-${counter}`);
    writeFileSync(target, 'precious');
    mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
    symlinkSync(target, f.cached);
    assert.equal(install(f).status, 0);
    assert.equal(readFileSync(target, 'utf8'), 'precious');
    assert.equal(lstatSync(f.cached).isFile(), true);
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
  });

  for (const planted of ['symlink', 'file'] as const) {
    test(`a ${planted} planted at the temporary name is never written through: the agent runs from memory, with a warning`, () => {
      const f = fixture(ECHO);
      const target = join(scratch, `planted-target-${counter}`);
      writeFileSync(target, 'precious');
      mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
      if (planted === 'symlink') symlinkSync(target, temporaryOf(f));
      else writeFileSync(temporaryOf(f), 'precious');
      const result = install(f, { env: { NODE_OPTIONS: `--require ${fixedRandom}` } });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, REQUEST);
      assert.match(result.stderr, /stapctl-cache-unwritable .*EEXIST/);
      assert.equal(readFileSync(target, 'utf8'), 'precious');
      if (planted === 'symlink') assert.equal(readlinkSync(temporaryOf(f)), target);
      else assert.equal(readFileSync(temporaryOf(f), 'utf8'), 'precious');
      assert.equal(existsSync(f.cached), false);
    });
  }

  test('a write that fails (file size limit 0, as a full disk) runs the agent from memory and leaves no file behind', () => {
    const f = fixture(ECHO);
    // node ignores SIGXFSZ itself, so the write fails with EFBIG as it would with ENOSPC.
    const result = install(f, { prefix: 'ulimit -f 0; ' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, REQUEST);
    assert.match(result.stderr, /stapctl-cache-unwritable .*\.tmp-[0-9a-f]{16}: EFBIG/);
    assert.deepEqual(cacheEntries(f), []);
  });

  test('a group-writable cache directory is refused before anything is written: exit 96', () => {
    const f = fixture();
    mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
    chmodSync(dirname(f.cached), 0o770);
    const result = install(f);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /stapctl-cache-unsafe .*: writable by others/);
    assert.deepEqual(cacheEntries(f), []);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a cache directory that is a symlink is refused before anything is written through it: exit 96', () => {
    const f = fixture();
    const elsewhere = join(scratch, `elsewhere-${counter}`);
    mkdirSync(elsewhere, { mode: 0o700 });
    mkdirSync(join(f.home, '.cache'), { recursive: true });
    symlinkSync(elsewhere, join(f.home, '.cache/stapctl'));
    const result = install(f);
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /\.cache\/stapctl: not a directory/);
    // The login shell's mkdir -p made the version directory through the link; no file is in it.
    assert.deepEqual(readdirSync(elsewhere, { recursive: true }), [basename(dirname(f.cached))]);
  });

  test('(become) a cache directory not owned by the login user is refused before anything is written: exit 96', () => {
    const f = fixture();
    const result = install(f, { become: sudo, path: `${anotherLoginUser()}:${process.env.PATH ?? ''}` });
    assert.equal(result.status, CACHE_UNSAFE);
    assert.match(result.stderr, /owned by uid/);
    assert.deepEqual(cacheEntries(f), []);
  });
});

describe('the code cache sent with the agent', () => {
  /** Stand-in agents of the same length that leave different marks. */
  const marking = (mark: string) => `require("fs").writeFileSync(process.env.HOME + "/ran", "${mark}");`;
  const ranMark = (f: { home: string }) => readFileSync(join(f.home, 'ran'), 'utf8');

  test('the first stage compiles the agent with it: a cache made from another script of the same length runs that script (V8 checks only the length)', () => {
    const other = compileAgentScript(Buffer.from(marking('cache')), 'other.js').createCachedData();
    const f = fixture(marking('bytes'), other);
    assert.equal(install(f).status, 0);
    assert.equal(ranMark(f), 'cache');
  });

  test('a cache that V8 rejects (another V8, or not a cache) is ignored: the script runs', () => {
    const f = fixture(marking('bytes'), Buffer.from('not a V8 code cache'));
    assert.equal(install(f).status, 0);
    assert.equal(ranMark(f), 'bytes');
  });

  test('a changed byte of the cache is refused as a changed script is: exit 97, nothing run', () => {
    const f = fixture(marking('bytes'), Buffer.from('not a V8 code cache'));
    const tampered = Buffer.from(f.bundle.content);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
    cache(f, tampered);
    assert.equal(launch(launcherCommand(f.bundle), f.home).status, AGENT_MISSING);
    assert.equal(existsSync(join(f.home, 'ran')), false);
  });

  test('a bundle\'s #! line is made a comment of the same length: the script compiles inside a function', () => {
    const bundle = Buffer.from('#!/usr/bin/env node\nexports.x = 1;');
    assert.equal(agentScript(bundle).toString(), '///usr/bin/env node\nexports.x = 1;');
    const f = fixture(`#!/usr/bin/env node\n${marking('bytes')}`);
    assert.equal(install(f).status, 0);
    assert.equal(ranMark(f), 'bytes');
  });
});

describe('the PID report', () => {
  test('is found after lines a login script printed, and stripped from stderr', () => {
    const stderr = Buffer.from('motd line\nstapctl-pid 4242\nreal error\n');
    assert.equal(reportedPid(stderr), 4242);
    assert.equal(withoutPidReport(stderr).toString(), 'motd line\nreal error\n');
  });
});

describe('the kill command', () => {
  for (const become of [undefined, sudo]) {
    test(`${become ? '(become: through sudo -n and node) ' : ''}ends the whole process group of an agent`, { skip: become !== undefined && process.getuid?.() !== 0 && 'sudo -n needs root here' }, async () => {
      const group = spawn('/bin/sh', ['-c', 'sleep 60 & exec sleep 60'], { detached: true, stdio: 'ignore' });
      assert.ok(group.pid);
      const ended = once(group, 'exit');
      const kill = spawnSync('/bin/sh', ['-c', killCommand(group.pid, become)], { encoding: 'utf8', timeout: 10_000 });
      if (kill.status !== 0) process.kill(-group.pid, 'SIGKILL');
      assert.equal(kill.status, 0, kill.stderr);
      assert.deepEqual(await ended, [null, 'SIGKILL']);
      // A killed background child may linger as a zombie until it is reaped: dead all the same.
      const left = spawnSync('ps', ['-o', 'stat=', '-g', String(group.pid)], { encoding: 'utf8' });
      assert.deepEqual(left.stdout.split('\n').filter((stat) => stat !== '' && !stat.startsWith('Z')), [], 'a process of the group survived');
    });
  }

  test('refuses a process group that would mean every process', () => {
    assert.throws(() => killCommand(1, sudo), /not a process group/);
    assert.throws(() => killCommand(0), /not a process group/);
  });
});

describe('the schema', () => {
  function protocolError(data: unknown): StapctlError {
    try {
      decodeAgentResponse('h1', data, 'excerpt');
    } catch (error) {
      assert.ok(error instanceof StapctlError);
      return error;
    }
    assert.fail('expected AGENT_PROTOCOL');
  }

  const status = (spec: Record<string, unknown>) => ({
    ...RESPONSE,
    report: { action: 'status', steps: [{ kind: 'status', outcome: 'running', pid: 9, spec }], exitCode: 0, warnings: [] },
  });
  const spec = { arch: 'x86_64', releases: ['6.1'], runtime: '', defines: [], includes: [], builds: [], user: 'stap-server', nickname: 'a', log: '', port: '', ssl: '', maxThreads: '', maxRequestSize: '', maxCompressedRequest: '' };

  test('a well-formed response decodes, its strings cleaned of terminal escapes', () => {
    const decoded = decodeAgentResponse('h1', status({ ...spec, nickname: 'a\u001b]0;pwned\u0007b' }), '');
    assert.ok('report' in decoded);
    assert.equal(decoded.report.steps[0]?.kind === 'status' && decoded.report.steps[0].spec.nickname, 'ab');
  });

  test('releases as a string is AGENT_PROTOCOL naming the field', () => {
    const error = protocolError(status({ ...spec, releases: '6.1' }));
    assert.equal(error.code, 'AGENT_PROTOCOL');
    assert.match(error.message, /report\.steps\.0\.spec\.releases/);
    assert.equal(error.host, 'h1');
    assert.equal(error.detail, 'excerpt');
  });

  test('300k-deep JSON is AGENT_PROTOCOL within a second, without a stack overflow', () => {
    const deep = JSON.parse('['.repeat(300_000) + ']'.repeat(300_000));
    const began = performance.now();
    assert.equal(protocolError({ ...RESPONSE, report: deep }).code, 'AGENT_PROTOCOL');
    assert.equal(protocolError(deep).code, 'AGENT_PROTOCOL');
    assert.ok(performance.now() - began < 1000);
  });

  test('an unknown step kind is AGENT_PROTOCOL', () => {
    assert.equal(protocolError({ ...RESPONSE, report: { ...RESPONSE.report, steps: [{ kind: 'format-disk' }] } }).code, 'AGENT_PROTOCOL');
  });

  test('the agent refuses a request with a wrongly typed field', () => {
    assert.throws(() => parseAgentRequest('{"protocol":1,"request":{"action":"status","tokens":"-i"}}'), (error: StapctlError) => error.code === 'AGENT_PROTOCOL' && /tokens/.test(error.message));
  });

  test('the agent accepts the request the controller builds', () => {
    const request = { action: 'start' as const, tokens: [{ flag: 'i' as const }, { flag: 'r' as const, value: '6.1' }], serverUser: 'stap-server' };
    assert.deepEqual(parseAgentRequest(JSON.stringify({ protocol: AGENT_PROTOCOL, request })), request);
  });
});

/**
 * An SshSession whose commands run under the local sh with HOME set, stdin sent as the transports
 * send it (the rest when stderr asks for it); `alter` may change the rest on its way.
 */
class LocalShellSession implements SshSession {
  readonly warnings: string[] = [];
  readonly commands: string[] = [];
  readonly stdins: Buffer[] = [];
  /** What was sent on request, per command: nothing when the command did not ask. */
  readonly sentOnRequest: (Buffer | undefined)[] = [];

  constructor(
    private readonly home: string,
    private readonly alter: (rest: Buffer) => Buffer = (rest) => rest,
  ) {}

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const index = this.commands.push(command) - 1;
    this.stdins.push(Buffer.from(options.stdin ?? ''));
    const child = spawn('/bin/sh', ['-c', command], { env: { HOME: this.home, PATH: process.env.PATH ?? '' } });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const request = options.stdinOnRequest;
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      if (request === undefined || this.sentOnRequest[index] !== undefined) return;
      if (!Buffer.concat(stderr).toString('latin1').split('\n').includes(request.marker)) return;
      const rest = this.alter(request.data);
      this.sentOnRequest[index] = rest;
      child.stdin.end(rest);
    });
    if (request === undefined) child.stdin.end(options.stdin);
    else child.stdin.write(options.stdin ?? '');
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  }

  close(): void {}
}

describe('runAgent on a session', () => {
  const request = { protocol: AGENT_PROTOCOL, request: { action: 'status', tokens: [] } } satisfies AgentRequest;
  const run = (session: SshSession, f: { bundle: AgentBundle }, warn?: (message: string) => void) =>
    runAgent(session, 'h1', request, { bundle: f.bundle, deadline: Date.now() + 10_000, ...(warn && { warn }) });

  test('a first run is one exec: the launcher asks for the agent, which follows the request on the same stdin, and the answer decodes', async () => {
    const f = fixture();
    const session = new LocalShellSession(f.home);
    assert.deepEqual(await run(session, f), RESPONSE);
    const line = Buffer.from(`${JSON.stringify(request)}\n`);
    assert.deepEqual(session.commands, [launcherCommand(f.bundle)]);
    assert.deepEqual(session.stdins, [line]);
    assert.deepEqual(session.sentOnRequest, [Buffer.concat([f.bundle.content, line])]);
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
  });

  test('the next run is one exec of the cached agent, and the agent is not sent', async () => {
    const f = fixture();
    await run(new LocalShellSession(f.home), f);
    const session = new LocalShellSession(f.home);
    assert.deepEqual(await run(session, f), RESPONSE);
    assert.deepEqual(session.commands, [launcherCommand(f.bundle)]);
    assert.deepEqual(session.sentOnRequest, []);
  });

  test('a replaced cached agent is replaced and only the bundle runs', async () => {
    const f = fixture();
    cache(f, Buffer.from(`require("fs").writeFileSync(process.env.HOME + "/ran", "evil")`));
    assert.deepEqual(await run(new LocalShellSession(f.home), f), RESPONSE);
    assert.equal(readFileSync(join(f.home, 'ran'), 'utf8'), 'yes');
    assert.deepEqual(readFileSync(f.cached), f.bundle.content);
  });

  test('a bundle altered on the way is AGENT_FAILED: nothing runs, nothing is cached', async () => {
    const f = fixture();
    const session = new LocalShellSession(f.home, (rest) => Buffer.concat([Buffer.from('/*x*/'), rest.subarray(5)]));
    await assert.rejects(run(session, f), (error: StapctlError) => error.code === 'AGENT_FAILED' && error.host === 'h1' && /SHA-256/.test(error.message));
    assert.equal(existsSync(join(f.home, 'ran')), false);
    assert.deepEqual(cacheEntries(f), []);
  });

  test('a bundle cut short on the way is AGENT_FAILED: nothing runs, nothing is cached', async () => {
    const f = fixture();
    const session = new LocalShellSession(f.home, (rest) => rest.subarray(0, 100));
    await assert.rejects(run(session, f), (error: StapctlError) => error.code === 'AGENT_FAILED' && /SHA-256/.test(error.message) && /the 100 bytes received/.test(error.detail ?? ''));
    assert.equal(existsSync(join(f.home, 'ran')), false);
    assert.deepEqual(cacheEntries(f), []);
  });

  test('an unsafe cache is AGENT_CACHE_UNSAFE and nothing is sent', async () => {
    const f = fixture();
    cache(f);
    chmodSync(join(f.home, '.cache/stapctl'), 0o777);
    const session = new LocalShellSession(f.home);
    await assert.rejects(run(session, f), (error: StapctlError) => error.code === 'AGENT_CACHE_UNSAFE' && /writable by others/.test(error.message));
    assert.deepEqual(session.sentOnRequest, []);
  });

  test('an unsafe cache found while installing is AGENT_CACHE_UNSAFE and nothing is written', async () => {
    const f = fixture();
    mkdirSync(dirname(f.cached), { recursive: true, mode: 0o700 });
    chmodSync(dirname(f.cached), 0o770);
    await assert.rejects(run(new LocalShellSession(f.home), f), (error: StapctlError) => error.code === 'AGENT_CACHE_UNSAFE');
    assert.deepEqual(cacheEntries(f), []);
  });

  test('an agent that could not be cached still answers, and the user is warned', async () => {
    const f = fixture(`process.stdout.write(${JSON.stringify(JSON.stringify(RESPONSE))})`);
    const warnings: string[] = [];
    const session = new LocalShellSession(f.home);
    const exec = session.exec.bind(session);
    session.exec = (command, options) => exec(`ulimit -f 0; ${command}`, options);
    assert.deepEqual(await run(session, f, (message) => warnings.push(message)), RESPONSE);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /ran from memory.*EFBIG/);
    assert.deepEqual(cacheEntries(f), []);
  });

  test('a response with a wrongly typed field is AGENT_PROTOCOL with a short excerpt', async () => {
    const f = fixture(`process.stdout.write(JSON.stringify({ protocol: 1, version: "x", hostname: "h", report: { action: "status", steps: [], exitCode: "0", warnings: [] }, pad: "\\u001b[2J" + "x".repeat(5000) }))`);
    cache(f);
    const error = await runAgent(new LocalShellSession(f.home), 'h1', request, { bundle: f.bundle, deadline: Date.now() + 10_000 }).then(
      () => assert.fail('expected AGENT_PROTOCOL'),
      (caught: StapctlError) => caught,
    );
    assert.equal(error.code, 'AGENT_PROTOCOL');
    assert.match(error.message, /report\.exitCode/);
    assert.ok((error.detail ?? '').length < 400);
    assert.equal((error.detail ?? '').includes('\u001b'), false);
  });
});
