import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StapctlError } from '../../../src/errors.js';
import { ControlDirectory } from '../../../src/fleet/ssh/control-directory.js';

// Short: a socket path must fit in sun_path, and an unprivileged run's TMPDIR is already deep.
const scratch = mkdtempSync(join(tmpdir(), 'ctl-'));
const runtime = mkdtempSync('/tmp/stapctl-rt-');
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(runtime, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<StapctlError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StapctlError, String(error));
    return error;
  }
  assert.fail('expected a StapctlError');
}

describe('the control directory of an openssh run', () => {
  test("is the user's own, mode 0700, under TMPDIR, and is gone once removed", async () => {
    const directory = await ControlDirectory.create({ TMPDIR: scratch });
    const stat = lstatSync(directory.path);
    assert.ok(stat.isDirectory() && directory.path.startsWith(join(scratch, 'stapctl-mux-')));
    assert.equal(stat.mode & 0o777, 0o700);
    assert.equal(stat.uid, process.getuid?.());
    await directory.remove();
    assert.throws(() => lstatSync(directory.path), /ENOENT/);
  });

  test('goes under XDG_RUNTIME_DIR when that is usable', async () => {
    const directory = await ControlDirectory.create({ XDG_RUNTIME_DIR: runtime, TMPDIR: scratch });
    assert.ok(directory.path.startsWith(`${runtime}/`));
    await directory.remove();
  });

  test('is never made in a parent that others can write to without the sticky bit, or through a symlink', async () => {
    const open = join(scratch, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.equal((await refusal(ControlDirectory.create({ TMPDIR: open }))).code, 'UNSAFE_PATH');
    const link = join(scratch, 'link');
    symlinkSync(scratch, link);
    assert.equal((await refusal(ControlDirectory.create({ TMPDIR: link }))).code, 'UNSAFE_PATH');
  });

  test('a parent too deep for a Unix socket path is an error that says to shorten TMPDIR', async () => {
    const deep = join(scratch, 'd'.repeat(90));
    mkdirSync(deep, { mode: 0o700 });
    assert.match((await refusal(ControlDirectory.create({ TMPDIR: deep }))).hint ?? '', /TMPDIR/);
  });

  test('socket names are fresh, and its files are created exclusively, 0600', async () => {
    const directory = await ControlDirectory.create({ TMPDIR: scratch });
    assert.notEqual(directory.socketPath(), directory.socketPath());
    const file = await directory.writeFile('config', 'Include "/x"\n');
    assert.equal(lstatSync(file).mode & 0o777, 0o600);
    writeFileSync(join(directory.path, 'planted'), '');
    await assert.rejects(directory.writeFile('planted', 'x'), /EEXIST/);
    await directory.remove();
  });
});
