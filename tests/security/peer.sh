#!/usr/bin/env bash
# Another local user must not be able to feed a run (issue 10, item 5). A real
# second user (useradd) runs tests/security/intruder.bash, which connects to
# every loopback TCP listener and sends junk or stays silent, and sends junk
# datagrams to every loopback UDP socket, while ipclab runs tcp, udp and the
# unix socket transports. Every run must end clean (0 corrupt, 0 lost, status
# ok) and the foreign peers must be counted in verify.refused_peers.
#
# Everything runs in a network namespace of its own (unshare -n), so the
# intruder sees and touches only this test's sockets, never another program's
# on the machine. Needs root (useradd, runuser, unshare): exit 77 (skipped)
# otherwise.
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (useradd, runuser, unshare -n)"
	exit 77
fi
if [ -z "${IPCL_PEER_NETNS:-}" ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "SKIP: cannot make a network namespace (unshare -n)"
		exit 77
	fi
	IPCL_PEER_NETNS=1 exec unshare -n bash "$0" "$@"
fi
ip link set lo up || { echo "FAIL: ip link set lo up"; exit 1; }

user=ipclpeer$$
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
ipid=
cleanup() {
	[ -n "$ipid" ] && kill "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
	userdel -r "$user" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
useradd -m -s /bin/bash "$user" || { echo "FAIL: useradd $user"; exit 1; }
pass=0 fail=0

check() {
	local what=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $what"
		fail=$((fail + 1))
	fi
}

# The intruder starts first and keeps going for longer than all the runs.
runuser -u "$user" -- bash -s -- 120 <"$here/intruder.bash" >"$tmp/intruder" 2>&1 &
ipid=$!
sleep 0.5

# run LABEL ARGS...: one ipclab run under attack; its record goes to $tmp/all.
run() {
	local label=$1 rc
	shift
	"$bin" run "$@" -w 100 -d 0.3s --json -q >"$tmp/rec" 2>"$tmp/err"
	rc=$?
	check "$label: exit 0 (got $rc: $(head -c 300 "$tmp/err"))" test $rc -eq 0
	check "$label: status ok, 0 corrupt, 0 lost" \
		jq -e '.status == "ok" and .verify.corrupt == 0 and .verify.lost == 0' "$tmp/rec" >/dev/null
	jq -c --arg l "$label" '{l: $l, t: .transport, r: (.verify.refused_peers // 0)}' \
		"$tmp/rec" >>"$tmp/all"
}

for i in 1 2 3 4 5 6; do
	run "tcp pingpong #$i" -t tcp -p pingpong
	run "tcp stream #$i" -t tcp -p stream
	run "udp pingpong #$i" -t udp -p pingpong
done
run "tcp pingpong, threads" -t tcp -p pingpong --threads
run "rpc tcp pingpong" -t rpc -O net=tcp -p pingpong
run "rpc tcp stream" -t rpc -O net=tcp -p stream
for t in unix unix-seqpacket unix-dgram; do
	run "$t pingpong" -t "$t" -p pingpong
done

kill "$ipid" 2>/dev/null
wait "$ipid" 2>/dev/null
ipid=
# The intruder prints its counts only when it ends by itself; count what it
# did from the refusals instead, and say what it managed if it did print.
cat "$tmp/intruder"
tcp_refused=$(jq -s '[.[] | select(.t == "tcp") | .r] | add' "$tmp/all")
rpc_refused=$(jq -s '[.[] | select(.t == "rpc") | .r] | add' "$tmp/all")
udp_refused=$(jq -s '[.[] | select(.t == "udp") | .r] | add' "$tmp/all")
echo "refused foreign peers: tcp $tcp_refused, udp $udp_refused, rpc $rpc_refused (rpc: only when the intruder won the race)"
jq -c . "$tmp/all"
check "foreign tcp connections reached a consumer and were refused" test "$tcp_refused" -gt 0
check "foreign udp datagrams were refused" test "$udp_refused" -gt 0
check "unix transports: nobody else can reach them" \
	jq -s -e '[.[] | select(.t | startswith("unix")) | .r] | add == 0' "$tmp/all" >/dev/null

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
