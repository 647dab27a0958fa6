#!/usr/bin/env bash
# The rate pattern must show a stall, not hide it: a consumer that sleeps 50 ms
# once, in an open-loop run at 10k msgs/s, has to appear in p99.9 (latency is
# measured from the intended send time, so the messages queued behind the stall
# count their wait). A closed-loop measurement would hide all but one sample.
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$bin" run -t pipe -p rate -r 10k -d 2s -w 1000 --fault stall:50ms@8000 --json -q \
	>"$tmp/rec" || { echo "FAIL: the run failed"; cat "$tmp/rec"; exit 1; }
p999=$(jq '.latency.p99_9' "$tmp/rec")
max=$(jq '.latency.max' "$tmp/rec")
lost=$(jq '.verify.lost' "$tmp/rec")
echo "rate 10k/s with a 50 ms consumer stall: p99.9 = $p999 ns, max = $max ns, lost = $lost"
fails=0
[ "$p999" -ge 40000000 ] || { echo "FAIL: p99.9 $p999 ns hides the 50 ms stall"; fails=1; }
[ "$max" -ge 45000000 ] || { echo "FAIL: max $max ns hides the 50 ms stall"; fails=1; }
[ "$lost" -eq 0 ] || { echo "FAIL: $lost messages lost"; fails=1; }
[ "$(jq -r .params.fault "$tmp/rec")" != null ] || { echo "FAIL: the fault is not recorded"; fails=1; }
echo "$((4 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
