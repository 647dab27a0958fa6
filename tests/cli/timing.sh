#!/usr/bin/env bash
# Timing records (issue 12): a rate run carries the sender's lag (merged and
# per producer), the late-sender flag with its bound, and the pacing used;
# every role has its minor page faults; the environment names the stamping
# clock, its measured cost and the stream's 1-in-N; --clock tsc where the TSC
# is invariant; a comparison with rate runs records the machine's hiccups;
# a broker run on a throwaway server has the server's CPU per message.
# Usage: timing.sh IPCLAB
. "$(dirname "$0")/lib.bash"

j() { jq -e "$1" "$2" >/dev/null; }

"$bin" run -t pipe -p rate -r 2000 -d 0.3s -w 100 --json -q >"$tmp/rate" 2>"$tmp/err"
rc=$?
check "rate run exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "rate: sender_lag with p99 and bound_ns" j '.sender_lag.p99 >= 0 and .sender_lag.bound_ns >= 100000' "$tmp/rate"
check "rate: late_sender is a boolean" j '.late_sender | type == "boolean"' "$tmp/rate"
check "rate: late_sender agrees with p99 > bound" \
	j '.late_sender == (.sender_lag.p99 > .sender_lag.bound_ns)' "$tmp/rate"
check "rate: params.pacing is sleep or spin" j '.params.pacing == "sleep" or .params.pacing == "spin"' "$tmp/rate"
check "rate: the producer's own sender_lag" j '.roles[0].kind == "producer" and (.roles[0].sender_lag.count > 0)' "$tmp/rate"
check "rate: no schedule_lag left" j 'has("schedule_lag") | not' "$tmp/rate"

"$bin" run -t pipe -p rate -r 2000 -d 0.2s -w 100 --pacing sleep --json -q >"$tmp/sleep"
check "--pacing sleep is recorded" j '.params.pacing == "sleep"' "$tmp/sleep"
"$bin" run -t pipe -p rate -r 2000 -d 0.2s -w 100 --pacing spin --json -q >"$tmp/spin"
check "--pacing spin is recorded" j '.params.pacing == "spin"' "$tmp/spin"
# This machine's rule: spinning needs more CPUs than roles.
ncpu=$(nproc)
want=sleep
[ "$ncpu" -gt 2 ] && want=spin
check "auto pacing on $ncpu CPUs with 2 roles is $want" j ".params.pacing == \"$want\"" "$tmp/rate"
"$bin" run -t pipe -p rate -r 2000 -d 0.2s -w 100 --pin same --json -q >"$tmp/same"
check "auto pacing with --pin same sleeps" j '.params.pacing == "sleep"' "$tmp/same"

for p in pingpong stream rate; do
	extra="-n 3000"
	[ $p = rate ] && extra="-r 5000 -d 0.2s -w 100"
	"$bin" run -t unix -p $p $extra --json -q >"$tmp/$p"
	check "$p: every role has minflt" j '[.roles[] | has("minflt")] | all' "$tmp/$p"
	check "$p: cpu.sender.minflt_per_msg" j '.cpu.sender.minflt_per_msg >= 0' "$tmp/$p"
	check "$p: env.clock names the clock and its cost" \
		j '.env.clock.source == "monotonic" and .env.clock.read_ns > 0' "$tmp/$p"
	check "$p: no server CPU for a transport without a server" j '.cpu | has("server") | not' "$tmp/$p"
done
check "pingpong stamps every message" j '.env.stamp_every == 1' "$tmp/pingpong"
check "rate stamps every message" j '.env.stamp_every == 1' "$tmp/rate"

"$bin" run -t shm -p stream -n 100000 --json -q >"$tmp/s1"
check "stream: stamp_every >= 1, fewer latency samples when > 1" \
	j '.env.stamp_every >= 1 and (.latency.count <= .throughput.msgs) and (if .env.stamp_every > 1 then .latency.count < .throughput.msgs else true end)' "$tmp/s1"
"$bin" run -t shm -p stream -n 50000 --stamp-every 1 --json -q >"$tmp/s2"
check "stream --stamp-every 1: every measured message sampled" \
	j '.env.stamp_every == 1 and .latency.count == .throughput.msgs' "$tmp/s2"
"$bin" run -t shm -p stream -n 50000 --stamp-every 8 --json -q >"$tmp/s8"
check "stream --stamp-every 8: one sample in 8" \
	j '.env.stamp_every == 8 and .latency.count == (.throughput.msgs / 8 | ceil)' "$tmp/s8"
check "stream 1-in-8: delivery still verified" j '.verify.lost == 0 and .verify.corrupt == 0' "$tmp/s8"

if grep -qw constant_tsc /proc/cpuinfo && grep -qw nonstop_tsc /proc/cpuinfo; then
	"$bin" run -t pipe --clock tsc -n 3000 --json -q >"$tmp/tsc"
	check "--clock tsc: recorded with its calibration" \
		j '.env.clock.source == "tsc" and .env.clock.tsc_ghz > 0 and .env.clock.calibrated_against == "CLOCK_MONOTONIC"' "$tmp/tsc"
	check "--clock tsc: latencies positive" j '.latency.min > 0 and .one_way.min > 0' "$tmp/tsc"
fi

expect2 "--clock bogus" run -t pipe --clock bogus -n 10
expect2 "--pacing busy" run -t pipe -p rate -r 100 -d 0.1s --pacing busy
expect2 "--stamp-every on pingpong" run -t pipe --stamp-every 4 -n 10
expect2 "--stamp-every 0" run -t pipe -p stream --stamp-every 0 -n 10

# A comparison with rate runs records one hiccup-meter record.
abs=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
(cd "$tmp" && "$abs" compare --quick -t pipe -p stream,rate -s 64 -o c.jsonl --no-report \
	>/dev/null 2>&1)
check "compare: one hiccup record" test "$(jq -c 'select(.pattern == "hiccup")' "$tmp/c.jsonl" | wc -l)" -eq 1
check "hiccup: a wake-up lag histogram and its pacing" \
	j 'select(.pattern == "hiccup") | .latency.count > 0 and (.params.pacing | type == "string") and .status == "ok"' "$tmp/c.jsonl"

# Server CPU of a throwaway Redis (started by the run itself: no URL given).
if command -v redis-server >/dev/null && "$bin" list | grep -q '^redis-list'; then
	env -u IPCLAB_REDIS_URL "$bin" run -t redis-list -p stream -n 20000 -O pipeline=16 --json -q >"$tmp/srv"
	check "throwaway redis: cpu.server.total_ns_per_msg > 0" \
		j '.cpu.server.total_ns_per_msg > 0 and (.cpu.server.source | test("/proc"))' "$tmp/srv"
fi
finish
