#!/usr/bin/env bash
# `ipclab report` does not trust the file it reads (issue 10, item 4): a
# record of another schema or with missing or mistyped fields is skipped with
# one "FILE:LINE: skipped: why" line and gets no report section, and a file
# with nothing usable left is exit 2; a file of fault records only is a
# report; a report that fails leaves the previous one as it was; a pingpong
# record without a spectrum leaves no gnuplot scratch file behind.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/r.jsonl
"$bin" run -t pipe -p pingpong -n 500 --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
	{ echo "FAIL: ipclab run: $(cat "$tmp/err")"; exit 1; }
good=$(head -1 "$res")

# Another tool's record (its transport name would otherwise get a section),
# mistyped and missing fields, between two good records.
{
	echo "$good"
	echo "$good" | jq -c '.schema = "other/1" | .transport = "othertool"'
	echo "$good" | jq -c 'del(.schema) | .transport = "noschema"'
	echo "$good" | jq -c '.params = "big" | .transport = "badparams"'
	echo "$good" | jq -c '.latency.spectrum = [[1], "x"] | .transport = "badspectrum"'
	echo "$good" | jq -c '.pattern = "sideways" | .transport = "badpattern"'
	echo "$good" | jq -c 'del(.transport)'
	echo '{"schema":"ipclab.result/1","transport":7,"pattern":"stream"}'
	echo "$good"
} >"$tmp/mixed.jsonl"
"$bin" report "$tmp/mixed.jsonl" -o "$tmp/m" >/dev/null 2>"$tmp/err"
rc=$?
check "mixed file: exit 0 (got $rc)" test "$rc" -eq 0
check "another schema: named by line" \
	grep -qF "mixed.jsonl:2: skipped: a record of another schema 'other/1'" "$tmp/err"
check "no schema: named by line" grep -qF "mixed.jsonl:3: skipped: no \"schema\"" "$tmp/err"
check "params not an object" grep -qF 'mixed.jsonl:4: skipped: "params" is not an object' "$tmp/err"
check "bad spectrum" grep -qF 'mixed.jsonl:5: skipped: "latency.spectrum"' "$tmp/err"
check "unknown pattern" grep -qF "mixed.jsonl:6: skipped: unknown pattern 'sideways'" "$tmp/err"
check "no transport" grep -qF 'mixed.jsonl:7: skipped: no "transport" string' "$tmp/err"
check "transport not a string" grep -qF 'mixed.jsonl:8: skipped: no "transport" string' "$tmp/err"
check "seven lines skipped, nothing else said" test "$(wc -l <"$tmp/err")" -eq 7
for t in othertool noschema badparams badspectrum badpattern; do
	check "no section or row for '$t'" eval 'lacks "$tmp/m/report.md" "$t" && lacks "$tmp/m/report.html" "$t"'
done
check "the two good records are read" grep -q '^2 records' "$tmp/m/report.md"

# Nothing usable: exit 2 after the skipped lines.
echo "$good" | jq -c '.schema = "other/1"' >"$tmp/other.jsonl"
"$bin" report "$tmp/other.jsonl" -o "$tmp/o" >/dev/null 2>"$tmp/err"
rc=$?
check "only another schema: exit 2 (got $rc)" test "$rc" -eq 2
check "... the line, then the refusal" test "$(wc -l <"$tmp/err")" -eq 2
check "... no report written" test ! -e "$tmp/o/report.md"

# Fault records only (aborted the ASan build before).
"$bin" faults -t pipe -S kill-consumer,stall -n 400 -q -o "$tmp/f.jsonl" >/dev/null 2>&1
echo '{"schema":"ipclab.result/1","transport":"x","pattern":"stream","fault":{}}' >>"$tmp/f.jsonl"
"$bin" report "$tmp/f.jsonl" -o "$tmp/f" >/dev/null 2>"$tmp/err"
rc=$?
check "fault records only: exit 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "... with the failure matrix" grep -q 'kill-consumer' "$tmp/f/report.md"

# A failed report keeps the previous one: writes beyond 8 KiB fail (EFBIG,
# SIGXFSZ ignored), so this report of many records cannot be written.
"$bin" report "$res" -o "$tmp/keep" >/dev/null 2>&1
cp "$tmp/keep/report.md" "$tmp/before.md"
for _ in $(seq 40); do echo "$good"; done >"$tmp/big.jsonl"
(
	trap '' XFSZ
	ulimit -f 8
	exec "$bin" report "$tmp/big.jsonl" -o "$tmp/keep"
) >/dev/null 2>"$tmp/err"
rc=$?
check "a report that cannot be written fails (got $rc: $(cat "$tmp/err"))" test $rc -eq 2
check "... and the previous report.md is as it was" cmp -s "$tmp/before.md" "$tmp/keep/report.md"
check "... no staging directory left" bash -c "! ls -A '$tmp/keep' | grep -q '^\\.'"

# A pingpong record without a spectrum: no scratch script anywhere. The
# charts' scratch lives in the report's staging directory, so a scratch left
# would show as a dot-directory or file in DIR.
echo "$good" | jq -c 'del(.latency.spectrum)' >"$tmp/nospec.jsonl"
before=$(find /tmp -maxdepth 1 -name 'ipclab-report-*' -user "$(id -u)" 2>/dev/null | wc -l)
"$bin" report "$tmp/nospec.jsonl" -o "$tmp/ns" >/dev/null 2>"$tmp/err"
rc=$?
check "no spectrum: exit 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "... nothing but the report in DIR" test "$(ls -A "$tmp/ns" | tr '\n' ' ')" = "hgrm report.html report.md "
after=$(find /tmp -maxdepth 1 -name 'ipclab-report-*' -user "$(id -u)" 2>/dev/null | wc -l)
check "... and no new gnuplot directory in /tmp" test "$after" -le "$before"
finish
