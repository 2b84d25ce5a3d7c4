// Bash completion for holdfast, from its command line (cli-definitions.ts): commands, global options, each
// command's options; `who` completes file names.
import type { CommandDefinition } from './cli-definitions';

const words = (list: string[]): string => list.join(' ');

export function bashCompletion(cli: CommandDefinition): string {
  const globals = cli.options.flatMap((o) => o.names);
  const valued = [...cli.options, ...cli.commands.flatMap((c) => c.options)].filter((o) => o.takesValue).flatMap((o) => o.names);
  const cases = cli.commands.map((c) => {
    const opts = words([...c.options.flatMap((o) => o.names), ...globals.filter((g) => g.startsWith('--'))]);
    const files = c.arguments.length > 0 && c.name === 'who';
    return `    ${c.name}) [[ $cur == -* || ${files ? 1 : 0} == 0 ]] && COMPREPLY=($(compgen -W "${opts}" -- "$cur")) || COMPREPLY=($(compgen -f -- "$cur")) ;;`;
  });
  return `# bash completion for holdfast(1); generated from its command line by scripts/docs/bash-completion.ts.
_holdfast() {
  local cur prev command i
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    ${valued.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  command=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      ${valued.join('|')}) ((i++)) ;;
      -*) ;;
      *) command=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $command in
    '') COMPREPLY=($(compgen -W "${words([...cli.commands.map((c) => c.name), ...globals])}" -- "$cur")) ;;
${cases.join('\n')}
  esac
}
complete -o filenames -F _holdfast holdfast
`;
}
