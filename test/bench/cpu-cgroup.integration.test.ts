import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { createCpuCgroup } from '../../bench/cpu-cgroup.js';

/**
 * Runs a shell that joins the cgroup, then forks a child that counts to 300000 (~0.4 s of CPU
 * here: a fixed amount of work, however loaded the machine is), and waits for it.
 */
function burnInside(procsFile: string): Promise<void> {
  const script = 'echo $$ > "$0" && sh -c \'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done\'';
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script, procsFile], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`the burning shell exited ${code}`))));
  });
}

describe('a cgroup counting the CPU of a set of processes', { skip: process.getuid?.() !== 0 && 'creating a cgroup needs root' }, () => {
  test('the CPU of a process that joined the cgroup and of the child it forked afterwards is counted', async () => {
    const cgroup = await createCpuCgroup(`stapctl-test-${process.pid}`);
    try {
      const before = await cgroup.usageSeconds();
      await burnInside(cgroup.procsFile);
      assert.ok((await cgroup.usageSeconds()) - before >= 0.1, 'under 100 ms of CPU counted for a count to 300000');
      assert.deepEqual(await cgroup.pids(), []);
    } finally {
      await cgroup.remove();
    }
  });
});
