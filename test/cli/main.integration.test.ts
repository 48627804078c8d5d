/** The built CLI as a user runs it: local mode text and JSON, usage errors, and the agent. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { AgentResponse } from '../../src/fleet/agent/contract.js';
import type { ReportJson } from '../../src/cli/service-json.js';
import { readProcess } from '../../src/service/proc.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const AGENT = fileURLToPath(new URL('../../dist/stapctl.cjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'stapctl-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function makeRoot(name: string, conf: Record<string, string> = {}): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'etc/stap-server/conf.d'), { recursive: true });
  mkdirSync(join(root, 'etc/sysconfig'), { recursive: true });
  writeFileSync(join(root, 'etc/sysconfig/stap-server'), 'STAP_USER=stap-server\n');
  for (const [file, text] of Object.entries(conf)) writeFileSync(join(root, 'etc/stap-server/conf.d', file), text);
  return root;
}

function cli(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, env: { ...process.env, STAPCTL_ROOT: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the stapctl command', () => {
  test('status with nothing running prints the stock line and exits 3', () => {
    const result = cli(['status', '--root', makeRoot('empty')]);
    assert.deepEqual(result, { code: 3, stdout: 'No managed stap-server is running\n', stderr: '' });
  });

  test('--json prints the same result as data', () => {
    const result = cli(['status', '--json', '--root', makeRoot('json')]);
    assert.equal(result.code, 3);
    const json = JSON.parse(result.stdout) as ReportJson;
    assert.deepEqual([json.action, json.exitCode, json.servers, json.messages], ['status', 3, [], ['No managed stap-server is running']]);
  });

  test('--help reaches a reader in full through a non-blocking pipe that is full when stapctl writes', () => {
    // Python makes the pipe: Node cannot hand a child a non-blocking pipe of its own making.
    const harness = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
filled = 0
try:
    while True:
        filled += os.write(w, b'x' * 4096)
except BlockingIOError:
    pass
child = subprocess.Popen([sys.argv[1], sys.argv[2], '--help'], stdout=w)
os.close(w)
time.sleep(0.5)
out = b''
while chunk := os.read(r, 65536):
    out += chunk
print(child.wait(), out[filled:].decode())
`;
    const run = spawnSync('/usr/bin/python3', ['-c', harness, process.execPath, CLI], { encoding: 'utf8' });
    const direct = cli(['--help']);
    assert.equal(run.stderr, '');
    assert.equal(run.stdout, `0 ${direct.stdout}\n`);
  });

  test('a usage error exits 2 with the problem and a hint on stderr', () => {
    const result = cli(['frobnicate']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^stapctl: unknown action 'frobnicate'\n {2}hint: run 'stapctl --help'/);
  });

  test('under --json a usage error is a JSON document on stdout with code USAGE, exit 2', () => {
    const result = cli(['-H', 'h1', 'frobnicate', '--json']);
    assert.equal(result.code, 2);
    const document = JSON.parse(result.stdout) as { error: { code: string; message: string }; exitCode: number };
    assert.equal(document.error.code, 'USAGE');
    assert.equal(document.exitCode, 2);
  });

  test('under --json an inventory error is a JSON document that names the file and line', () => {
    const inventory = join(scratch, 'broken-inventory.yaml');
    writeFileSync(inventory, 'all:\n  hosts:\n    h1:\n      ansible_port: 22a\n');
    const result = cli(['--inventory', inventory, '-H', 'h1', 'status', '--json']);
    assert.equal(result.code, 2);
    const document = JSON.parse(result.stdout) as { error: { code: string; file: string; line: number } };
    assert.equal(document.error.code, 'INVENTORY_INVALID');
    assert.equal(document.error.file, inventory);
    assert.equal(document.error.line, 4);
  });

  test('a bad global config line names the file and line, exits 1 and acts on nothing', () => {
    const root = makeRoot('badglobal');
    writeFileSync(join(root, 'etc/sysconfig/stap-server'), 'STAP_USER=stap-server\nSTAT_PATH=$(rm -rf /)\n');
    const result = cli(['start', '-r', '6.1.0', '--root', root]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`${root}/etc/sysconfig/stap-server:2: `));
  });

  test('a -c file that does not exist is an error, not silently ignored', () => {
    const result = cli(['status', '--root', makeRoot('missing-c'), '-c', join(scratch, 'no-such-file')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no-such-file/);
  });

  test('stop -n of an unknown nickname prints the stock lines and exits 1', () => {
    const result = cli(['stop', '-n', 'ghost', '--root', makeRoot('ghost')]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "No configuration found for the nickname 'ghost'\nFAILED\n");
  });
});

/** The PIDs of the processes whose parent is `parent`. */
function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(parent);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('a start that is killed half-way', () => {
  test('leaves a server that the next run finds and stops, never an orphan', async () => {
    const root = makeRoot('killed');
    const starter = spawn(process.execPath, [CLI, 'start', '-r', '6.1.0-killed', '--root', root], { stdio: 'ignore' });
    let server: number | undefined;
    const deadline = Date.now() + 10_000;
    while (server === undefined && Date.now() < deadline) {
      server = childrenOf(starter.pid as number).find((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'stap-serverd';
        } catch {
          return false;
        }
      });
      if (server === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.ok(server, 'the server was spawned');
    try {
      starter.kill('SIGKILL');
      await new Promise((resolve) => starter.once('exit', resolve));
      assert.ok(existsSync(join(root, 'var/run/stap-server', `${server}.stat`)), 'the server was recorded before it was verified');
      const stop = cli(['stop', '--root', root]);
      assert.equal(stop.code, 0, stop.stderr);
      const state = readProcess(server)?.state;
      assert.ok(state === undefined || state === 'Z', `stop ended it (state ${state})`);
    } finally {
      // The server this test started must not outlive it, whatever failed above.
      if (readProcess(server)?.comm === 'stap-serverd') process.kill(server, 'SIGKILL');
    }
  });
});

describe('the agent', () => {
  const request = (root: string) => JSON.stringify({ protocol: 1, request: { action: 'status', tokens: [], root } });

  test('stapctl agent answers a request on stdin with the engine report as JSON', () => {
    const result = cli(['agent'], request(makeRoot('agent-cli')));
    assert.equal(result.code, 0);
    const response = JSON.parse(result.stdout) as AgentResponse;
    assert.ok('report' in response);
    assert.equal(response.report.exitCode, 3);
    assert.deepEqual(response.report.steps, [{ kind: 'none-running', action: 'status' }]);
  });

  test('the self-contained agent bundle answers the same request', () => {
    const result = spawnSync(process.execPath, [AGENT, 'agent'], { encoding: 'utf8', input: request(makeRoot('agent-bundle')), cwd: '/' });
    assert.equal(result.status, 0, result.stderr);
    const response = JSON.parse(result.stdout) as AgentResponse;
    assert.ok('report' in response && response.report.exitCode === 3);
  });

  test('a request of another protocol version is refused with a clear error and exit 2', () => {
    const result = cli(['agent'], JSON.stringify({ protocol: 99, request: { action: 'status', tokens: [] } }));
    assert.equal(result.code, 2);
    const response = JSON.parse(result.stdout) as AgentResponse;
    assert.ok('error' in response);
    assert.equal(response.error.code, 'AGENT_PROTOCOL');
  });
});

describe('an unprivileged user', () => {
  // The self-contained agent bundle, copied where user nobody can read it, runs the same engine.
  const world = join(scratch, 'world');
  const agent = join(world, 'stapctl.cjs');
  before(() => {
    mkdirSync(world, { recursive: true });
    writeFileSync(agent, readFileSync(AGENT));
    for (const dir of [scratch, world]) chmodSync(dir, 0o755);
  });

  const asNobody = (request: object) => {
    const result = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, agent], { encoding: 'utf8', input: JSON.stringify({ protocol: 1, request }), cwd: '/' });
    assert.equal(result.status, 0, result.stderr);
    const response = JSON.parse(result.stdout) as AgentResponse;
    assert.ok('report' in response, result.stdout);
    return response.report;
  };

  test('may see the status of servers root started, and writes nothing', () => {
    const root = makeRoot('unprivileged');
    chmodSync(root, 0o755);
    const started = cli(['start', '-r', '6.1.0-unprivileged', '--root', root]);
    assert.equal(started.code, 0, started.stderr);
    try {
      const statDir = join(root, 'var/run/stap-server');
      const before = readdirSync(statDir).sort();
      const report = asNobody({ action: 'status', tokens: [], root });
      assert.equal(report.exitCode, 0);
      assert.deepEqual(report.steps.map((step) => step.kind === 'status' && step.outcome), ['running']);
      assert.deepEqual(readdirSync(statDir).sort(), before);
    } finally {
      assert.equal(cli(['stop', '--root', root]).code, 0);
    }
  });

  test('is told that start needs a writable status directory, and nothing starts', () => {
    const root = makeRoot('unprivileged-start');
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'var/run/stap-server'), { recursive: true });
    const report = asNobody({ action: 'start', tokens: [{ flag: 'r', value: '6.1.0-nobody' }], root });
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.steps.map((step) => step.kind === 'error' && step.error.code), ['PERMISSION_DENIED']);
    assert.deepEqual(readdirSync(join(root, 'var/run/stap-server')), []);
  });
});
