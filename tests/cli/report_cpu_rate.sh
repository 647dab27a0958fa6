#!/usr/bin/env bash
# `ipclab report`: CPU per message and the rate pattern. Real stream runs of
# pipe and fifo and rate runs at two different target rates: the summary's
# "CPU/msg sender (ns)" (before the server's, "-" for these) and receiver column must equal the
# records, the rate summary must show the target rate (params.rate) and the
# achieved msgs/s, rate must be ranked by p99 (lower first), and with gnuplot
# installed the stream CPU chart and the rate latency chart must be drawn.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/results.jsonl
for args in "-t pipe -p stream -n 20000" "-t fifo -p stream -n 20000" \
	"-t pipe -p rate --rate 20000 -d 300ms" "-t fifo -p rate --rate 10000 -d 300ms"; do
	# shellcheck disable=SC2086
	"$bin" run $args --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
		{ echo "FAIL: ipclab run $args: $(cat "$tmp/err")"; exit 1; }
done
check "four records" test "$(wc -l <"$res")" -eq 4
# This test is about the report's CPU and rate columns of clean runs: on a busy
# machine the engine rightly marks a rate run whose sender fell behind
# (late_sender, issue 12), which the ranking would then leave unranked, so the
# flag is taken off here (tests/cli/timing.sh checks the flag itself).
jq -c 'del(.late_sender)' "$res" >"$tmp/clean.jsonl" && mv "$tmp/clean.jsonl" "$res"

out=$tmp/rep
"$bin" report "$res" -o "$out" --csv >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0

# rec PATTERN TRANSPORT JQ-EXPRESSION FORMAT: a record's figure, printed.
rec() {
	jq -r --arg p "$1" --arg t "$2" "select(.pattern == \$p and .transport == \$t) | $3" \
		"$res" | awk -v f="$4" '{ printf f, $1 }'
}
# mdrow PATTERN TRANSPORT: the cells of that row of "Summary: PATTERN", trimmed.
mdrow() {
	sed -n "/^## Summary: $1\$/,/^## /p" "$out/report.md" |
		awk -F'|' -v t="$2" '{ gsub(/ *\| */, "|"); } $2 == t' | sed 's/^|//; s/|$//'
}

for t in pipe fifo; do
	tx=$(rec stream $t .cpu.sender.total_ns_per_msg %.0f)
	rx=$(rec stream $t .cpu.receiver.total_ns_per_msg %.0f)
	row=$(mdrow stream $t)
	check "$t sender CPU is column 18 of report.md (before server CPU): want $tx, row '$row'" \
		test "$(cut -d'|' -f18 <<<"$row")" = "$tx"
	check "$t has no server: column 19 is '-'" test "$(cut -d'|' -f19 <<<"$row")" = -
	check "$t receiver CPU in report.md (column 15): want $rx" \
		test "$(cut -d'|' -f15 <<<"$row")" = "$rx"
	check "$t sender CPU in report.html" \
		grep -qE "<td>$t</td><td>64</td>.*<td>$tx</td><td>-</td><td></td></tr>" "$out/report.html"
	check "$t sender CPU in summary.csv (column 17)" test \
		"$(awk -F, -v t=$t '$1 == "stream" && $2 == t { print $17 }' "$out/summary.csv")" = "$tx"
	check "$t stream has no target rate in summary.csv" test \
		"$(awk -F, -v t=$t '$1 == "stream" && $2 == t { print $18 }' "$out/summary.csv")" = -
done

check "rate summary has target and achieved columns" \
	bash -c "sed -n '/^## Summary: rate/,/^## /p' '$out/report.md' |
		grep -qF '| p99.99 (us) | max (us) | target msgs/s | achieved msgs/s | MB/s |'"
for t in pipe:20000 fifo:10000; do
	ach=$(rec rate "${t%:*}" .throughput.msgs_per_s %.0f)
	row=$(mdrow rate "${t%:*}")
	check "${t%:*} rate row shows target ${t#*:} then achieved $ach: '$row'" \
		bash -c "[[ '|$row|' == *'|${t#*:}|$ach|'* ]]"
	check "${t%:*} target rate in summary.csv" test "$(awk -F, -v t="${t%:*}" \
		'$1 == "rate" && $2 == t { print $18 }' "$out/summary.csv")" = "${t#*:}"
done

# Rate runs at different absolute rates are ranked apart, each by its p99
# (one run: the record's own p99), in us.
for t in pipe:20000 fifo:10000; do
	want=$(rec rate "${t%:*}" .latency.p99 %s | awk '{ printf "%.2f us", $1 / 1000 }')
	check "rate at ${t#*:} msgs/s is ranked by p99: rank 1 is ${t%:*} at $want" \
		bash -c "sed -n '/^### rate, 64 B at ${t#*:} msgs\/s (by p99 latency/,/^#/p' '$out/report.md' |
		grep -qF '| 1 | ${t%:*} | process | $want | - | 1.00 |'"
done

if command -v gnuplot >/dev/null; then
	check "CPU chart file" test -s "$out/cpu-stream-64-kernel.svg"
	check "CPU chart in report.html" \
		grep -q "<figcaption>stream CPU per message by transport, 64 B" "$out/report.html"
	check "CPU chart names both transports" \
		bash -c "grep -q '>pipe<' '$out/cpu-stream-64-kernel.svg' && grep -q '>fifo<' '$out/cpu-stream-64-kernel.svg'"
	check "CPU chart shows sender and receiver" \
		bash -c "grep -q '>sender<' '$out/cpu-stream-64-kernel.svg' && grep -q '>receiver<' '$out/cpu-stream-64-kernel.svg'"
	check "rate latency chart files, one per rate" \
		test -s "$out/latency-rate-64-10000-kernel.svg" -a -s "$out/latency-rate-64-20000-kernel.svg"
	check "CPU chart in report.md" grep -qF "](cpu-stream-64-kernel.svg)" "$out/report.md"
fi

finish
