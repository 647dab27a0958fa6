# intruder.bash SECONDS - another local user attacking ipclab's sockets; run by
# tests/security/peer.sh as that user inside a network namespace of its own, so
# the only sockets it can see are the test's. Not a test itself (ctest
# registers *.sh only).
#
# For SECONDS it reads /proc/net/tcp and /proc/net/udp (readable by anyone) in a
# loop, and at every loopback TCP listener opens one connection that sends junk
# and closes, and one that stays silent (kept open, at most 8 at a time); to
# every unconnected loopback UDP socket it sends one junk datagram. At the end
# it prints "tcp=N udp=M": connections made and datagrams sent.
set -u
end=$((SECONDS + $1))
junk='JUNK-not-a-token-JUNK-not-a-frame-JUNK'
tcp=0 udp=0
silent=()
while ((SECONDS < end)); do
	while read -r _ local rem st _; do
		[[ $st == 0A && $local == 0100007F:* ]] || continue
		port=$((16#${local#*:}))
		if exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then
			printf '%s' "$junk" >&"$fd"
			exec {fd}>&-
			tcp=$((tcp + 1))
		fi 2>/dev/null
		if exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then
			silent+=("$fd")
			tcp=$((tcp + 1))
		fi 2>/dev/null
		while ((${#silent[@]} > 8)); do
			exec {silent[0]}>&-
			silent=("${silent[@]:1}")
		done
	done </proc/net/tcp
	while read -r _ local rem st _; do
		[[ $st == 07 && $local == 0100007F:* && $rem == 00000000:0000 ]] || continue
		port=$((16#${local#*:}))
		printf '%s' "$junk" 2>/dev/null >"/dev/udp/127.0.0.1/$port" && udp=$((udp + 1))
	done </proc/net/udp
done
echo "tcp=$tcp udp=$udp"
