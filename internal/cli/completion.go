package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts are urfave/cli's own (autocomplete/ in its repository), with
// the program name filled in: they ask the binary itself for completions
// through its hidden --generate-bash-completion flag.
const bashCompletion = `# bash completion for archiver: source <(archiver completion bash)
_archiver_complete() {
  local cur words cword
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:$COMP_CWORD}")
  local request="${words[*]} --generate-bash-completion"
  if [[ "$cur" == "-"* ]]; then
    request="${words[*]} ${cur} --generate-bash-completion"
  fi
  COMPREPLY=($(compgen -W "$(eval "${request}" 2>/dev/null)" -- "${cur}"))
}
complete -o bashdefault -o default -o nospace -F _archiver_complete archiver
`

const zshCompletion = `#compdef archiver
# zsh completion for archiver: source <(archiver completion zsh)
_archiver_complete() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _archiver_complete archiver
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: `Examples:
   source <(archiver completion bash)                     # this shell
   archiver completion bash > /etc/bash_completion.d/archiver
   archiver completion zsh > "${fpath[1]}/_archiver"`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			default:
				return withCode(ExitUsage, fmt.Errorf("completion: say which shell: bash or zsh, got %q", c.Args().First()))
			}
			return nil
		},
	}
}
