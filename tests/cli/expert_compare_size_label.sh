#!/usr/bin/env bash
# Expert review: a figure names the size that really travelled. signal-rt
# carries 8 bytes (a sigval; its records say "size": 8), but compare's
# "not ranked" list labels its stream point "stream 64 B" (cli/rank.c prints
# the planned point's size, not the run's).
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

bin=$(realpath "$bin")
cd "$tmp" || exit 1
"$bin" compare --quick -t signal-rt -p stream -o "$tmp/c.jsonl" -r "$tmp/rep" \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
check "compare exits 0 (rc $rc: $(tail -1 "$tmp/err"))" test "$rc" -eq 0
check "the run was 8 bytes" test "$(jq -s '[.[] | select(.transport=="signal-rt") | .params.size] | unique' "$tmp/c.jsonl" | jq -c .)" = "[8]"
bad=$(grep -E 'signal-rt .* 64 B' "$tmp/out" || true)
check "no signal-rt line claims 64 B (got: $bad)" test -z "$bad"
finish
