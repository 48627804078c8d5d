/**
 * Host lists: `-H @FILE` reads the hosts from FILE (a retry file, or any list), `-H -` from stdin.
 * A list holds one host, group or pattern per line; blank lines and `#` comments are ignored. The
 * list becomes an ordinary SPEC (its lines joined with commas) before patterns are resolved.
 */
import { readFileSync } from 'node:fs';
import { StapctlError } from '../../errors.js';

/** Where the SPEC's hosts come from: the SPEC itself, a file or stdin. */
export type SpecSource = { kind: 'spec'; spec: string } | { kind: 'file'; file: string } | { kind: 'stdin' };

export function specSource(spec: string): SpecSource {
  if (spec === '-') return { kind: 'stdin' };
  if (spec.startsWith('@')) return { kind: 'file', file: spec.slice(1) };
  return { kind: 'spec', spec };
}

/** The SPEC a host list stands for; NAME (the file, or "stdin") is for the error of an empty list. */
export function hostListSpec(text: string, name: string): string {
  const terms = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '');
  if (terms.length === 0) {
    throw new StapctlError('NO_HOSTS_MATCHED', `${name} lists no hosts`, { hint: 'write one host, group or pattern per line' });
  }
  return terms.join(',');
}

/** Reads the hosts of SOURCE; READ_STDIN is called only for `-H -`. */
export function readSpec(source: SpecSource, readStdin: () => string = () => readFileSync(0, 'utf8')): string {
  switch (source.kind) {
    case 'spec':
      return source.spec;
    case 'stdin':
      return hostListSpec(readStdin(), 'stdin');
    case 'file': {
      let text: string;
      try {
        text = readFileSync(source.file, 'utf8');
      } catch (error) {
        throw new StapctlError('HOST_LIST_UNREADABLE', `cannot read the host list ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
          file: source.file,
          hint: '-H @FILE reads hosts from FILE, one per line (a retry file is such a list)',
          cause: error,
        });
      }
      return hostListSpec(text, source.file);
    }
  }
}
