import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StapctlError } from '../../src/errors.js';
import { LOCK_FILE, breakStaleLock, formatLockHolder, parseLockHolder, withLock } from '../../src/service/lock.js';
import { readProcess } from '../../src/service/proc.js';

const LOCK_MODULE = fileURLToPath(new URL('../../src/service/lock.ts', import.meta.url));
const PROJECT = fileURLToPath(new URL('../..', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'stapctl-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A status directory: the engine makes it (safely) before it takes the lock. */
const made = (path: string) => {
  mkdirSync(path, { recursive: true });
  return path;
};

/**
 * A separate stapctl-like process: takes the lock `rounds` times, each time recording its entry
 * and exit (with a hold in between) in the shared record file.
 */
// .mts: the scratch folder has no package.json saying the module is ESM.
const CHILD = join(dir, 'lock-child.mts');
writeFileSync(
  CHILD,
  `import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { withLock } from ${JSON.stringify(LOCK_MODULE)};
const [statPath, record, holdMs, rounds] = process.argv.slice(2);
for (let i = 0; i < Number(rounds); i += 1) {
  await withLock(statPath, async () => {
    appendFileSync(record, \`enter \${process.pid} \${performance.timeOrigin + performance.now()}\\n\`);
    await sleep(Number(holdMs));
    appendFileSync(record, \`exit \${process.pid} \${performance.timeOrigin + performance.now()}\\n\`);
  }, { timeoutMs: 30000 });
}
`,
);

async function runChildren(count: number, statPath: string, record: string, holdMs: number, rounds: number): Promise<void> {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', CHILD, statPath, record, String(holdMs), String(rounds)], {
      // From the project, where tsx resolves.
      cwd: PROJECT,
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  try {
    const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0] as number | null));
    assert.deepEqual(codes, children.map(() => 0));
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Each `enter` must be followed by the `exit` of the same process before anyone enters again. */
function assertNoOverlap(record: string, expectedSections: number): void {
  const events = readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [kind, pid, at] = line.split(' ');
      return { kind, pid, at: Number(at) };
    });
  assert.equal(events.length, expectedSections * 2);
  for (let i = 0; i < events.length; i += 2) {
    const enter = events[i];
    const exit = events[i + 1];
    assert.equal(enter?.kind, 'enter');
    assert.equal(exit?.kind, 'exit');
    assert.equal(exit?.pid, enter?.pid);
    const next = events[i + 2];
    if (next !== undefined) assert.ok(next.at >= (exit?.at ?? Infinity), `section ${i / 2 + 1} overlaps the next one`);
  }
}

/** A PID that was alive a moment ago and is dead now, with the start time it had. */
function deadHolder(): { pid: number; startTime: number } {
  const child = spawnSync('sh', ['-c', 'echo $$; cat /proc/$$/stat'], { encoding: 'utf8' });
  const [pidLine, stat] = child.stdout.split('\n');
  const startTime = Number(stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return { pid: Number(pidLine), startTime };
}

describe('lock holder text', () => {
  test('a holder is written and read back as PID and start time', () => {
    assert.deepEqual(parseLockHolder(formatLockHolder({ pid: 611, startTime: 98765 })), { pid: 611, startTime: 98765 });
  });

  test('a half-written or foreign file is no holder', () => {
    assert.equal(parseLockHolder('611'), undefined);
    assert.equal(parseLockHolder(''), undefined);
  });
});

describe('breakStaleLock', () => {
  test('removes a lock still held by the dead holder it names', () => {
    const path = join(dir, 'break-stale');
    const stale = deadHolder();
    writeFileSync(path, formatLockHolder(stale));
    breakStaleLock(path, stale);
    assert.equal(existsSync(path), false);
  });

  test('a waiter that saw the dead holder late never removes the lock taken since', () => {
    const path = join(dir, 'break-late');
    const stale = deadHolder();
    const fresh = { pid: process.pid, startTime: readProcess(process.pid)?.startTime ?? -1 };
    writeFileSync(path, formatLockHolder(fresh));
    breakStaleLock(path, stale);
    assert.deepEqual(parseLockHolder(readFileSync(path, 'utf8')), fresh);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('break-late.')), []);
  });

  test('a breaker left by a waiter that died while breaking is itself broken', () => {
    const path = join(dir, 'break-orphan');
    const stale = deadHolder();
    const deadBreaker = deadHolder();
    writeFileSync(path, formatLockHolder(stale));
    writeFileSync(`${path}.break.${stale.pid}.${stale.startTime}`, formatLockHolder(deadBreaker));
    breakStaleLock(path, stale);
    assert.equal(existsSync(path), false);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('break-orphan')), []);
  });

  test('a breaker held by a live waiter is respected', () => {
    const path = join(dir, 'break-busy');
    const stale = deadHolder();
    const breaker = `${path}.break.${stale.pid}.${stale.startTime}`;
    writeFileSync(path, formatLockHolder(stale));
    writeFileSync(breaker, formatLockHolder({ pid: process.pid, startTime: readProcess(process.pid)?.startTime ?? -1 }));
    breakStaleLock(path, stale, { pid: 1, startTime: readProcess(1)?.startTime ?? -1 });
    assert.equal(existsSync(path), true);
    assert.equal(existsSync(breaker), true);
  });
});

