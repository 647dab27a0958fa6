#!/bin/bash
# Another local user cannot feed a run (issue 10, item 5; DESIGN "Trust"). A
# second user watches /proc/net/{tcp,udp} for the loopback sockets root's run
# opens and sends them frames stamped exactly as ipclab's producers stamp them
# (tests/security/inject_peer.c: the frame format is public, nothing in a
# frame is secret to the run), two seconds old. Today the tcp consumer takes
# the stranger's connection and reports a clean run (status ok, exit 0, 0 lost)
# whose every latency is the forged 2 s, and the udp consumer counts the forged
# datagrams as delivered/duplicated with a 2 s tail. Right: a foreign peer is
# refused and counted as foreign, never taken for the run's own data, so the
# figures stay the real ones (here: no latency near the forged age).
# Needs root (useradd, runuser); exit 77 otherwise.
. "$(dirname "$0")/../cli/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (useradd, runuser)"; exit 77; }
for t in useradd userdel runuser python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done
src=${IPCLAB_SOURCE_DIR:-$(dirname "$0")/../..}
user=ipclpi$$
atk=
cleanup() {
	[ -n "$atk" ] && kill "$atk" 2>/dev/null && wait "$atk" 2>/dev/null
	userdel -r "$user" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
useradd -m "$user" || { echo "SKIP: useradd failed"; exit 77; }
chmod 755 "$tmp"
# The injector is built by CMake with the build's own flags (sanitizers
# included) and passed in $IPCLAB_INJECT; copied where the other user can run it.
inj=${IPCLAB_INJECT:-}
[ -x "$inj" ] || { echo "FAIL: the injector (IPCLAB_INJECT) is not built"; exit 1; }
install -m 755 "$inj" "$tmp/inject" || { echo "FAIL: cannot copy the injector"; exit 1; }
age_ms=2000

# attack TRANSPORT: one run as root while the other user injects; sets rc and rec.
attack() {
	local proto=$1
	[ "$1" = tcp ] || proto=udp
	runuser -u "$user" -- "$tmp/inject" "$proto" 0 64 500 "$age_ms" 20 \
		>"$tmp/inject.$1" 2>&1 &
	atk=$!
	sleep 0.5
	timeout 60 "$bin" run -t "$1" -p stream -n 500 -w 0 -q --json --timeout 15s \
		>"$tmp/rec.$1" 2>"$tmp/err.$1"
	rc=$?
	kill "$atk" 2>/dev/null
	wait "$atk" 2>/dev/null
	atk=
	rec=$tmp/rec.$1
}

# p99 latency (ns) of the record in $1, or -1 when there is none.
p99() {
	python3 -c 'import json,sys
try: print(int(json.load(open(sys.argv[1]))["latency"]["p99"]))
except Exception: print(-1)' "$1"
}
field() {
	python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["verify"][sys.argv[2]])
except Exception: print(-1)' "$1" "$2"
}

for t in tcp udp; do
	attack "$t"
	lat=$(p99 "$rec")
	echo "$t: exit $rc, p99 ${lat} ns, delivered $(field "$rec" delivered)," \
		"duplicated $(field "$rec" duplicated), lost $(field "$rec" lost)"
	# A refused run (exit 1, no record) is acceptable; a record is judged.
	if [ "$lat" -ge 0 ]; then
		check "$t: no latency from the stranger's forged send time (p99 $lat ns)" \
			test "$lat" -lt $((age_ms * 1000000 / 2))
		check "$t: the stranger's frames are not counted as duplicates" \
			test "$(field "$rec" duplicated)" -eq 0
	fi
	check "$t: a clean-looking run is not made of forged data" \
		sh -c "! { [ $rc -eq 0 ] && [ $lat -ge $((age_ms * 1000000 / 2)) ]; }"
done
finish
