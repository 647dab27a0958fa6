#!/usr/bin/env bash
# Expert review: the machine's noise floor is shown next to the figures it
# qualifies. `ipclab compare` writes a hiccup record (a bare paced loop), but
# `ipclab report` drops it (report/read.c) and prints no noise floor, so a
# reader cannot tell the transport from the machine. Real records: a
# unix-dgram rate run at 1000 msgs/s and compare's hiccup record (p99 28.86 us).
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

fx=$(dirname "$0")/fixtures/expert-hiccup.jsonl
"$bin" report "$fx" -o "$tmp/rep" --csv >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (rc $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
md=$tmp/rep/report.md
p99=$(jq -r 'select(.pattern=="hiccup") | .latency.p99 / 1000 | . * 100 | round / 100' "$fx")
check "report.md names the hiccup meter / noise floor" grep -qiE 'hiccup|noise floor' "$md"
check "report.md shows the hiccup p99 ($p99 us)" grep -qF "$p99" "$md"
check "report.html shows the hiccup p99 ($p99 us)" grep -qF "$p99" "$tmp/rep/report.html"
finish
