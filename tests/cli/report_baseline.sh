#!/usr/bin/env bash
# `ipclab report --baseline OLD NEW`: real pingpong runs (pipe and fifo 3 times,
# unix and tcp once, both roles on one CPU so that p50 is steady) make OLD;
# NEW is OLD with every latency figure of pipe multiplied by 3 (beyond the
# spread), fifo and unix as they were, tcp left out. The hand-scaled figures
# would disagree with the records' histogram buckets, so both files drop the
# buckets (latency.hist) and each row takes all its percentiles from its
# representative run: the run whose p50 is the median. The report must flag pipe
# "slower" with the ratio computed here from the files (same rounding), call
# fifo "within spread", unix "no spread (1 run)", tcp "missing in new", list
# pipe (and only pipe) on stdout, and exit 2 with one line for a bad OLD.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

old=$tmp/old.jsonl new=$tmp/new.jsonl
for t in pipe:3 fifo:3 unix:1 tcp:1; do
	for _ in $(seq "${t#*:}"); do
		"$bin" run -t "${t%:*}" -p pingpong -n 2000 --pin same --json -q -o "$old" \
			>/dev/null 2>"$tmp/err" ||
			{ echo "FAIL: ipclab run -t ${t%:*}: $(cat "$tmp/err")"; exit 1; }
	done
done
check "8 records in OLD" test "$(wc -l <"$old")" -eq 8
jq -c 'del(.latency.hist)' "$old" >"$tmp/o" && mv "$tmp/o" "$old"
jq -c 'select(.transport != "tcp")
	| if .transport == "pipe" then
		.latency |= (with_entries(if (.value | type) == "number" and .key != "count"
			then .value *= 3 else . end)
			| .spectrum |= map([.[0], .[1] * 3]))
	  else . end' "$old" >"$new"
check "7 records in NEW" test "$(wc -l <"$new")" -eq 7

out=$tmp/rep
"$bin" report --baseline "$old" "$new" -o "$out" --csv >"$tmp/stdout" 2>"$tmp/err"
rc=$?
check "report --baseline exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "baseline section in report.md" grep -q "^## Change against baseline$" "$out/report.md"
check "baseline section in report.html" \
	grep -q "<h2>Change against baseline</h2>" "$out/report.html"
check "the answers side by side come right after the answer" \
	test "$(grep '^## ' "$out/report.md" | sed -n 2p)" = "## What to use: baseline and new"
check "the change table comes right after the ranking" \
	test "$(grep '^## ' "$out/report.md" | grep -A1 '^## Ranking$' | sed -n 2p)" = \
	"## Change against baseline"
check "baseline.csv exists" test -s "$out/baseline.csv"

# FIELD of the representative run (the one whose p50 is the median; odd
# counts only) of the pingpong records of transport T in FILE.
median() { # median FILE T JQPATH
	jq -s --arg t "$2" "[.[] | select(.transport == \$t)]
		| (map(.latency.p50) | sort | .[length / 2 | floor]) as \$m
		| map(select(.latency.p50 == \$m)) | .[0] | $3" "$1"
}
# The cells of transport T's row in the md baseline section, "|"-separated,
# trimmed.
row() { # row T
	sed -n '/^## Change against baseline$/,/^## Summary/p' "$out/report.md" |
		awk -F'|' -v t="$1" '{ gsub(/ *\| */, "|"); } $2 == t' |
		sed 's/^|//; s/|$//'
}

for f in p50 p99; do
	o=$(median "$old" pipe ".latency.$f")
	n=$(median "$new" pipe ".latency.$f")
	want=$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f|%.2f|%.2f", o / 1000, n / 1000, n / o }')
	check "pipe $f old|new|ratio in report.md: want $want, row '$(row pipe)'" \
		bash -c "[[ '|$(row pipe)|' == *'|$want|'* ]]"
done
ratio=$(awk -v o="$(median "$old" pipe .latency.p50)" -v n="$(median "$new" pipe .latency.p50)" \
	'BEGIN { printf "%.2f", n / o }')
check "the pipe p50 ratio is about 3 (got $ratio)" test "$ratio" = 3.00
check "pipe is flagged slower in report.md" bash -c "[[ '$(row pipe)' == *'|slower (p50'* ]]"
check "pipe is flagged slower in report.html" \
	grep -qE '<tr class="flag"><td>pipe</td>.*<td>slower \(p50' "$out/report.html"
check "pipe p50 in baseline.csv: ratio $ratio, slower" \
	grep -qE "^pingpong,pipe,64,\"process, same\",3,3,p50,us,[0-9.]+,[0-9.]+,$ratio,.*,slower$" \
	"$out/baseline.csv"
check "fifo is within spread, ratio 1.00" \
	bash -c "[[ '$(row fifo)' == *'|1.00|'*'|within spread' ]]"
check "unix (1 run) has no spread" bash -c "[[ '$(row unix)' == *'|1/1|'*'|no spread (1 run)' ]]"
check "tcp (only in OLD) is missing in new" \
	bash -c "[[ '$(row tcp)' == *'|1/0|'*'|missing in new' ]]"
check "stdout names pipe as slower" grep -qE "^  pingpong 64 B pipe .*: slower \(p50 $ratio" \
	"$tmp/stdout"
check "stdout names nothing else" test "$(grep -c '^  pingpong 64 B ' "$tmp/stdout")" -eq 1
check "stdout still ends with the report line" \
	bash -c "tail -1 '$tmp/stdout' | grep -q '^report: '"

"$bin" report --baseline "$old" "$old" -o "$tmp/same" >"$tmp/stdout" 2>&1
rc=$?
check "same files: exit 0 (exit $rc)" test "$rc" -eq 0
check "same files: no change beyond the spread" \
	grep -q "no change beyond the spread" "$tmp/stdout"

# --min-change: pipe's +200% is beyond the spread but under 500%: a small change.
"$bin" report --baseline "$old" "$new" --min-change 500% -o "$tmp/minc" >"$tmp/stdout" 2>&1
rc=$?
check "--min-change 500%: exit 0 (exit $rc)" test "$rc" -eq 0
check "--min-change 500%: pipe is a small change" \
	bash -c "sed -n '/^## Change against baseline$/,/^## Summary/p' '$tmp/minc/report.md' |
		grep -qE '^\| pipe \|.*\| small change \|$'"
check "--min-change 500%: nothing flagged on stdout" \
	grep -q "no change beyond the spread" "$tmp/stdout"

printf 'not json\n' >"$tmp/bad.jsonl"
: >"$tmp/empty.jsonl"
expect2 "--baseline /nonexistent" report --baseline /nonexistent "$new" -o "$tmp/x"
"$bin" report --baseline "$tmp/bad.jsonl" "$new" -o "$tmp/x" >/dev/null 2>"$tmp/err"
rc=$?
check "--baseline of a non-JSON file exits 2 (got $rc)" test "$rc" -eq 2
check "... naming its line and refusing it" \
	grep -q "bad.jsonl:1: skipped: .*no usable result records in the baseline" \
	<(tr '\n' ' ' <"$tmp/err")
expect2 "--baseline of an empty file" report --baseline "$tmp/empty.jsonl" "$new" -o "$tmp/x"
expect2 "--baseline twice" report --baseline "$old" --baseline "$old" "$new" -o "$tmp/x"
expect2 "--baseline without NEW" report --baseline "$old" -o "$tmp/x"
expect2 "--min-change of a word" report --baseline "$old" "$new" --min-change lots -o "$tmp/x"

finish
