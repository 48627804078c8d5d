/**
 * Folding host names into ranges, the inverse of host-range.ts: build01..build08 and build10 become
 * `build[01-08,10]`, as ClusterShell's `nodeset -f` writes them. Every folded pattern expands back,
 * through expandRange, to exactly the names it came from: a folded set can be pasted into `-H`.
 *
 * A name is folded on its last run of digits; names without digits, with digits too long to count
 * exactly, or with characters that the range grammar gives a meaning to, are written as they are.
 */

interface NumberedName {
  prefix: string;
  digits: string;
  suffix: string;
  value: number;
}

// The last run of digits: everything before it is the prefix, everything after it the suffix.
const LAST_NUMBER = /^(.*?)(\d+)(\D*)$/s;
// Characters host-range.ts reads as grammar, and the comma that separates -H terms.
const GRAMMAR = /[[\]*?,!^]/;
const MAX_DIGITS = 15;

function numbered(name: string): NumberedName | undefined {
  if (GRAMMAR.test(name)) return undefined;
  const match = LAST_NUMBER.exec(name);
  if (match === null) return undefined;
  const [, prefix = '', digits = '', suffix = ''] = match;
  if (digits.length > MAX_DIGITS) return undefined;
  return { prefix, digits, suffix, value: Number(digits) };
}

/**
 * The range terms of one prefix/suffix group: runs of consecutive numbers that share the zero
 * padding of their first member (host-range.ts pads every value of a term to its first bound).
 */
function rangeTerms(members: readonly NumberedName[]): string[] {
  const sorted = [...members].sort((a, b) => a.value - b.value || a.digits.length - b.digits.length);
  // Within a group the digits tell names apart: 010 and 10 are two hosts.
  const unused = new Map(sorted.map((member) => [member.digits, member]));
  const terms: string[] = [];
  for (const first of sorted) {
    if (!unused.has(first.digits)) continue;
    unused.delete(first.digits);
    const width = first.digits.length;
    let last = first;
    for (;;) {
      const nextText = String(last.value + 1).padStart(width, '0');
      const next = unused.get(nextText);
      if (next === undefined) break;
      unused.delete(nextText);
      last = next;
    }
    terms.push(last === first ? first.digits : `${first.digits}-${last.digits}`);
  }
  return terms;
}

/**
 * The shortest list of patterns this module writes for NAMES (duplicates ignored), sorted by
 * prefix and suffix: `['build[01-08,10]', 'web1']`.
 */
export function foldHosts(names: Iterable<string>): string[] {
  const groups = new Map<string, NumberedName[]>();
  const verbatim: string[] = [];
  for (const name of new Set(names)) {
    const parts = numbered(name);
    if (parts === undefined) {
      verbatim.push(name);
      continue;
    }
    // A NUL cannot occur in a host name: the key separates prefix and suffix unambiguously.
    const key = `${parts.prefix}\u0000${parts.suffix}`;
    const group = groups.get(key);
    if (group) group.push(parts);
    else groups.set(key, [parts]);
  }
  const folded = [...groups.values()].map((members) => {
    const { prefix, suffix } = members[0] as NumberedName;
    const terms = rangeTerms(members);
    const only = terms.length === 1 && !terms[0]?.includes('-');
    return { prefix, suffix, text: only ? `${prefix}${terms[0]}${suffix}` : `${prefix}[${terms.join(',')}]${suffix}` };
  });
  folded.sort((a, b) => compareText(a.prefix, b.prefix) || compareText(a.suffix, b.suffix));
  return [...folded.map((item) => item.text), ...verbatim.sort(compareText)];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `build[01-08,10] (9)`: the folded patterns, comma-separated, and how many names they hold. */
export function formatHostSet(names: Iterable<string>): string {
  const unique = new Set(names);
  return `${foldHosts(unique).join(',')} (${unique.size})`;
}
