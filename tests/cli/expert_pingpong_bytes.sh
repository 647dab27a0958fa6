#!/usr/bin/env bash
# Expert review: a figure describes the bytes that travelled. A pingpong round
# trip carries the message both ways, but throughput.mb_per_s is
# round trips/s x size: half the bytes that moved (perf bench sched pipe and
# lmbench lat_pipe count the round trip as one op and claim no bandwidth).
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

"$bin" run -t pipe -p pingpong -n 3000 -w 10 --json -q >"$tmp/p.json" 2>"$tmp/err"
rc=$?
check "run exits 0 (rc $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
ok=$(jq '.throughput as $t | (($t.mb_per_s * 1e6) / ($t.msgs_per_s * .params.size)) | . > 1.9 and . < 2.1' "$tmp/p.json")
check "pingpong MB/s counts both directions of each round trip ($(jq -c .throughput "$tmp/p.json"))" test "$ok" = true
finish
