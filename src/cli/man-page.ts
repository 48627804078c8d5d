/**
 * stapctl(1), written from the option definitions that parse the command line (stapctlProgram),
 * so that the man page lists exactly the options stapctl has. The build writes it to man/stapctl.1.
 */
import type { Command as Commander, Option } from 'commander';
import { VERSION } from '../version.js';
import { HELP_AFTER, stapctlProgram } from './argv.js';
import { configFiles, environmentName, CONFIG_SCHEMA } from './stapctl-config.js';

/** roff: a backslash is an escape, and a line that starts with . or ' is a request. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

function optionEntry(option: Option): string {
  const choices = option.argChoices ? ` One of: ${option.argChoices.join(', ')}.` : '';
  return `.TP\n.B ${roff(option.flags)}\n${roff(option.description + (option.description.endsWith('.') ? '' : '.') + choices)}`;
}

export function manPage(program: Commander = stapctlProgram()): string {
  const settings = Object.keys(CONFIG_SCHEMA.shape) as (keyof typeof CONFIG_SCHEMA.shape)[];
  return [
    `.TH STAPCTL 1 "" "stapctl ${VERSION}" "User Commands"`,
    '.SH NAME',
    `stapctl \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    '.nf',
    ...program.usage().split('\n').map((line) => roff(`stapctl ${line.trim().replace(/^stapctl /, '')}`)),
    roff('stapctl completion bash|zsh|fish'),
    '.fi',
    '.SH OPTIONS',
    ...program.options.map(optionEntry),
    '.SH DETAILS',
    '.nf',
    roff(HELP_AFTER.trim()),
    '.fi',
    '.SH CONFIGURATION',
    roff(`Fleet defaults are read from ${configFiles({ HOME: '~' }).join(', then ')} (YAML; the later file wins), then from the environment; options on the command line win over both. Settings:`),
    ...settings.map((key) => `.TP\n.B ${roff(key)}\n${roff(`as --${key}; in the environment ${environmentName(key)}.`)}`),
    '.SH ENVIRONMENT',
    roff('NO_COLOR, FORCE_COLOR and TERM=dumb decide colour under --color auto. STAPCTL_ROOT is the default --root of local mode. XDG_CONFIG_HOME and XDG_CACHE_HOME move ~/.config and ~/.cache.'),
    '.SH FILES',
    roff('~/.cache/stapctl/failed-hosts: the hosts a fleet run did not succeed on, for -H @FILE. ~/.ssh/config, ~/.ssh/known_hosts: as ssh reads them.'),
    '.SH SEE ALSO',
    'stap\\-server(8), stap\\-serverd(8), ssh_config(5)',
    '',
  ].join('\n');
}
