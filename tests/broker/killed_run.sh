#!/usr/bin/env bash
# `ipclab clean --brokers` after runs killed with SIGKILL: the Redis keys and
# the Postgres outbox table they left on the servers of `ipclab brokers up`
# (IPCLAB_BROKERS_STATE) are removed, and nothing else. Skipped (77) without
# recorded servers. Usage: killed_run.sh IPCLAB
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {
	local what=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fail=$((fail + 1)); fi
}
eval "$("$bin" brokers env 2>/dev/null)"
if [ -z "${IPCLAB_REDIS_URL:-}" ] || [ -z "${IPCLAB_PG_URL:-}" ]; then
	echo "skipped: no redis and postgres recorded by ipclab brokers up"
	exit 77
fi

# A run's objects carry its pid in the run tag: redis key ipcl:<pid>-...,
# table ipcl_outbox_<pid>_...
for t in redis-list:"redis key ipcl:" pg-outbox:"postgres table ipcl_outbox_"; do
	tr=${t%%:*} prefix=${t#*:}
	"$bin" run -t "$tr" -p stream -d 60s -q >/dev/null 2>&1 &
	pid=$!
	sep=-
	[ "$tr" = pg-outbox ] && sep=_
	want="$prefix$pid$sep"
	# Its objects exist once its roles do (set-up comes first).
	for _ in $(seq 100); do
		[ -n "$(pgrep -P "$pid")" ] && break
		sleep 0.1
	done
	sleep 1
	kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null
	wait "$pid" 2>/dev/null
	"$bin" clean --brokers --dry-run >"$tmp/dry" 2>&1
	check "$tr: a killed run's object is found ($(grep -c . "$tmp/dry") lines)" grep -qF "$want" "$tmp/dry"
	"$bin" clean --brokers >"$tmp/out" 2>&1
	check "$tr: clean --brokers exits 0 ($(tail -1 "$tmp/out"))" test $? -eq 0
	check "$tr: ... and says it removed it" grep -qF "removing on the" "$tmp/out"
	"$bin" clean --brokers --dry-run >"$tmp/dry2" 2>&1
	check "$tr: ... and it is gone" bash -c "! grep -qF '$want' '$tmp/dry2'"
	check "$tr: no secret printed" bash -c "! grep -qF '${IPCLAB_REDIS_URL#*:}' '$tmp/out'"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
