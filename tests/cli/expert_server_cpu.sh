#!/usr/bin/env bash
# Expert review: CPU per message includes broker servers. A redis-list stream
# record measured the Redis server's CPU (cpu.server.total_ns_per_msg, ~16 us
# a message, more than both clients together), but no table of report.md and no
# column of summary.csv shows it: a broker looks as cheap as its clients.
# Real records from `ipclab compare --quick` (redis-list and pipe, stream 64 B).
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

fx=$(dirname "$0")/fixtures/expert-server-cpu.jsonl
"$bin" report "$fx" -o "$tmp/rep" --csv >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (rc $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
srv=$(jq -r 'select(.transport=="redis-list") | .cpu.server.total_ns_per_msg | round' "$fx")
check "the fixture carries the server's CPU ($srv ns/msg)" test "$srv" -gt 0
row=$(grep -E '^\| redis-list \| 64 \|' "$tmp/rep/report.md" | head -1)
check "report.md has a server CPU column" bash -c "grep -E '^\| transport' '$tmp/rep/report.md' | grep -qi 'server'"
check "the redis-list row shows $srv ns/msg of server CPU (row: $row)" bash -c "[[ '$row' == *'| $srv |'* ]]"
check "summary.csv has a server CPU column" bash -c "head -1 '$tmp/rep/summary.csv' | grep -qi 'server'"
finish
