package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts ask vessel itself for the words that may
// follow (urfave/cli's --generate-bash-completion), so they stay right as
// commands and flags change; fish gets a static script that urfave/cli
// writes from the command tree.
const bashCompletion = `# vessel completion for bash: source <(vessel completion bash)
_vessel_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
	if [[ $cur == -* ]]; then words+=("$cur"); fi
	COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F _vessel_complete vessel
`

const zshCompletion = `#compdef vessel
# vessel completion for zsh: source <(vessel completion zsh)
_vessel() {
	local -a args opts
	args=("${words[@]:0:$((CURRENT-1))}")
	if [[ ${words[CURRENT]} == -* ]]; then args+=("${words[CURRENT]}"); fi
	opts=("${(@f)$("${args[@]}" --generate-bash-completion 2>/dev/null)}")
	if [[ -n ${opts[1]} ]]; then
		_describe 'vessel' opts
	else
		_files
	fi
}
compdef _vessel vessel
`

func (e *env) completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `bash:  source <(vessel completion bash)    (or save it in /etc/bash_completion.d/vessel)
zsh:   source <(vessel completion zsh)     (or save it as _vessel in your $fpath)
fish:  vessel completion fish > ~/.config/fish/completions/vessel.fish`,
		Action: func(c *cli.Context) error {
			a, err := args(c, "SHELL")
			if err != nil {
				return err
			}
			switch a[0] {
			case "bash":
				_, err = fmt.Fprint(e.stdout, bashCompletion)
			case "zsh":
				_, err = fmt.Fprint(e.stdout, zshCompletion)
			case "fish":
				var s string
				if s, err = c.App.ToFishCompletion(); err == nil {
					_, err = fmt.Fprint(e.stdout, s)
				}
			default:
				return usagef("completion: unknown shell %q: bash, zsh or fish", a[0])
			}
			return err
		},
	}
}
