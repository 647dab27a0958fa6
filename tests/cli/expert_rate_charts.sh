#!/usr/bin/env bash
# Expert review: one latency chart per rate. Two real pipe rate runs (500 and
# 2000 msgs/s, 64 B): report/charts.c names every rate chart
# latency-rate-64.svg, so the second overwrites the first and report.md links
# the same picture twice under the same title, neither saying its rate.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

if ! command -v gnuplot >/dev/null; then
	echo "gnuplot absent: no charts to check"
	finish
	exit
fi
res=$tmp/r.jsonl
for r in 500 2000; do
	"$bin" run -t pipe -p rate -r $r -d 0.1s -w 10 -q -o "$res" >/dev/null 2>&1
done
check "two rate records" test "$(wc -l <"$res")" -eq 2
"$bin" report "$res" -o "$tmp/rep" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (rc $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
links=$(grep -oE '\]\(latency-rate[^)]*\.svg\)' "$tmp/rep/report.md" | sort -u | wc -l)
check "two distinct rate latency charts linked (got $links)" test "$links" -eq 2
check "two rate chart files written" test "$(ls "$tmp/rep" | grep -c '^latency-rate.*\.svg$')" -eq 2
check "each rate chart's title names its rate" \
	bash -c "grep -E '^!\[rate' '$tmp/rep/report.md' | grep -c 'msgs/s' | grep -qx 2"
finish