describe('withLock', () => {
  test('returns the value of fn, and the lock file exists only while fn runs', async () => {
    const statPath = made(join(dir, 'simple', 'run', 'stap-server'));
    const lock = join(statPath, LOCK_FILE);
    const value = await withLock(statPath, async () => {
      assert.equal(parseLockHolder(readFileSync(lock, 'utf8'))?.pid, process.pid);
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(existsSync(lock), false);
    assert.deepEqual(readdirSync(statPath), []);
  });

  test('the lock is released when fn throws', async () => {
    const statPath = made(join(dir, 'throws'));
    await assert.rejects(withLock(statPath, async () => Promise.reject(new Error('inside'))), /inside/);
    assert.equal(existsSync(join(statPath, LOCK_FILE)), false);
  });

  test('two processes taking the lock at once never overlap', async () => {
    const statPath = made(join(dir, 'two'));
    const record = join(dir, 'two.record');
    await runChildren(2, statPath, record, 150, 3);
    assertNoOverlap(record, 6);
    assert.deepEqual(readdirSync(statPath), []);
  });

  test('several processes racing to take over one stale lock never overlap', async () => {
    const statPath = made(join(dir, 'stale-race'));
    const record = join(dir, 'stale-race.record');
    await withLock(statPath, async () => undefined);
    writeFileSync(join(statPath, LOCK_FILE), formatLockHolder(deadHolder()));
    await runChildren(4, statPath, record, 50, 2);
    assertNoOverlap(record, 8);
    assert.deepEqual(readdirSync(statPath), []);
  });

  test('a lock left by a dead PID is taken over at once', async () => {
    const statPath = made(join(dir, 'stale'));
    const lock = join(statPath, LOCK_FILE);
    await withLock(statPath, async () => undefined);
    writeFileSync(lock, formatLockHolder(deadHolder()));
    const started = Date.now();
    const holder = await withLock(statPath, async () => parseLockHolder(readFileSync(lock, 'utf8'))?.pid, { timeoutMs: 2000 });
    assert.equal(holder, process.pid);
    assert.ok(Date.now() - started < 1000);
    assert.equal(existsSync(lock), false);
  });

  test('a lock whose PID was reused by another process is taken over', async () => {
    const statPath = made(join(dir, 'reused'));
    const lock = join(statPath, LOCK_FILE);
    await withLock(statPath, async () => undefined);
    const me = readProcess(process.pid);
    writeFileSync(lock, formatLockHolder({ pid: process.pid, startTime: (me?.startTime ?? 0) + 1 }));
    assert.equal(await withLock(statPath, async () => 'taken', { timeoutMs: 2000 }), 'taken');
  });

  test('a live holder makes a waiter time out with LOCK_TIMEOUT naming the file and its PID, and keeps its lock', async () => {
    const statPath = made(join(dir, 'held'));
    const lock = join(statPath, LOCK_FILE);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await once(sleeper, 'spawn');
      await sleep(50);
      const pid = sleeper.pid ?? -1;
      await withLock(statPath, async () => undefined);
      writeFileSync(lock, formatLockHolder({ pid, startTime: readProcess(pid)?.startTime ?? -1 }));
      let caught: unknown;
      const started = Date.now();
      try {
        await withLock(statPath, async () => 'should not run', { timeoutMs: 300 });
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof StapctlError);
      assert.equal(caught.code, 'LOCK_TIMEOUT');
      assert.equal(caught.file, lock);
      assert.match(caught.message, new RegExp(`PID ${pid}\\b`));
      assert.ok(Date.now() - started >= 300);
      assert.equal(parseLockHolder(readFileSync(lock, 'utf8'))?.pid, pid);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});
