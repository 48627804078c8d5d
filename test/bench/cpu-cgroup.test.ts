import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { usageSeconds } from '../../bench/cpu-cgroup.js';

describe('reading a cgroup\'s cpu.stat', () => {
  test('usage_usec is read as seconds', () => {
    assert.equal(usageSeconds('usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n', 'cpu.stat'), 1.5);
  });

  test('a cpu.stat without usage_usec is an error naming the file', () => {
    assert.throws(() => usageSeconds('user_usec 1\nsystem_usec 2\n', '/sys/fs/cgroup/x/cpu.stat'), /\/sys\/fs\/cgroup\/x\/cpu\.stat: no usage_usec line/);
  });
});
