#!/usr/bin/env bash
# The report's failure matrix: `ipclab faults` on posix-mq and pipe (kill the
# consumer; one message over the limit), then `ipclab report` of those records
# plus an ordinary run. The matrix must hold a row per transport and a column
# per scenario run, each cell naming the lost (after ack + unacked) and duplicated counts of its
# record and the guarantee; the fault runs must stay out of the summaries.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/f.jsonl
"$bin" faults -q -t posix-mq,pipe -S kill-consumer,oversize -n 4000 -o "$res" \
	>"$tmp/matrix" 2>"$tmp/err"
rc=$?
check "faults exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "3 fault records (pipe has no size limit: no oversize run)" test "$(wc -l <"$res")" -eq 3
"$bin" run -t pipe -p pingpong -n 2000 --json -q -o "$res" >/dev/null 2>&1
"$bin" report "$res" -o "$tmp/rep" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
md=$tmp/rep/report.md
check "a failure matrix in report.md" grep -q '^## Failure matrix$' "$md"
check "a failure matrix in report.html" grep -q '<h2>Failure matrix</h2>' "$tmp/rep/report.html"
check "its columns are the scenarios run" \
	grep -qx '| transport | kill-consumer | oversize |' "$md"
for t in posix-mq pipe; do
	rec=$(jq -c --arg t "$t" 'select(.transport == $t and .fault.scenario == "kill-consumer")' "$res")
	want="lost $(jq .fault.lost_after_ack <<<"$rec") acked + $(jq .fault.unacked_missing <<<"$rec") unacked / dup $(jq .fault.duplicated <<<"$rec"), "
	g=$(jq -r .fault.guarantee <<<"$rec")
	row=$(grep "^| $t | lost" "$md")
	check "$t kill-consumer cell starts '$want' (row: $row)" bash -c "[[ '$row' == '| $t | $want'* ]]"
	check "$t kill-consumer cell ends with $g" bash -c "[[ '$row' == *'$g |'* ]]"
	check "the same cell as ipclab faults printed" grep -qF "$(cut -d'|' -f2-3 <<<"$row")" "$tmp/matrix"
done
check "pipe's oversize cell says not run" bash -c "grep '^| pipe | lost' '$md' | grep -q '| - |$'"
check "posix-mq's oversize was refused" bash -c "grep '^| posix-mq | lost' '$md' | grep -q 'refused (EMSGSIZE)'"
check "fault runs stay out of the stream summary" lacks "$md" '^## Summary: stream'
check "the ordinary run is summarised" grep -q '^## Summary: pingpong' "$md"
finish
