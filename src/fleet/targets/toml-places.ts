/**
 * Where the keys and values of a TOML document are written. The TOML parser gives values without
 * places; this scanner walks the same text (already accepted by the parser, so it only needs to
 * tell keys, strings and nesting apart) and records the `line:column` of every key and value by
 * its path: table headers, dotted keys, inline tables, array items (by index) and arrays of tables.
 */

export type TomlPath = readonly (string | number)[];

export interface Place {
  line: number;
  column: number;
}

const BARE_KEY = /[A-Za-z0-9_-]/;

export class TomlPlaces {
  private readonly keys = new Map<string, number>();
  private readonly values = new Map<string, number>();
  private readonly lineStarts: number[] = [0];
  private readonly arrayTables = new Map<string, number>();
  private index = 0;

  constructor(private readonly text: string) {
    for (let at = 0; at < text.length; at += 1) if (text.charAt(at) === '\n') this.lineStarts.push(at + 1);
    this.document();
  }

  /** Where the key that ends PATH is written: the first time, in a header or a `key =`. */
  key(path: TomlPath): Place | undefined {
    return this.place(this.keys.get(pathKey(path)));
  }

  /** Where PATH's value is written; a table's value is where its key is. */
  value(path: TomlPath): Place | undefined {
    return this.place(this.values.get(pathKey(path)) ?? this.keys.get(pathKey(path)));
  }

  private place(offset: number | undefined): Place | undefined {
    if (offset === undefined) return undefined;
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if ((this.lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (this.lineStarts[low] ?? 0) + 1 };
  }

  private peek(ahead = 0): string {
    return this.text.charAt(this.index + ahead);
  }

  /** Blanks, and with NEWLINES also line breaks and comments. */
  private skip(newlines: boolean): void {
    for (;;) {
      const char = this.peek();
      if (char === ' ' || char === '\t' || (newlines && (char === '\n' || char === '\r'))) this.index += 1;
      else if (char === '#' && newlines) while (this.index < this.text.length && this.peek() !== '\n') this.index += 1;
      else return;
    }
  }

  private document(): void {
    let table: TomlPath = [];
    for (this.skip(true); this.index < this.text.length; this.skip(true)) {
      if (this.peek() === '[') {
        table = this.header();
      } else {
        this.keyValue(table);
      }
      this.skip(false);
      if (this.peek() === '#') this.skip(true);
    }
  }

  /** `[a.b]` or `[[a.b]]`: the table that the following keys go to; an array table gets its next index. */
  private header(): TomlPath {
    const array = this.peek(1) === '[';
    this.index += array ? 2 : 1;
    const path = this.dottedKey([]);
    this.index += array ? 2 : 1;
    if (!array) return path;
    const count = this.arrayTables.get(pathKey(path)) ?? 0;
    this.arrayTables.set(pathKey(path), count + 1);
    const item = [...path, count];
    this.record(this.keys, item, this.keys.get(pathKey(path)) ?? this.index);
    return item;
  }

  private keyValue(table: TomlPath): void {
    const path = this.dottedKey(table);
    this.skip(false);
    this.index += 1;
    this.skip(false);
    this.readValue(path);
  }

  /** A dotted key below PREFIX, each segment's place recorded the first time it is seen. */
  private dottedKey(prefix: TomlPath): TomlPath {
    const path = [...prefix];
    for (;;) {
      this.skip(false);
      const start = this.index;
      path.push(this.keySegment());
      this.record(this.keys, path, start);
      this.skip(false);
      if (this.peek() !== '.') return path;
      this.index += 1;
    }
  }

  private keySegment(): string {
    const quote = this.peek();
    if (quote === '"' || quote === "'") return this.string();
    const start = this.index;
    while (BARE_KEY.test(this.peek())) this.index += 1;
    return this.text.slice(start, this.index);
  }

  private readValue(path: TomlPath): void {
    this.record(this.values, path, this.index);
    const char = this.peek();
    if (char === '"' || char === "'") this.string();
    else if (char === '[') this.array(path);
    else if (char === '{') this.inlineTable(path);
    else while (this.index < this.text.length && !/[,\]}\n#]/.test(this.peek())) this.index += 1;
  }

  private array(path: TomlPath): void {
    this.index += 1;
    for (let item = 0; ; item += 1) {
      this.skip(true);
      const before = this.index;
      if (this.peek() === ']' || this.index >= this.text.length) break;
      this.readValue([...path, item]);
      this.skip(true);
      if (this.peek() === ',') this.index += 1;
      // Text the parser refused never reaches here; the check keeps any other text from looping.
      if (this.index === before) break;
    }
    this.index += 1;
  }

  private inlineTable(path: TomlPath): void {
    this.index += 1;
    for (;;) {
      this.skip(true);
      const before = this.index;
      if (this.peek() === '}' || this.index >= this.text.length) break;
      this.keyValue(path);
      this.skip(true);
      if (this.peek() === ',') this.index += 1;
      if (this.index === before) break;
    }
    this.index += 1;
  }

  /** A basic, literal or multi-line string; returns its text (escapes are only skipped: keys with escapes are rare). */
  private string(): string {
    const quote = this.peek();
    const multiline = this.peek(1) === quote && this.peek(2) === quote;
    const fence = multiline ? quote.repeat(3) : quote;
    this.index += fence.length;
    const start = this.index;
    while (this.index < this.text.length && !this.text.startsWith(fence, this.index)) {
      this.index += quote === '"' && this.peek() === '\\' ? 2 : 1;
    }
    // A multi-line string may end with one or two quotes of its own before the closing three.
    while (multiline && this.text.startsWith(quote + fence, this.index)) this.index += 1;
    const content = this.text.slice(start, this.index);
    this.index += fence.length;
    return quote === '"' ? unescapeBasic(content) : content;
  }

  private record(map: Map<string, number>, path: TomlPath, offset: number): void {
    const key = pathKey(path);
    if (!map.has(key)) map.set(key, offset);
  }
}

function pathKey(path: TomlPath): string {
  return JSON.stringify(path);
}

/** The common escapes of a basic string, enough to name keys written in quotes. */
function unescapeBasic(text: string): string {
  return text.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g, (_, escape: string) => {
    if (escape.length > 1) return String.fromCodePoint(parseInt(escape.slice(1), 16));
    return ({ b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b' } as Record<string, string>)[escape] ?? escape;
  });
}
