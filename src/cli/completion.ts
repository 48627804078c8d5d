/**
 * `stapctl completion bash|zsh|fish`: a completion script written from the same option definitions
 * as the help and the man page, so that it offers exactly the options stapctl has.
 */
import type { Command as Commander, Option } from 'commander';
import { StapctlError } from '../errors.js';
import { ACTIONS } from '../service/report.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The words that may stand where the action goes. */
const ACTION_WORDS = [...ACTIONS, 'hosts', 'completion'];

/** Options whose value is a file or directory: the shell offers paths for them. */
const PATH_VALUES = new Set(['-c', '--inventory', '--identity', '--known-hosts', '--failed-hosts', '--log', '--ssl', '--root', '-I', '-R']);

interface OptionShape {
  names: string[];
  description: string;
  takesValue: boolean;
  choices?: readonly string[];
  path: boolean;
}

function shapes(program: Commander): OptionShape[] {
  const options: Option[] = [...program.options, program.createHelp().visibleOptions(program).find((option) => option.long === '--help')].filter(
    (option): option is Option => option !== undefined,
  );
  return options.map((option) => {
    const names = [option.short, option.long].filter((name): name is string => name !== undefined);
    return {
      names,
      description: option.description,
      takesValue: option.required || option.optional,
      ...(option.argChoices !== undefined && { choices: option.argChoices }),
      path: names.some((name) => PATH_VALUES.has(name)),
    };
  });
}

export function completionScript(shell: string | undefined, program: Commander): string {
  const options = shapes(program);
  switch (shell) {
    case 'bash':
      return bash(options);
    case 'zsh':
      return zsh(options);
    case 'fish':
      return fish(options);
    default:
      throw new StapctlError('USAGE', `completion takes one of ${SHELLS.join(', ')}, got '${shell ?? ''}'`, {
        hint: 'bash: source <(stapctl completion bash); zsh: stapctl completion zsh > "${fpath[1]}/_stapctl"; fish: stapctl completion fish > ~/.config/fish/completions/stapctl.fish',
      });
  }
}

function bash(options: readonly OptionShape[]): string {
  const cases = options
    .filter((option) => option.takesValue)
    .map((option) => {
      const reply = option.choices ? `COMPREPLY=($(compgen -W '${option.choices.join(' ')}' -- "$cur"))` : option.path ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()';
      return `    ${option.names.join('|')}) ${reply}; return ;;`;
    });
  return `# stapctl completion for bash: source <(stapctl completion bash)
_stapctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${cases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W '${options.flatMap((option) => option.names).join(' ')}' -- "$cur"))
  else
    COMPREPLY=($(compgen -W '${ACTION_WORDS.join(' ')}' -- "$cur"))
  fi
}
complete -F _stapctl stapctl
`;
}

/** zsh's _arguments spec reads [ ] : and \\ in a description: they are escaped. */
const zshText = (text: string) => text.replace(/[[\]:\\]/g, '\\$&').replace(/'/g, `'\\''`);

function zsh(options: readonly OptionShape[]): string {
  const specs = options.flatMap((option) =>
    option.names.map((name) => {
      const value = !option.takesValue ? '' : option.choices ? `:value:(${option.choices.join(' ')})` : option.path ? ':file:_files' : ':value:';
      return `    '${name}[${zshText(option.description)}]${value}'`;
    }),
  );
  return `#compdef stapctl
# stapctl completion for zsh: stapctl completion zsh > "\${fpath[1]}/_stapctl"
_arguments -s \\
${specs.join(' \\\n')} \\
    '1:action:(${ACTION_WORDS.join(' ')})' \\
    '*::argument:_files'
`;
}

const fishText = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fish(options: readonly OptionShape[]): string {
  const lines = options.map((option) => {
    const names = option.names.map((name) => (name.startsWith('--') ? `-l ${name.slice(2)}` : name.length === 2 ? `-s ${name.slice(1)}` : `-o ${name.slice(1)}`));
    const value = !option.takesValue ? '' : option.choices ? ` -x -a ${fishText(option.choices.join(' '))}` : option.path ? ' -r -F' : ' -x';
    return `complete -c stapctl ${names.join(' ')} -d ${fishText(option.description)}${value}`;
  });
  return `# stapctl completion for fish: stapctl completion fish > ~/.config/fish/completions/stapctl.fish
complete -c stapctl -f
complete -c stapctl -n __fish_use_subcommand -a ${fishText(ACTION_WORDS.join(' '))}
${lines.join('\n')}
`;
}
