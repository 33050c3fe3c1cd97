# bash completion for ctflive(1): subcommands, their options, and trace
# directories. Installed in share/bash-completion/completions/ctflive.
# The option lists are those of `ctflive COMMAND --help` (checked by
# tests/install/test_completion.py).

_ctflive_print_opts='--clock-cycles --clock-date --clock-gmt --clock-seconds --no-delta
	--clock-offset --clock-offset-ns --names --fields --json --help'

_ctflive()
{
	local cur prev cmd opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	if [ "$COMP_CWORD" -eq 1 ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W '--help --version' -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W 'view follow ls' -- "$cur")
		fi
		return 0
	fi

	cmd=${COMP_WORDS[1]}
	case $cmd in
	view) opts="$_ctflive_print_opts --decode-only --from-now --timeout" ;;
	follow) opts="$_ctflive_print_opts --grace" ;;
	ls) opts='--timeout --help' ;;
	*) return 0 ;;
	esac

	case $prev in
	-n | --names)
		mapfile -t COMPREPLY < <(compgen -W 'payload context scope header all none' -- "$cur")
		return 0
		;;
	-f | --fields)
		mapfile -t COMPREPLY < <(compgen -W 'trace trace:hostname trace:domain
			trace:procname trace:vpid loglevel emf callsite all' -- "$cur")
		return 0
		;;
	--clock-offset | --clock-offset-ns | --timeout | --grace)
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	elif [ "$cmd" != ls ]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	fi
	return 0
}
complete -F _ctflive ctflive
