/** Assertions shared by the test files: a coded StapctlError, a port that accepts connections. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { StapctlError, type ErrorCode } from '../../src/errors.js';

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
