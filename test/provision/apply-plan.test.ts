import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planApply, planChangesSomething } from '../../src/provision/apply-plan.js';
import { renderManagedConfig } from '../../src/provision/managed-config.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';

const server = (nickname: string, ...releases: string[]): ServerSpec => ({ ...emptySpec(), nickname, releases });
const files = (...entries: [string, string][]) => new Map(entries);
const summary = (plan: ReturnType<typeof planApply>) => plan.map(({ nickname, change, action }) => `${nickname} ${change} ${action}`);

describe('planApply', () => {
  test('a declared server without a file is added and started', () => {
    assert.deepEqual(summary(planApply([server('a', '6.1')], files(), new Set())), ['a added start']);
  });

  test('a declared server whose file is the same and which runs is left alone', () => {
    const a = server('a', '6.1');
    const plan = planApply([a], files(['a.conf', renderManagedConfig(a)]), new Set(['a']));
    assert.deepEqual(summary(plan), ['a unchanged none']);
    assert.equal(planChangesSomething(plan), false);
  });

  test('an unchanged server that does not run is started', () => {
    const a = server('a', '6.1');
    const plan = planApply([a], files(['a.conf', renderManagedConfig(a)]), new Set());
    assert.deepEqual(summary(plan), ['a unchanged start']);
    assert.equal(planChangesSomething(plan), true);
  });

  test('a changed release rewrites the file and restarts that server only', () => {
    const plan = planApply(
      [server('a', '6.2'), server('b', '6.1')],
      files(['a.conf', renderManagedConfig(server('a', '6.1'))], ['b.conf', renderManagedConfig(server('b', '6.1'))]),
      new Set(['a', 'b']),
    );
    assert.deepEqual(summary(plan), ['a changed restart', 'b unchanged none']);
    assert.equal(plan[0]?.before, renderManagedConfig(server('a', '6.1')));
    assert.equal(plan[0]?.after, renderManagedConfig(server('a', '6.2')));
  });

  test('a managed file no longer declared is removed and its running server stopped', () => {
    const plan = planApply([], files(['old.conf', renderManagedConfig(server('old'))]), new Set(['old']));
    assert.deepEqual(summary(plan), ['old removed stop']);
  });

  test('a file stapctl does not manage is never part of the plan', () => {
    assert.deepEqual(planApply([], files(['hand.conf', 'NICKNAME=hand\n']), new Set(['hand'])), []);
  });

  test('a declared server whose file name is taken by an unmanaged file is a conflict that writes nothing', () => {
    const [planned] = planApply([server('hand')], files(['hand.conf', 'NICKNAME=hand\n']), new Set());
    assert.equal(planned?.change, 'conflict');
    assert.equal(planned?.action, 'none');
    assert.equal(planned?.after, undefined);
  });

  test('a declared server that already runs under its nickname without a file is restarted from its new file', () => {
    assert.deepEqual(summary(planApply([server('a')], files(), new Set(['a']))), ['a added restart']);
  });
});
