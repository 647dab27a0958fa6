#!/usr/bin/env bash
# `ipclab report`: two real runs (pipe and fifo pingpong) into one results file,
# then the report. The p50 in summary.csv and report.md must be exactly the
# results file's p50 (ns -> us, 2 decimals); report.html must exist and, with
# gnuplot installed, hold an inline <svg>; bad input must exit 2.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/results.jsonl
for t in pipe fifo; do
	"$bin" run -t "$t" -p pingpong -n 2000 --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
		{ echo "FAIL: ipclab run -t $t: $(cat "$tmp/err")"; exit 1; }
done
check "two records in the results file" test "$(wc -l <"$res")" -eq 2

out=$tmp/rep
"$bin" report "$res" -o "$out" --csv >"$tmp/stdout" 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "report names its files" grep -q "^report: $out/report.html, $out/report.md$" "$tmp/stdout"
check "report.html exists" test -s "$out/report.html"
check "report.md exists" test -s "$out/report.md"
check "summary.csv exists" test -s "$out/summary.csv"
check "hgrm for pipe" test -s "$out/hgrm/pipe-pingpong-64-1.hgrm"

for t in pipe fifo; do
	ns=$(jq -r --arg t "$t" 'select(.transport == $t) | .latency.p50' "$res")
	n=$(jq -r --arg t "$t" 'select(.transport == $t) | .latency.count' "$res")
	want=$(awk -v v="$ns" 'BEGIN { printf "%.2f", v / 1000 }')
	got=$(awk -F, -v t="$t" '$1 == "pingpong" && $2 == t { print $6 }' "$out/summary.csv")
	check "$t p50 in summary.csv: got '$got', want '$want'" test "$got" = "$want"
	check "$t p50 in report.md is $want" \
		grep -qF "| $t | 64 | process | 1 | $n | $want |" "$out/report.md"
	check "$t p50 in report.html is $want" \
		grep -qF "<td>$t</td><td>64</td><td>process</td><td>1</td><td>$n</td><td>$want</td>" \
		"$out/report.html"
done

if command -v gnuplot >/dev/null; then
	check "report.html has an inline chart" grep -q "<svg" "$out/report.html"
	check "latency chart file" test -s "$out/latency-pingpong-64-kernel.svg"
	check "no XML prolog inside the HTML" lacks "$out/report.html" -F '<?xml'
fi
PATH=/nonexistent "$bin" report "$res" -o "$tmp/nognu" >/dev/null 2>&1
rc=$?
check "report without gnuplot exits 0 (exit $rc)" test "$rc" -eq 0
check "report without gnuplot says so (md)" \
	grep -q "charts skipped: gnuplot not installed" "$tmp/nognu/report.md"
check "report without gnuplot says so (html)" \
	grep -q "charts skipped: gnuplot not installed" "$tmp/nognu/report.html"

printf '%s\n' "$(head -1 "$res")" 'not json' >"$tmp/bad.jsonl"
expect2 "no input files" report -o "$tmp/x"
expect2 "missing file" report "$tmp/nope.jsonl" -o "$tmp/x"
"$bin" report "$tmp/bad.jsonl" -o "$tmp/x" >/dev/null 2>"$tmp/err"
rc=$?
check "a non-JSON line is skipped: exit 0 (got $rc)" test "$rc" -eq 0
check "... named by file and line" grep -q "bad.jsonl:2: skipped: " "$tmp/err"
printf 'not json\n' >"$tmp/bad2.jsonl"
"$bin" report "$tmp/bad2.jsonl" -o "$tmp/x" >/dev/null 2>"$tmp/err"
rc=$?
check "nothing usable left: exit 2 (got $rc)" test "$rc" -eq 2
check "... the skipped line, then the refusal" \
	grep -qF "no usable result records in the given files" "$tmp/err"
touch "$tmp/file"
expect2 "unwritable DIR" report "$res" -o "$tmp/file/sub"

finish
