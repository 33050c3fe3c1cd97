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
			mapfile -t COMPREPLY < <(compgen -W 'view follow ls web stream' -- "$cur")
		fi
		return 0
	fi

	cmd=${COMP_WORDS[1]}
	case $cmd in
	view) opts="$_ctflive_print_opts --decode-only --from-now --timeout --reconnect-timeout
		--session-not-found-action --grace --nats-user --nats-password --nats-token --nats-creds --nats-nkey --nats-tls
		--nats-tls-ca --nats-tls-cert --nats-tls-key --nats-tls-name --nats-tls-insecure" ;;
	follow) opts="$_ctflive_print_opts --grace" ;;
	ls) opts='--timeout --help
		--nats-user --nats-password --nats-token --nats-creds --nats-nkey --nats-tls
		--nats-tls-ca --nats-tls-cert --nats-tls-key --nats-tls-name --nats-tls-insecure' ;;
	web) opts='--listen --token-file --max-rows --timeout --help' ;;
	stream) opts='--relay --session --hostname --live --follow --until-pid --idle-exit
		--pace --metadata --beacons --beacon-time --reconnect-timeout --max-minor
		--stats --help' ;;
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
	--token-file | --nats-creds | --nats-nkey | --nats-tls-ca | --nats-tls-cert | --nats-tls-key)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
		;;
	--beacons)
		mapfile -t COMPREPLY < <(compgen -W 'skip-idle always' -- "$cur")
		return 0
		;;
	--session-not-found-action)
		mapfile -t COMPREPLY < <(compgen -W 'continue fail end' -- "$cur")
		return 0
		;;
	--beacon-time)
		mapfile -t COMPREPLY < <(compgen -W 'packet clock' -- "$cur")
		return 0
		;;
	--metadata)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
		;;
	--clock-offset | --clock-offset-ns | --timeout | --grace | --listen | --max-rows | -r | --relay | -s | \
		--session | --hostname | --until-pid | --idle-exit | --reconnect-timeout | \
		--max-minor | --nats-user | --nats-password | --nats-token | --nats-tls-name)
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	elif [ "$cmd" != ls ] && [ "$cmd" != web ]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	fi
	return 0
}
complete -F _ctflive ctflive
