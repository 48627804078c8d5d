/** The built command's launcher (src/cli/launcher.ts): the bundles run with the code cache the build made, and only with it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';

const BUILT = fileURLToPath(new URL('../../dist/cli/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'stapctl-launcher-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the stapctl launcher', () => {
  test('the build leaves for each bundle a code cache that holds a copy of that bundle', () => {
    for (const bundle of ['cli.js', 'local.js', 'fleet-view.js']) {
      const cache = readFileSync(join(BUILT, `${bundle}.v8cache`));
      const source = readFileSync(join(BUILT, bundle));
      assert.equal(cache.readUInt32BE(0), source.length, bundle);
      assert.ok(cache.subarray(4, 4 + source.length).equals(source), bundle);
      assert.ok(cache.length > 4 + source.length + 4096, `${bundle}: ${cache.length} bytes`);
    }
  });

  test('a bundle changed after the build runs as changed, not from its stale cache of the same length', () => {
    const copy = join(scratch, 'cli');
    cpSync(BUILT, copy, { recursive: true });
    const bundle = readFileSync(join(copy, 'cli.js'), 'utf8');
    assert.ok(bundle.includes('show this help'));
    const changed = bundle.replace('show this help', 'show THIS help');
    assert.equal(changed.length, bundle.length);
    writeFileSync(join(copy, 'cli.js'), changed);
    const run = spawnSync(process.execPath, [join(copy, 'main.js'), '--help'], { encoding: 'utf8' });
    assert.equal(run.status, 0);
    assert.match(run.stdout, /-h, --help +show THIS help\n/);
  });

  test('a command line of one action word runs through the local bundle, with the output and exit code the CLI bundle gives it', () => {
    const copy = join(scratch, 'local');
    cpSync(BUILT, copy, { recursive: true });
    const root = join(scratch, 'root');
    mkdirSync(join(root, 'var/run/stap-server'), { recursive: true });
    const env = { PATH: process.env.PATH, HOME: scratch };
    for (const action of ['status', 'reload']) {
      const viaCli = spawnSync(process.execPath, [join(copy, 'main.js'), action, '--root', root], { encoding: 'utf8', env });
      rmSync(join(copy, 'cli.js'), { force: true });
      const viaLocal = spawnSync(process.execPath, [join(copy, 'main.js'), action], { encoding: 'utf8', env: { ...env, STAPCTL_ROOT: root } });
      cpSync(join(BUILT, 'cli.js'), join(copy, 'cli.js'));
      assert.equal(viaLocal.status, 3, `${action}: ${viaLocal.stderr}`);
      assert.deepEqual([viaLocal.status, viaLocal.stdout, viaLocal.stderr], [viaCli.status, viaCli.stdout, viaCli.stderr], action);
    }
  });

  test('a local status of recorded servers loads neither node:os nor node:child_process', () => {
    const root = join(scratch, 'modules-root');
    mkdirSync(join(root, 'var/run/stap-server'), { recursive: true });
    const listed = join(scratch, 'modules.txt');
    const preload = join(scratch, 'list-modules.cjs');
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(listed)}, process.moduleLoadList.join('\\n')));`);
    const run = spawnSync(process.execPath, ['-r', preload, join(BUILT, 'main.js'), 'status'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: scratch, STAPCTL_ROOT: root } });
    assert.equal(run.status, 3, run.stderr);
    const modules = readFileSync(listed, 'utf8').split('\n');
    assert.ok(modules.includes('NativeModule vm'), 'the list names the modules the launcher loads');
    for (const module of ['NativeModule os', 'NativeModule child_process']) assert.ok(!modules.includes(module), module);
  });

  test("a fleet run with an Ed25519 identity loads none of the Node modules that only ssh2's rare paths, processes and the openssh transport need", () => {
    const key = join(scratch, 'id_ed25519');
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
    const inventory = join(scratch, 'closed-port.yaml');
    // Port 1 of the loopback address: the run reads the key, then its connection is refused.
    writeFileSync(inventory, `all:\n  hosts:\n    t1:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n      ansible_ssh_private_key_file: ${key}\n`);
    const loaded = join(scratch, 'modules.json');
    const record = join(scratch, 'record-modules.cjs');
    writeFileSync(record, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(process.moduleLoadList)));\n`);
    const run = spawnSync(process.execPath, ['--require', record, join(BUILT, 'main.js'), '--inventory', inventory, '--known-hosts', join(scratch, 'known_hosts'), '-H', 't1', 'status', '--json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: scratch },
    });
    assert.match(run.stdout, /"state": "unreachable"/, run.stderr);
    const modules = (JSON.parse(readFileSync(loaded, 'utf8')) as string[]).filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
    assert.ok(modules.includes('crypto') && modules.includes('net'), modules.join(' '));
    assert.deepEqual(
      modules.filter((name) => ['zlib', 'dns', 'dgram', 'child_process', 'assert', 'fs/promises', 'perf_hooks', 'internal/file'].includes(name)),
      [],
    );
  });

  test('--version alone prints the version that -V among other words prints', () => {
    const alone = spawnSync(process.execPath, [join(BUILT, 'main.js'), '--version'], { encoding: 'utf8' });
    const withAction = spawnSync(process.execPath, [join(BUILT, 'main.js'), 'status', '-V'], { encoding: 'utf8' });
    assert.deepEqual([alone.status, alone.stdout, alone.stderr], [withAction.status, withAction.stdout, withAction.stderr]);
    assert.match(alone.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
