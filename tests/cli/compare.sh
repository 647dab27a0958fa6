#!/usr/bin/env bash
# `ipclab compare` from a suite file: the points it names and no others, the
# command line over the file, transport options from the file in every record,
# the rate run at the file's fraction of the median stream capacity it measured,
# the ranking and the report; then a --budget run: it finishes within the
# budget (with slack for a loaded machine), shortens its runs and says what it
# left out. Usage: compare.sh IPCLAB
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"
bin=$(realpath "$bin")

cat >"$tmp/s.ini" <<'INI'
; two transports, two sizes, three patterns, two runs each
[compare]
transports = pipe, shm   ; the names
sizes = 64, 256, 1K
patterns = pingpong, stream, rate
duration = 60ms
repeat = 2
rate_fraction = 0.2

[shm]
wait = block
INI
res=$tmp/r.jsonl
(cd "$tmp" && "$bin" compare --suite s.ini -s 64,256 -o r.jsonl -r rep) \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
check "compare exits 0 (exit $rc: $(tail -3 "$tmp/err"))" test "$rc" -eq 0
check "2 transports x 2 sizes (the command line's) x 3 patterns x 2 runs = 24 records, + 1 hiccup" \
	test "$(wc -l <"$res")" -eq 25
check "one hiccup record (the machine's floor for the rate runs)" \
	test "$(jq -c 'select(.pattern == "hiccup")' "$res" | wc -l)" -eq 1
jq -c 'select(.pattern != "hiccup")' "$res" >"$tmp/runs.jsonl"
res=$tmp/runs.jsonl
check "only pipe and shm" test "$(jq -r .transport "$res" | sort -u | tr '\n' ' ')" = "pipe shm "
check "sizes from the command line, not the file" \
	test "$(jq -r .params.size "$res" | sort -un | tr '\n' ' ')" = "64 256 "
check "every run lasted the file's 60 ms" \
	test "$(jq -r .params.duration_s "$res" | sort -u)" = "0.06"
check "shm runs carry the file's wait=block" \
	test "$(jq -r 'select(.transport == "shm") | .params.options.wait' "$res" | sort -u)" = block
check "every run passed verification" \
	test "$(jq -r 'select(.verify.lost != 0 or .verify.corrupt != 0) | .transport' "$res" | wc -l)" -eq 0
for t in pipe shm; do
	for s in 64 256; do
		want=$(jq -s --arg t "$t" --argjson s "$s" '
			[.[] | select(.transport == $t and .params.size == $s and .pattern == "stream")
			 | .throughput.msgs_per_s] | sort | (.[0] + .[1]) / 2 * 0.2' "$res")
		got=$(jq -s --arg t "$t" --argjson s "$s" '
			[.[] | select(.transport == $t and .params.size == $s and .pattern == "rate")
			 | .params.rate] | unique | .[]' "$res")
		check "$t $s B: rate $got = 0.2 x median stream msgs/s $want" \
			awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(a > 0 && d * d < 1e-6 * b * b) }'
	done
done
for h in "pingpong, 64 B: p50 round trip, us (merged over 2 runs" \
	"stream, 64 B: messages/s (median of 2 runs" \
	"rate, 64 B at 20% of each transport's stream capacity: p99 latency, us"; do
	check "ranking has '$h'" grep -qF "$h" "$tmp/out"
done
check "ranking has a pipe row" grep -qE '^  =?[12] +pipe +process +[0-9]' "$tmp/out"
check "the fraction is in every rate record" \
	test "$(jq -r 'select(.pattern == "rate") | .params.rate_fraction' "$res" | sort -u)" = 0.2
check "says where the results are" grep -qF "results: r.jsonl (25 records" "$tmp/out"
check "says where the report is" grep -qF "report: rep/report.html" "$tmp/out"
check "report.html written" test -s "$tmp/rep/report.html"
check "summary.csv written" test -s "$tmp/rep/summary.csv"
check "progress on stderr names the points" grep -qF "[1/12 " "$tmp/err"

# The budget: 3 transports x 3 sizes x 3 patterns x 3 runs of 300 ms would take
# about 40 s; a 6 s budget must shorten the runs and drop repetitions.
start=$(date +%s)
"$bin" compare -t pipe,fifo,unix --budget 6s -o "$tmp/b.jsonl" --no-report \
	>"$tmp/bout" 2>"$tmp/berr"
rc=$?
took=$(($(date +%s) - start))
check "budget run exits 0 (exit $rc: $(tail -2 "$tmp/berr"))" test "$rc" -eq 0
check "budget run took $took s: within 6 s + 6 s slack" test "$took" -le 12
check "budget runs are shorter than the default 300 ms" \
	test "$(jq -s '[.[] | select(.pattern != "hiccup") | .params.duration_s | select(. != null)] | max < 0.3' "$tmp/b.jsonl")" = true
check "budget run says what it left out" grep -qE "^budget: [0-9]+ (repetitions|points) left out" "$tmp/bout"
check "--no-report writes no report" lacks "$tmp/bout" '^report:'

# Absolute rates (the default mode): a rate above a transport's measured stream
# capacity is not run for it, and the ranking says so.
"$bin" compare --quick -t pipe -p stream,rate --rates 1k,1G -o "$tmp/a.jsonl" --no-report \
	>"$tmp/aout" 2>"$tmp/aerr"
rc=$?
check "--rates 1G is refused (over 100M) (exit $rc)" test "$rc" -eq 2
"$bin" compare --quick -t pipe -p stream,rate --rates 1k,90M -o "$tmp/a.jsonl" --no-report \
	>"$tmp/aout" 2>"$tmp/aerr"
rc=$?
check "compare --rates 1k,90M exits 0 (exit $rc: $(tail -2 "$tmp/aerr"))" test $rc -eq 0
check "rate runs only at 1k" test "$(jq -r 'select(.pattern == "rate") | .params.rate' "$tmp/a.jsonl" | sort -u)" = 1000
check "the 1k rate is ranked" grep -qF "rate, 64 B at 1000 msgs/s: p99 latency" "$tmp/aout"
check "the 90M rate is said to be over the capacity" \
	grep -qE "^  pipe +rate 64 B: not run at 90000000 msgs/s: its stream capacity here was [0-9]+ msgs/s" "$tmp/aout"
expect2 "--rates with --rate-fraction" compare --rates 1k --rate-fraction 0.5

# --faults: the failure matrix of the same selection, into the same file and report.
"$bin" compare --quick -t posix-mq -p pingpong,stream --faults -o "$tmp/f.jsonl" \
	-r "$tmp/frep" >"$tmp/fout" 2>"$tmp/ferr"
rc=$?
check "compare --faults exits 0 (exit $rc: $(tail -2 "$tmp/ferr"))" test "$rc" -eq 0
nf=$(jq -r 'select(.fault) | .transport' "$tmp/f.jsonl" | wc -l)
nr=$(jq -r 'select(.fault | not) | .transport' "$tmp/f.jsonl" | wc -l)
check "2 ordinary records (got $nr) and 4 fault runs (got $nf) in one file" \
	test "$nr.$nf" = 2.4
check "the matrix is printed" grep -q '^| posix-mq | lost' "$tmp/fout"
check "the report has the failure matrix" grep -q '^## Failure matrix$' "$tmp/frep/report.md"
finish
