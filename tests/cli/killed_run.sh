#!/usr/bin/env bash
# A `compare` killed with SIGKILL mid-way, then `ipclab clean`: nothing of
# that run is left in /tmp, /dev/shm, /dev/mqueue, SysV queues (ipcs) or the
# process table. The compare runs shm, posix-mq and sysv-mq, fifo and unix
# (each leaves a different kind of object); it is killed once one of its
# objects exists, roles and all.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

"$bin" compare -t shm,posix-mq,sysv-mq,fifo,unix -p stream -s 64 -d 5s --repeat 3 \
	--no-report -o "$tmp/c.jsonl" >/dev/null 2>&1 &
pid=$!
# Its objects carry its pid: wait until one of them is there (10 s at most).
for _ in $(seq 100); do
	if compgen -G "/dev/shm/ipcl-$pid-*" >/dev/null ||
		compgen -G "/dev/mqueue/ipcl-$pid-*" >/dev/null ||
		compgen -G "${TMPDIR:-/tmp}/ipcl-$pid-*" >/dev/null; then
		break
	fi
	sleep 0.1
done
roles=$(pgrep -P "$pid" | tr '\n' ' ')
check "the compare started something of its own" test -n "$(compgen -G "/dev/shm/ipcl-$pid-*" \
	"/dev/mqueue/ipcl-$pid-*" "${TMPDIR:-/tmp}/ipcl-$pid-*" 2>/dev/null)$roles"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
"$bin" clean >"$tmp/clean.out" 2>&1
rc=$?
check "clean exits 0 (exit $rc: $(cat "$tmp/clean.out"))" test "$rc" -eq 0
sleep 1 # a role blocked in a syscall takes a moment to notice its parent is gone

left() { compgen -G "$1" 2>/dev/null | head -3; }
check "nothing in /dev/shm: $(left "/dev/shm/ipcl-$pid-*")" test -z "$(left "/dev/shm/ipcl-$pid-*")"
check "nothing in /dev/mqueue: $(left "/dev/mqueue/ipcl-$pid-*")" \
	test -z "$(left "/dev/mqueue/ipcl-$pid-*")"
check "nothing in the temp dir: $(left "${TMPDIR:-/tmp}/ipcl-$pid-*")" \
	test -z "$(left "${TMPDIR:-/tmp}/ipcl-$pid-*")"
# SysV keys of a run: 0x68000000 | pid << 4 | n (ipc/mq/sysv.c).
sysv=$(awk -v p="$pid" 'NR > 1 && int($1 / 16) % 4194304 == p && int($1 / 67108864) % 32 == 26 { print $2 }' /proc/sysvipc/msg)
check "no SysV queue of the run: $sysv" test -z "$sysv"
# Gone, or a zombie waiting for a PID 1 that may never reap (containers).
gone() { [ ! -e "/proc/$1/stat" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
for r in $roles; do
	check "role process $r is gone ($(tr '\0' ' ' <"/proc/$r/cmdline" 2>/dev/null))" gone "$r"
done
finish
