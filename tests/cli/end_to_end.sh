#!/usr/bin/env bash
# Every built-in transport, pingpong and stream, in process and thread mode,
# through the real CLI: each run must give a complete record with no loss
# (lossy transports: no corruption, and loss is counted). Broker transports run
# when their server URL is in the environment (the test command starts servers);
# otherwise they are reported as not run, and the broker label covers them.
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skipped=0

"$bin" list --json >"$tmp/list" || { echo "FAIL: ipclab list"; exit 1; }
while read -r line; do
	name=$(jq -r .name <<<"$line")
	server=$(jq -r '.server // empty' <<<"$line")
	caps=$(jq -r '.caps | join(",")' <<<"$line")
	if [ "$(jq -r .available <<<"$line")" = false ]; then
		echo "SKIP $name: $(jq -r .reason <<<"$line")"
		skipped=$((skipped + 1))
		continue
	fi
	case $server in
	redis) [ -n "${IPCLAB_REDIS_URL:-}" ] || { echo "SKIP $name: no IPCLAB_REDIS_URL"; skipped=$((skipped + 1)); continue; } ;;
	rabbitmq) [ -n "${IPCLAB_AMQP_URL:-}" ] || { echo "SKIP $name: no IPCLAB_AMQP_URL"; skipped=$((skipped + 1)); continue; } ;;
	postgres) [ -n "${IPCLAB_PG_URL:-}" ] || { echo "SKIP $name: no IPCLAB_PG_URL"; skipped=$((skipped + 1)); continue; } ;;
	esac
	modes="process thread"
	[[ $caps == *threads_only* ]] && modes=thread
	extra=()
	[[ $caps == *lossy* ]] && extra+=(--expect-loss)
	for mode in $modes; do
		for pat in pingpong stream; do
			args=(-t "$name" -p "$pat" -n 2000 -w 100 --json -q --timeout 60s "${extra[@]}")
			[ "$mode" = thread ] && args+=(--threads)
			"$bin" run "${args[@]}" >"$tmp/rec" 2>"$tmp/err"
			rc=$?
			st=$(jq -r .status "$tmp/rec" 2>/dev/null)
			lost=$(jq -r .verify.lost "$tmp/rec" 2>/dev/null)
			cor=$(jq -r .verify.corrupt "$tmp/rec" 2>/dev/null)
			dup=$(jq -r .verify.duplicated "$tmp/rec" 2>/dev/null)
			ok=1
			[ "$rc" -eq 0 ] && [ "$st" = ok ] && [ "$cor" = 0 ] || ok=0
			[[ $caps == *lossy* ]] || { [ "$lost" = 0 ] && [ "$dup" = 0 ]; } || ok=0
			if [ $ok = 1 ]; then
				pass=$((pass + 1))
				echo "ok   $name $pat $mode (lost $lost)"
			else
				fail=$((fail + 1))
				echo "FAIL $name $pat $mode: exit $rc status $st lost $lost dup $dup corrupt $cor"
				sed 's/^/    /' "$tmp/err" | head -5
				jq -r '.error // empty' "$tmp/rec" 2>/dev/null | sed 's/^/    /'
			fi
		done
	done
done <"$tmp/list"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
