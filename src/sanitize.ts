/**
 * What a terminal may be shown of text stapctl does not control: a remote host's answers, and
 * the files the server account can write (its log, status files in a directory it owns). Such
 * text could set the clipboard (OSC 52), move the cursor to overwrite `FAILED` with `OK`, retitle
 * the terminal, or reorder what is read (U+202E). Every view cleans it here, and only here.
 *
 * Escape sequences are removed whole; other control characters are removed; Unicode format
 * characters (bidi overrides and isolates, zero-width characters) are shown escaped, `\u202e`,
 * so that their presence is visible rather than acted on.
 */

/** Tab, newline and printable ASCII: text in which none of the patterns below can match. */
const PLAIN = /^[\t\n\x20-\x7e]*$/;

/**
 * Made on first use: building and compiling them (`\p{Cf}` above all) cost a local `status`,
 * whose lines are plain, more than the rest of its rendering.
 */
let unsafePatterns: { sequences: RegExp; controls: RegExp; format: RegExp } | undefined;
const patterns = () =>
  (unsafePatterns ??= {
    // These patterns match control characters on purpose: that is what they remove.
    /* eslint-disable no-control-regex */
    /**
     * ECMA-48 sequences, in 7-bit (ESC ...) and 8-bit (C1) form:
     * - control strings (OSC `ESC ]`, DCS `ESC P`, SOS `ESC X`, PM `ESC ^`, APC `ESC _`), up to BEL
     *   or ST, or to the end of the text when unterminated (a terminal would swallow that much too);
     * - CSI (`ESC [` parameters, intermediates, final byte);
     * - the other escape sequences (`ESC (B`, `ESC 7`, `ESC c`, ...).
     * Each alternative is anchored on its introducer and scans forward only: linear time.
     */
    sequences: /(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[\s\S]*?(?:\u0007|\u001b\\|\u009c|$)|(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|\u001b[ -/]*[0-~]/g,
    /** C0 (except tab and newline), DEL and C1: whatever is left of broken or lone sequences. */
    controls: /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    /* eslint-enable no-control-regex */
    /** Format characters (bidi, zero-width, BOM) and the Unicode line and paragraph separators. */
    format: /[\p{Cf}\u2028\u2029]/gu,
  });

const escaped = (char: string) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;

/** Text safe to print: no escape sequences or control characters but tab and newline. */
export function stripTerminalEscapes(text: string): string {
  if (PLAIN.test(text)) return text;
  const { sequences, controls, format } = patterns();
  return text.replace(sequences, '').replace(controls, '').replace(format, escaped);
}

/**
 * Text for one table cell: as stripTerminalEscapes, and a newline or tab shown as `\n`, `\t`, so
 * that a value can neither start a row of its own nor push the columns apart.
 */
export function cellText(text: string): string {
  return stripTerminalEscapes(text).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/**
 * JSON for a terminal or a pipe: JSON.stringify already escapes C0, so what is left is C1, DEL
 * and the format characters, escaped the JSON way (`\u009b`). Nothing is lost: a JSON reader gets
 * the same strings back.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\p{Cf}\u2028\u2029]/gu, escaped);
}

type Container = Record<string, unknown> | unknown[];

/**
 * Cleans every string inside a value parsed from JSON, keys included. Iterative: a host can send
 * a value nested hundreds of thousands deep, which recursion would answer with a stack overflow.
 */
export function sanitizeDeep<T>(value: T): T {
  const top: unknown[] = [undefined];
  const work: [holder: Container, key: string | number, source: unknown][] = [[top, 0, value]];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    const [holder, key, source] = item;
    let copy: unknown = source;
    if (typeof source === 'string') {
      copy = stripTerminalEscapes(source);
    } else if (Array.isArray(source)) {
      const array: unknown[] = new Array<unknown>(source.length);
      source.forEach((element, index) => work.push([array, index, element]));
      copy = array;
    } else if (source !== null && typeof source === 'object') {
      const object: Record<string, unknown> = {};
      for (const [name, element] of Object.entries(source)) work.push([object, stripTerminalEscapes(name), element]);
      copy = object;
    }
    // defineProperty, not assignment: a key "__proto__" from JSON is data, not the prototype.
    if (Array.isArray(holder)) holder[key as number] = copy;
    else Object.defineProperty(holder, key, { value: copy, enumerable: true, writable: true, configurable: true });
  }
  return top[0] as T;
}
