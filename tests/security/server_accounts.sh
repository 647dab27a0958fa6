#!/bin/bash
# Throwaway servers started by root (brokers/*/server.c, harness/servers/):
#  1. Redis runs as the `redis` account, in DIR/redis/ (0700, the account's);
#     DIR stays root's (0711). (RabbitMQ does the same with DIR/node/ and its
#     0400 cookie; its ~10 s start is left to the broker tests.)
#  2. Another user's `sleep inf DIR` (a command line naming the server's dir)
#     is neither counted nor killed by `brokers down`: down is quick, the
#     process lives on, the dir is gone.
#  3. A killed PostgreSQL's data/postmaster.pid is the postgres account's to
#     write: clean-up removes only a segment of that account with the key the
#     file names, never a root segment the file points at.
# Needs root (useradd, runuser, ipcmk); exit 77 otherwise. Starts one Redis
# (~0.1 s) in a state dir of its own.
. "$(dirname "$0")/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (useradd, runuser)"; exit 77; }
for t in useradd userdel runuser ipcmk ipcrm; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done
user=ipclsa$$
sleeper= shmid= fake=
cleanup_accounts() {
	if [ -n "$sleeper" ]; then
		for p in $(pgrep -u "$user" -f "$dir"); do kill "$p"; done
		kill "$sleeper"
	fi 2>/dev/null
	[ -n "$shmid" ] && ipcrm -m "$shmid" 2>/dev/null
	[ -n "$fake" ] && rm -rf "$fake"
	[ -n "$state" ] && IPCLAB_BROKERS_STATE=$state "$bin" brokers down >/dev/null 2>&1
	# Every process of the test's own user (the sleeper runs under runuser and
	# bash): userdel refuses a user that still has one.
	pkill -KILL -u "$user" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pgrep -u "$user" >/dev/null || break
		sleep 0.2
	done
	userdel -r "$user" >/dev/null 2>&1 || echo "warning: could not remove user $user" >&2
	cleanup_security
}
trap cleanup_accounts EXIT
useradd -m "$user" || { echo "SKIP: useradd failed"; exit 77; }

# 1. Redis as its account.
if id redis >/dev/null 2>&1 && command -v redis-server >/dev/null; then
	mkdir -m 0700 "$tmp/st"
	state=$tmp/st/state.env
	IPCLAB_BROKERS_STATE=$state "$bin" brokers up redis >"$tmp/up.out" 2>&1 ||
		{ cat "$tmp/up.out"; echo "FAIL: brokers up redis"; exit 1; }
	read -r pid _ dir < <(sed -n "s/^IPCLAB_BROKER_redis=//p" "$state" | tr -d "'")
	echo "redis: pid $pid dir $dir"
	check "redis: the server runs as the redis account" \
		test "$(stat -c %U "/proc/$pid")" = redis
	check "redis: DIR is root's, mode 711" \
		test "$(stat -c %U:%a "$dir")" = root:711
	check "redis: DIR/redis is the account's, mode 700" \
		test "$(stat -c %U:%a "$dir/redis")" = redis:700
	check "redis: the password file is the account's, mode 600" \
		test "$(stat -c %U:%a "$dir/redis/redis.conf")" = redis:600

	# 2. Another user names the dir on a command line.
	runuser -u "$user" -- bash -c 'sleep 300; exit 0' "$dir" </dev/null >/dev/null 2>&1 &
	sleeper=$!
	sleep 0.5
	check "the other user's process names the dir" \
		sh -c "pgrep -u '$user' -f '$dir' >/dev/null"
	start=$(date +%s)
	IPCLAB_BROKERS_STATE=$state "$bin" brokers down >"$tmp/down.out" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	state=
	echo "brokers down: exit $rc in ${took}s"
	check "down: exit 0" test "$rc" -eq 0
	check "down: not stalled by the other user's process (< 8 s)" test "$took" -lt 8
	check "down: the other user's process was not killed" \
		sh -c "pgrep -u '$user' -f '$dir' >/dev/null"
	check "down: the server is gone" sh -c "! kill -0 $pid 2>/dev/null"
	check "down: the dir is gone" test ! -e "$dir"
	for p in $(pgrep -u "$user" -f "$dir"); do kill "$p"; done
	kill "$sleeper" 2>/dev/null
	wait "$sleeper" 2>/dev/null
	sleeper=
else
	echo "note: no redis account or redis-server: parts 1 and 2 not run"
fi

# 3. A planted postmaster.pid names a root segment.
if id postgres >/dev/null 2>&1; then
	shmid=$(ipcmk -M 4096 2>/dev/null | grep -o '[0-9]*$')
	[ -n "$shmid" ] || { echo "FAIL: ipcmk"; exit 1; }
	read -r key cpid < <(awk -v id="$shmid" '$2 == id {print $1, $5}' /proc/sysvipc/shm)
	fake=$(mktemp -d /tmp/ipcl-pg-XXXXXX)
	chmod 711 "$fake"
	mkdir -m 700 "$fake/data"
	printf '%s\n' "$cpid" "$fake/data" 0 5432 "$fake" 127.0.0.1 \
		"$key $shmid" ready >"$fake/data/postmaster.pid"
	chown -R postgres: "$fake/data"
	# A recorded server that is gone: `brokers down` runs the kind's
	# clean-up and removes the dir.
	mkdir -m 0700 "$tmp/pgst"
	printf '%s\n' "IPCLAB_PG_URL=postgresql://postgres@127.0.0.1:1/postgres" \
		"IPCLAB_BROKER_postgres=$cpid 0 $fake" >"$tmp/pgst/state.env"
	chmod 600 "$tmp/pgst/state.env"
	IPCLAB_BROKERS_STATE=$tmp/pgst/state.env "$bin" brokers down >"$tmp/pgdown.out" 2>&1
	echo "brokers down (a dead postgres): exit $?"
	check "down: the fake postgres dir was removed" test ! -e "$fake"
	check "down: root's segment named by the postgres-written pid file is kept" \
		awk -v id="$shmid" '$2 == id {f = 1} END {exit !f}' /proc/sysvipc/shm
	ipcrm -m "$shmid" && shmid=
	fake=
else
	echo "note: no postgres account: part 3 not run"
fi
finish
