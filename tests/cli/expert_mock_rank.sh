#!/usr/bin/env bash
# Expert review: a mock Kafka (librdkafka's in-process mock cluster) is never
# ranked beside real transports and brokers. Real records from
# `ipclab compare --quick` (pipe, redis-list and kafka-mock pingpong, 64 B):
# the report may show the mock row, but without a rank number or an "x best"
# factor in the ranking (today: "| 3 | kafka | process, mock | ... | 7354.41 |").
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

fx=$(dirname "$0")/fixtures/expert-mock-pingpong.jsonl
"$bin" report "$fx" -o "$tmp/rep" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (rc $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
md=$tmp/rep/report.md
check "the fixture holds a mock kafka record" \
	bash -c "jq -e 'select(.transport==\"kafka\") | .limits.mock' '$fx' >/dev/null"
ranked=$(sed -n '/^## Ranking/,/^## /p' "$md" | grep -E '^\| [0-9]+=? \| kafka \|' || true)
check "no ranked kafka-mock row in report.md (got: $ranked)" test -z "$ranked"
check "the real rows are still ranked" \
	bash -c "sed -n '/^## Ranking/,/^## /p' '$md' | grep -qE '^\| 1 \| pipe \|'"
hranked=$(grep -oE '<td>[0-9]+=?</td><td>kafka</td>' "$tmp/rep/report.html" || true)
check "no ranked kafka-mock row in report.html (got: $hranked)" test -z "$hranked"
finish
