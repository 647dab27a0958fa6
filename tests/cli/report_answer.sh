#!/usr/bin/env bash
# "What to use" (issue 15): real pingpong and stream runs of pipe, fifo and
# unix; the fastest pingpong transport gets a planted loss, and two fault
# records (made from a real stream record) say that one transport lost
# nothing when its consumer was killed and another lost 3 acknowledged
# messages (lost_after_ack, which is what counts where a record has it). The answer must
# come first in report.md, name the clean runner of pingpong as the winner
# with the records' p50 (the flagged one never wins), the transport that lost
# nothing as surviving a consumer crash (the other named as having lost),
# say that no broker-restart run exists and which run would answer it, name
# the command for the rate need it has no records for; with --baseline (the
# unplanted records) the side-by-side table must say the winner changed.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/r.jsonl
for t in pipe fifo unix; do
	for p in "pingpong -n 2000" "stream -n 20000"; do
		# shellcheck disable=SC2086
		"$bin" run -t "$t" -p $p --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
			{ echo "FAIL: ipclab run -t $t -p $p: $(cat "$tmp/err")"; exit 1; }
	done
done
pp() { jq -s -c 'map(select(.pattern == "pingpong")) | sort_by(.latency.p50)' "$res"; }
best=$(pp | jq -r '.[0].transport')
second=$(pp | jq -r '.[1].transport')
p50=$(pp | jq -r '.[1].latency.p50' | awk '{ printf "%.2f", $1 / 1000 }')
jq -c --arg b "$best" 'if .pattern == "pingpong" and .transport == $b
	then .verify.lost = 7 else . end' "$res" >"$tmp/f.jsonl"
# Two kill-consumer records from a real stream record.
jq -c 'select(.pattern == "stream" and .transport == "fifo")
	| .fault = {scenario: "kill-consumer", fired: true, lost: 0, lost_after_ack: 0, duplicated: 0,
	            recovery_ms: 12.4, guarantee: "effectively-once"}' "$res" >>"$tmp/f.jsonl"
jq -c 'select(.pattern == "stream" and .transport == "unix")
	| .fault = {scenario: "kill-consumer", fired: true, lost: 3, lost_after_ack: 3, duplicated: 0,
	            recovery_ms: 3, guarantee: "at-most-once"}' "$res" >>"$tmp/f.jsonl"

"$bin" report "$tmp/f.jsonl" -o "$tmp/rep" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
md=$tmp/rep/report.md
check "the first section is \"What to use\"" test "$(grep -m1 '^## ' "$md")" = "## What to use"
row() { grep -F "| $1 |" "$md" | head -1; }
check "lowest latency: the clean $second wins with p50 $p50 us, not the flagged $best" \
	grep -qF "| $second | p50 $p50 us," <<<"$(row 'Lowest latency, one message in flight')"
check "... and the reason counts the flagged row passed over" \
	grep -qF "1 flagged row passed over" <<<"$(row 'Lowest latency, one message in flight')"
check "the flagged $best is not the runner-up either" \
	bash -c '! cut -d"|" -f3-6 <<<"$1" | grep -qw -- "$2"' _ \
	"$(row 'Lowest latency, one message in flight')" "$best"
tput=$(jq -s -r 'map(select(.pattern == "stream")) | max_by(.throughput.msgs_per_s)
	| "| \(.transport) | \(.throughput.msgs_per_s | floor)"' "$res")
check "highest throughput at 64 B names the records' best stream ($tput)" \
	bash -c 'row=$(grep -F "| Highest throughput, 64 B messages |" "$1")
		n=${2##* }; t=${2%% |*}
		grep -qF "$t | " <<<"$row" &&
		awk -F"|" -v n="$n" "{ split(\$4, a, \" \"); d = a[1] - n; exit !(d >= -1 && d <= 1) }" <<<"$row"' \
	_ "$md" "$tput"
crash=$(row 'Survives a consumer crash without loss')
check "consumer crash: fifo lost nothing and wins" grep -qF "| fifo | lost after ack 0, duplicated 0, recovered in 12 ms" <<<"$crash"
check "consumer crash: unix named as having lost" grep -qF "lost messages: unix" <<<"$crash"
check "broker restart: not measured, and which run would answer it" \
	grep -qF "not measured: no broker-restart fault records" <<<"$(row 'Durable across a broker restart')"
check "no rate records: the command that would answer it" \
	grep -qF "ipclab compare --quick --rates" <<<"$(row 'Lowest tail under a steady load')"
check "related processes only: pipe (its caps say related_only)" \
	grep -qE "^\| Related processes only \(a common parent\) \| pipe" <<<"$(row 'Related processes only (a common parent)')"
check "the same table in report.html" grep -q '<h2>What to use</h2>' "$tmp/rep/report.html"

"$bin" report "$tmp/f.jsonl" --baseline "$res" -o "$tmp/base" >/dev/null 2>"$tmp/err"
rc=$?
check "report --baseline exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
side=$(grep -F "| Lowest latency, one message in flight |" "$tmp/base/report.md" | sed -n 2p)
check "side by side: the winner changed from $best to $second" \
	grep -qF "| winner changed: $best -> $second |" <<<"$side"
check "side by side: a need only the new records answer" \
	grep -qE "^\| Survives a consumer crash without loss \|.*\| now answered: fifo \|$" "$tmp/base/report.md"
finish
