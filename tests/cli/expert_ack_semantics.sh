#!/usr/bin/env bash
# Expert review: loss is judged against what the mechanism acknowledged. A
# standard signal is merged into a pending one; kill() returning 0
# acknowledges nothing, yet the record counts every merged signal as
# "lost_after_ack" (acked_by "send"), which the docs define as a broken
# guarantee. Real run: signal-std stream (it drops almost always).
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

"$bin" run -t signal-std -p stream -n 20000 -w 10 --expect-loss --json -q \
	>"$tmp/s.json" 2>"$tmp/err"
lost=$(jq .verify.lost "$tmp/s.json")
lal=$(jq .verify.lost_after_ack "$tmp/s.json")
echo "signal-std: lost $lost, lost_after_ack $lal, acked_by $(jq -r .verify.acked_by "$tmp/s.json")"
check "signal-std lost messages in this run (lost $lost)" test "$lost" -gt 0
check "none of them counted as lost after an acknowledgement (got $lal)" test "$lal" -eq 0
finish
