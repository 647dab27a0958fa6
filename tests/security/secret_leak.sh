#!/bin/bash
# No password reaches output or files (issue 10, item 6): every broker transport
# runs with its server's password, in each URL form its library accepts (libpq:
# URI userinfo, ?password=, conninfo keyword), and every line printed and every
# result file is searched for the password.
. "$(dirname "$0")/lib.bash"
need_servers redis rabbitmq postgres
out=$tmp/out
mkdir -p "$out"
n=0
run_one() { # transport url
	n=$((n + 1))
	"$bin" run -t "$1" -n 20 -O url="$2" --json -o "$out/r$n.jsonl" \
		>"$out/stdout$n" 2>"$out/stderr$n"
	rc=$?
	check "$1 run $n exits 0 (exit $rc)" test "$rc" -eq 0
	check "$1 run $n wrote a record" test -s "$out/r$n.jsonl"
}
for t in $("$bin" list 2>/dev/null | awk '{print $1}' | grep -E '^(redis|rabbitmq)'); do
	case $t in redis*) u=$url_redis ;; *) u=$url_rabbitmq ;; esac
	run_one "$t" "$u"
done
pw_pg=$(secret_of "$url_postgres")
hp=${url_postgres##*@}
host=${hp%%:*} port=${hp#*:} port=${port%%/*}
run_one pg-outbox "$url_postgres"
run_one pg-outbox "postgresql://postgres@$hp?password=$pw_pg"
run_one pg-outbox "host=$host port=$port user=postgres dbname=postgres password=$pw_pg"
IPCLAB_BROKERS_STATE=${own_state:-${IPCLAB_BROKERS_STATE:-}} "$bin" brokers status >"$out/status" 2>&1
for s in "$(secret_of "$url_redis")" "$(secret_of "$url_rabbitmq")" "$pw_pg"; do
	check "secret ${#s} chars long" test ${#s} -ge 16
	check "no file holds the secret" eval '! grep -rqF -- "$s" "$out"'
done
finish
