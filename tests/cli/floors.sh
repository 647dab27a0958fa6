#!/usr/bin/env bash
# Issue 16's switches reach the record: every record says how messages were
# checked (params.verify) and whether they were written and read in place
# (params.loan); shm-loan runs ping-pong and stream clean with either verify
# mode; wait=spin with both roles on one CPU says it yields the CPU (record
# and one stderr line); --producer-only and --verify refuse bad use with exit 2.
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for t in shm shm-loan; do
	for v in full sample; do
		for p in pingpong stream; do
			"$bin" run -t "$t" -p $p -s 64K -n 300 -w 10 --verify $v --json -q >"$tmp/r" 2>/dev/null ||
				{ bad "$t $p --verify $v failed: $(jq -r .error "$tmp/r" 2>/dev/null)"; continue; }
			want=false; [ "$t" = shm-loan ] && want=true
			[ "$(jq -r .params.verify "$tmp/r")" = "$v" ] && ok || bad "$t: params.verify is not $v"
			[ "$(jq -r .params.loan "$tmp/r")" = "$want" ] && ok || bad "$t: params.loan is not $want"
			[ "$(jq -r '.verify.lost + .verify.corrupt + .verify.duplicated' "$tmp/r")" = 0 ] && ok ||
				bad "$t $p $v: data errors"
		done
	done
done
# Every record has the two fields, whatever the transport.
"$bin" run -t pipe -n 200 -w 10 --json -q >"$tmp/r" 2>/dev/null
[ "$(jq -r '[.params.verify, .params.loan] | join(",")' "$tmp/r")" = "full,false" ] && ok ||
	bad "pipe record lacks verify/loan"

"$bin" run -t shm -n 500 -w 10 -O wait=spin --cpus 0,0 --json -q >"$tmp/r" 2>"$tmp/e"
[ "$(jq -r .limits.wait "$tmp/r")" = spin ] && [ "$(jq -r .limits.spin_yields "$tmp/r")" = 1 ] && ok ||
	bad "spin on one CPU: wait used / spin_yields not recorded"
grep -q "warning: shm wait=spin with both roles on one CPU" "$tmp/e" && ok || bad "no warning on stderr"
"$bin" run -t shm -n 500 -w 10 -O wait=spin --cpus 0,1 --json -q >"$tmp/r" 2>"$tmp/e"
[ "$(jq -r .limits.spin_yields "$tmp/r")" = null ] && [ ! -s "$tmp/e" ] && ok ||
	bad "spin on two CPUs must not yield or warn"

for args in "-t pipe -p stream --producer-only" "-t redis-list --producer-only" \
	"-t shm --verify some"; do
	# shellcheck disable=SC2086
	"$bin" run $args -n 10 -q >/dev/null 2>"$tmp/e"
	rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && ok || bad "'$args': exit $rc, want 2 and one line"
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
