#!/usr/bin/env bash
# Expert review: a fault cell describes the mechanism, not the harness. The
# oversize scenario on posix-mq never reaches mq_send(): ipc/mq/posix.c returns
# IPCL_ETOOBIG from its own length check, so "refused (IPCL_ETOOBIG)" is
# ipclab's answer, not the kernel's (mq_send gives EMSGSIZE). On signal-rt a
# sigval cannot hold more than 8 bytes: there is no mechanism to test, and the
# cell must say so (like pipe's "n/a") instead of claiming "effectively-once".
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

"$bin" run -t posix-mq -p stream -n 3000 -w 10 --fault oversize@1000 --json -q \
	>"$tmp/mq.json" 2>"$tmp/err"
sr=$(jq -r .fault.send_result "$tmp/mq.json")
check "posix-mq oversize fired" test "$(jq -r .fault.fired "$tmp/mq.json")" = true
check "posix-mq oversize: the kernel's answer, EMSGSIZE (got $sr)" test "$sr" = EMSGSIZE
"$bin" faults -q -t signal-rt -S oversize -n 3000 -o "$tmp/f.jsonl" >"$tmp/matrix" 2>"$tmp/err"
cell=$(grep '^| signal-rt' "$tmp/matrix")
check "signal-rt oversize cell claims no guarantee (cell: $cell)" \
	bash -c "! grep -qE 'effectively-once|at-most-once|at-least-once' <<<'$cell'"
finish
