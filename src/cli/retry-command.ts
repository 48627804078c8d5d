/** The command line that retries a run on the hosts of its retry file: the same argv, `-H @FILE`. */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX shell quoting: the printed command can be pasted as it is. */
export function shellQuote(word: string): string {
  return SAFE.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** ARGV is what followed `stapctl`; its -H/--hosts value (in any of its spellings) becomes @FILE. */
export function retryCommand(argv: readonly string[], file: string): string {
  const list = `@${file}`;
  const words: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const word = argv[index] ?? '';
    if (word === '--') {
      words.push(...argv.slice(index));
      break;
    }
    if (word === '-H' || word === '--hosts') {
      words.push(word, list);
      index += 1;
    } else if (word.startsWith('--hosts=')) words.push(`--hosts=${list}`);
    else if (/^-H./.test(word)) words.push(`-H${list}`);
    else words.push(word);
  }
  return ['stapctl', ...words].map(shellQuote).join(' ');
}
