/**
 * What the terminal gets: colour, the output view and the live progress line, decided once from the
 * options, the environment and whether the streams are terminals. Pure: the caller passes the facts.
 */

export type ColorChoice = 'auto' | 'always' | 'never';
export type OutputView = 'table' | 'lines' | 'json';

export interface TerminalFacts {
  env: NodeJS.ProcessEnv;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

const set = (value: string | undefined): value is string => value !== undefined && value !== '';

/**
 * `--color always|never` win; under `auto`, NO_COLOR (https://no-color.org) turns colour off,
 * FORCE_COLOR (other than 0/false) turns it on, TERM=dumb turns it off, else it follows stdout.
 */
export function colorEnabled(choice: ColorChoice, facts: TerminalFacts): boolean {
  if (choice !== 'auto') return choice === 'always';
  if (set(facts.env.NO_COLOR)) return false;
  const force = facts.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (facts.env.TERM === 'dumb') return false;
  return facts.stdoutIsTty;
}

/** A terminal gets the table; a pipe or a file gets one line per host, for grep, awk and diff. */
export function defaultView(facts: TerminalFacts): OutputView {
  return facts.stdoutIsTty ? 'table' : 'lines';
}

/** The progress line redraws itself with escape sequences: only on a terminal that knows them. */
export function liveProgress(view: OutputView, facts: TerminalFacts): boolean {
  return view !== 'json' && facts.stderrIsTty && facts.env.TERM !== 'dumb';
}
