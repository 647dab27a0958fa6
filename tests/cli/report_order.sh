#!/usr/bin/env bash
# A summary row never contradicts itself (issue 12): in every row of every
# output p50 <= p90 <= p99 <= p99.9 <= p99.99 <= max (and min <= p50), because
# a row's percentiles come from its runs' histograms merged, not from column-
# wise medians mixed with one run's tail. Checked on a real comparison
# (`compare --quick -t pipe,unix,posix-mq --repeat 3`, every pattern): its
# summary.csv, report.md, report.html, baseline.csv and the terminal ranking
# (whose figure must be the summary's), and on the checked-in fixture
# fixtures/pingpong-crossing-medians.jsonl: three real pipe pingpong records
# (ipclab run -t pipe -p pingpong -n 300 -w 50) picked so that the old
# reduction crosses: the median p99 (21.06 us) is above the p99.9 and max
# (8.99 us) of the run whose p50 is the median, which is where the old
# summary took p99.9 and max from.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"
bin=$(realpath "$bin")
fixture=${IPCLAB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/cli/fixtures/pingpong-crossing-medians.jsonl

# csv_ordered FILE: every row of summary.csv in order; prints offenders.
csv_ordered() {
	awk -F, 'NR > 1 {
		n = split($21 "," $6 "," $19 "," $9 "," $10 "," $20 "," $11, v, ",")
		prev = -1
		for (i = 1; i <= n; i++) {
			if (v[i] == "-") continue
			if (v[i] + 0 < prev) { print "csv row " NR ": " $0; bad = 1 }
			prev = v[i] + 0
		}
	} END { exit bad }' "$1"
}
# md_ordered FILE: every row of the "Summary:" tables (after runs and n: p50
# col 6, p90 8, p99 9, p99.9 10, p99.99 11, max 12) in order, and at least one
# row seen.
md_ordered() {
	awk -F'|' '/^## Summary: /{ s = 1; next } /^## /{ s = 0 }
		s && /^\| / && $2 !~ /transport|---/ {
		rows++
		prev = -1
		for (i = 7; i <= 13; i++) {
			if (i == 8) continue
			x = $i; gsub(/ /, "", x)
			if (x == "-") continue
			if (x + 0 < prev) { print "md row: " $0; bad = 1 }
			prev = x + 0
		}
	} END { exit bad || !rows }' "$1"
}
# html_same FILE.md FILE.html: every md summary row is a row of the html too.
html_same() {
	awk -F'|' '/^## Summary: /{ s = 1; next } /^## /{ s = 0 }
		s && /^\| / && $2 !~ /transport|---/ {
		r = ""
		for (i = 2; i < NF; i++) { x = $i; gsub(/^ +| +$/, "", x); r = r "<td>" x "</td>" }
		print r
	}' "$1" | while read -r row; do
		grep -qF "$row" "$2" || { echo "html lacks: $row"; exit 1; }
	done
}

# ---- a real comparison ----------------------------------------------------
res=$tmp/c.jsonl
(cd "$tmp" && "$bin" compare --quick -t pipe,unix,posix-mq --repeat 3 --rates 1k,10k \
	-o c.jsonl -r rep) >"$tmp/out" 2>"$tmp/err"
rc=$?
check "compare exits 0 (exit $rc: $(tail -2 "$tmp/err"))" test $rc -eq 0
check "every record has latency buckets to merge" \
	test "$(jq -r 'select(.latency.count > 0 and (.latency.hist | not)) | .transport' "$res" | wc -l)" -eq 0
check "summary.csv: every row p50 <= p90 <= p99 <= p99.9 <= p99.99 <= max" \
	csv_ordered "$tmp/rep/summary.csv"
check "summary.csv: rows of 3 runs merge all 3" \
	test "$(awk -F, 'NR > 1 && $5 == 3 && $24 != "merged 3"' "$tmp/rep/summary.csv" | wc -l)" -eq 0
check "report.md: every summary row in order" md_ordered "$tmp/rep/report.md"
check "report.html: the same rows as report.md" html_same "$tmp/rep/report.md" "$tmp/rep/report.html"

# The terminal ranking shows the summary's own figure for each point.
for t in pipe unix posix-mq; do
	want=$(awk -F, -v t=$t '$1 == "pingpong" && $2 == t { print $6 }' "$tmp/rep/summary.csv")
	got=$(sed -n '/^pingpong, 64 B/,/^$/p' "$tmp/out" | awk -v t=$t '$2 == t { print $4 }')
	check "terminal pingpong p50 of $t ($got) is summary.csv's ($want)" test "$got" = "$want"
	for r in 1000 10000; do
		want=$(awk -F, -v t=$t -v r=$r '$1 == "rate" && $2 == t && $18 == r { print $9 }' \
			"$tmp/rep/summary.csv")
		got=$(sed -n "/^rate, 64 B at $r msgs\/s/,/^\$/p" "$tmp/out" |
			awk -v t=$t '$2 == t { print $4 }')
		[ -z "$got" ] && got="not run: $(grep -F "$t " "$tmp/out" | grep -F "$r msgs/s")"
		check "terminal rate $r p99 of $t ($got) is summary.csv's ($want)" test "$got" = "$want"
	done
done

# baseline: each row's p50 and p99 lines come from the same merged histogram.
"$bin" report --baseline "$res" "$res" -o "$tmp/base" --csv >/dev/null 2>"$tmp/err"
rc=$?
check "report --baseline exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "baseline.csv: per row, old and new p50 <= p99" awk -F, '
	NR > 1 && $7 == "p50" { k = $1 FS $2 FS $3 FS $4; o[k] = $9; n[k] = $10 }
	NR > 1 && $7 == "p99" { k = $1 FS $2 FS $3 FS $4; seen++
		if ($9 + 0 < o[k] + 0 || $10 + 0 < n[k] + 0) { print; bad = 1 } }
	END { exit bad || !seen }' "$tmp/base/baseline.csv"

# ---- the fixture: column-wise medians would cross -----------------------
check "fixture: 3 records" test "$(wc -l <"$fixture")" -eq 3
old=$(jq -s '(map(.latency.p99) | sort | .[1]) as $p99
	| (map(.latency.p50) | sort | .[1]) as $m
	| (map(select(.latency.p50 == $m)) | .[0].latency.max) as $max
	| $p99 > $max' "$fixture")
check "fixture: median p99 is above the median-p50 run's max (the old crossing)" \
	test "$old" = true
"$bin" report "$fixture" -o "$tmp/fx" --csv --ranking >"$tmp/fxout" 2>"$tmp/err"
rc=$?
check "fixture report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "fixture summary.csv in order" csv_ordered "$tmp/fx/summary.csv"
check "fixture report.md in order" md_ordered "$tmp/fx/report.md"
check "fixture report.html: the same rows" html_same "$tmp/fx/report.md" "$tmp/fx/report.html"
check "fixture percentiles are merged from 3 runs" \
	test "$(awk -F, 'NR == 2 { print $24 }' "$tmp/fx/summary.csv")" = "merged 3"
check "fixture terminal ranking: p50 is summary.csv's" \
	test "$(awk '$2 == "pipe" { print $4 }' "$tmp/fxout")" = \
	"$(awk -F, 'NR == 2 { print $6 }' "$tmp/fx/summary.csv")"
# The max of the merged runs is the largest max of the three.
want=$(jq -s 'map(.latency.max) | max / 1000 * 100 | round / 100' "$fixture")
check "fixture max is the runs' max ($want us)" \
	awk -F, -v w="$want" 'NR == 2 { exit !($11 + 0 == w + 0) }' "$tmp/fx/summary.csv"
finish
