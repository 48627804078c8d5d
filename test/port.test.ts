import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostPort, isPort, parsePort } from '../src/port.js';

test('a port is written in decimal digits and names 1 to 65535', () => {
  assert.deepEqual(['1', '22', '65535', '0080'].map(parsePort), [1, 22, 65535, 80]);
});

test('zero, 65536, signs, blanks and non-digits are not ports', () => {
  for (const text of ['0', '65536', '-1', '+22', ' 22', '22 ', '2e3', '0x16', '']) assert.equal(parsePort(text), undefined, text);
});

test('a number is a port only when it is a whole number from 1 to 65535', () => {
  assert.deepEqual([1, 65535, 0, 65536, 22.5].map(isPort), [true, true, false, false, false]);
});

test('an IPv6 address is written in brackets before its port, a name or IPv4 address as it is', () => {
  assert.deepEqual([hostPort('::1', 23), hostPort('127.0.0.1', 22), hostPort('build01', 2222)], ['[::1]:23', '127.0.0.1:22', 'build01:2222']);
});
