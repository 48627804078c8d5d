/** Assertions shared by the test files: a coded StapctlError (thrown or rejected), a port that accepts connections. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { StapctlError, type ErrorCode } from '../../src/errors.js';

/** The StapctlError that `promise` rejects with; fails the test otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<StapctlError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StapctlError, String((error as Error).stack ?? error));
    return error;
  }
  assert.fail('expected a StapctlError');
}

/** The StapctlError with this code that `run` throws; fails the test otherwise. */
export function failure(run: () => unknown, code: ErrorCode): StapctlError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof StapctlError, `expected a StapctlError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}

export function acceptsTcp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
