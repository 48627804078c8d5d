/**
 * Text that came from a remote host may carry terminal escape sequences (a hostile or broken
 * host could retitle the terminal or hide lines); it is cleaned before anything prints it.
 */

// These patterns match control characters on purpose: that is what they remove.
/* eslint-disable no-control-regex */
// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and the 8-bit CSI.
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;
// Remaining C0 and C1 control characters except tab and newline.
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/* eslint-enable no-control-regex */

export function stripTerminalEscapes(text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '');
}

/** Cleans every string inside a value parsed from JSON. */
export function sanitizeDeep<T>(value: T): T {
  if (typeof value === 'string') return stripTerminalEscapes(value) as T;
  if (Array.isArray(value)) return value.map((item) => sanitizeDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, sanitizeDeep(item)])) as T;
  }
  return value;
}
