#!/bin/bash
# delivery.sh - issue 11 through the command line: a size over what a transport
# carries is exit 2 naming the limit; zmq-pubsub's stream loses nothing by
# default and says how it held the producer back; overload=1 is reported as a
# finding; a fault run's summary has a line about the fault; --zero-loss is
# only for the stream pattern.
. "$(dirname "$0")/lib.bash"

expect2 "signal-rt -s 64K" run -t signal-rt -p stream -n 1000 -s 64K -q
check "signal-rt -s 64K names the limit" grep -q "8 bytes" "$tmp/err"
expect2 "--zero-loss with pingpong" run -t udp --zero-loss -q

"$bin" run -t zmq-pubsub -p stream -n 20000 -q --json >"$tmp/ps.json"
rc=$?
check "zmq-pubsub stream exits 0 (exit $rc)" test "$rc" -eq 0
check "zmq-pubsub loses nothing" grep -q '"lost":0,' "$tmp/ps.json"
check "zmq-pubsub says xpub_nodrop" grep -q '"backpressure":"xpub_nodrop"' "$tmp/ps.json"
check "zmq-pubsub has flow control" grep -q '"flow_control":true' "$tmp/ps.json"

"$bin" run -t zmq-pubsub -p stream -n 20000 -q --expect-loss -O overload=1 >"$tmp/ov.txt" 2>&1
rc=$?
check "overload=1 runs (exit $rc)" test "$rc" -eq 0
check "overload=1 has no flow control" grep -q "no flow control" "$tmp/ov.txt"

"$bin" run -t pipe -p stream -n 2000 -q --fault kill-producer@1000 --expect-loss >"$tmp/f.txt" 2>&1
check "fault summary line" grep -Eq "^  fault +kill-producer@1000: .*guarantee" "$tmp/f.txt"
# A fault point beyond a counted run is refused up front (bad_input.sh); a
# timed run can still end before it.
"$bin" run -t pipe -p stream -d 0.3s -q --fault kill-producer@4000000000 >"$tmp/nf.txt" 2>&1
check "unfired fault: why, no guarantee" grep -Eq "^  fault +kill-producer@4000000000: not fired" "$tmp/nf.txt"
check "unfired fault: no guarantee shown" lacks "$tmp/nf.txt" guarantee

"$bin" run -t udp -p stream -n 2000 -q --expect-loss >"$tmp/u.txt" 2>&1
check "udp stream points at --zero-loss" grep -q "zero-loss" "$tmp/u.txt"
finish
