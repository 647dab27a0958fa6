#!/usr/bin/env bash
# Speed benchmark (not a test): each ipclab transport beside the bare reference
# loop of the same mechanism, measured in the same run, interleaved, with the
# same CPU placement; prints the median p50 of each over ROUNDS rounds and the
# ratio ipclab/bare. Usage: benchmarks/bench.sh [BUILD_DIR] [ROUNDS] [PLACEMENT]
# PLACEMENT is a CPU pair like 0,0 (both on one CPU, default) or 0,1.
set -uo pipefail
build=${1:-build}
rounds=${2:-5}
cpus=${3:-0,0}
n=20000
ipclab=$build/ipclab
bare=$build/benchmarks
tmp=$(mktemp -d /tmp/ipcl-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# label | bare command (prints one JSON line with p50_ns) | ipclab run arguments
cases=$(
	cat <<EOF2
pipe 64B|$bare/bare_pipe -s 64 -n $n -c $cpus|-t pipe -s 64
pipe 4K|$bare/bare_pipe -s 4096 -n $n -c $cpus|-t pipe -s 4K
unix 64B|$bare/bare_socket -m unix -s 64 -n $n -c $cpus|-t unix -s 64
tcp 64B|$bare/bare_socket -m tcp -s 64 -n $n -c $cpus|-t tcp -s 64
posix-mq 64B|$bare/bare_mq -m posix -s 64 -n $n -c $cpus|-t posix-mq -s 64
sysv-mq 64B|$bare/bare_mq -m sysv -s 64 -n $n -c $cpus|-t sysv-mq -s 64
signal-rt|$bare/bare_signal -s 8 -n $n -c $cpus|-t signal-rt -s 64
unix-dgram 64B|$bare/bare_dgram -m dgram -s 64 -n $n -c $cpus|-t unix-dgram -s 64
unix-seqpacket 64B|$bare/bare_dgram -m seqpacket -s 64 -n $n -c $cpus|-t unix-seqpacket -s 64
udp 64B|$bare/bare_dgram -m udp -s 64 -n $n -c $cpus|-t udp -s 64
shm spin vs atomic floor|$bare/bare_shm -m atomic -n $n -c 0,1|-t shm -s 64 -O wait=spin --cpus 0,1
shm block vs futex floor|$bare/bare_shm -m futex -n $n -c $cpus|-t shm -s 64 -O wait=block
EOF2
)

med() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

printf "%-28s %12s %12s %8s   (median p50 of %d rounds, %d round trips each, cpus %s)\n" \
	case "bare us" "ipclab us" ratio "$rounds" "$n" "$cpus"
while IFS='|' read -r label barecmd args; do
	bin=${barecmd%% *}
	[ -x "$bin" ] || { printf "%-28s (no %s)\n" "$label" "$bin"; continue; }
	pin=(--cpus "$cpus")
	[[ $args == *--cpus* ]] && pin=()
	: >"$tmp/b"; : >"$tmp/i"
	for _ in $(seq "$rounds"); do
		$barecmd 2>/dev/null | jq -r .p50_ns >>"$tmp/b"
		# shellcheck disable=SC2086
		"$ipclab" run $args -n $n -w 1000 "${pin[@]}" --json -q 2>/dev/null |
			jq -r '.latency.p50 // empty' >>"$tmp/i"
	done
	b=$(med <"$tmp/b"); i=$(med <"$tmp/i")
	if [ "$b" = nan ] || [ "$i" = nan ] || [ -z "$i" ]; then
		printf "%-28s %12s %12s %8s\n" "$label" "$b" "$i" "-"
		continue
	fi
	awk -v l="$label" -v b="$b" -v i="$i" 'BEGIN {printf "%-28s %12.2f %12.2f %7.2fx\n", l, b/1000, i/1000, i/b}'
done <<<"$cases"

# ipclab against ipclab: a ratio of two p50s of this same run.
# $1 label, $2 and $3 ipclab run arguments (numerator, denominator).
pair() {
	: >"$tmp/a"; : >"$tmp/d"
	for _ in $(seq "$rounds"); do
		# shellcheck disable=SC2086
		"$ipclab" run $2 -n $n -w 1000 --json -q 2>/dev/null | jq -r '.latency.p50 // empty' >>"$tmp/a"
		# shellcheck disable=SC2086
		"$ipclab" run $3 -n $n -w 1000 --json -q 2>/dev/null | jq -r '.latency.p50 // empty' >>"$tmp/d"
	done
	a=$(med <"$tmp/a"); d=$(med <"$tmp/d")
	awk -v l="$1" -v a="$a" -v d="$d" 'BEGIN {printf "%-28s %12.2f %12.2f %7.2fx  (p50 us: second / first)\n", l, d/1000, a/1000, a/d}'
}
# Zero copy: shm-loan's 64 KiB round trip against its 64 B one (sampled verify).
pair "shm-loan 64K / 64B spin" "-t shm-loan -s 64K --verify sample -O wait=spin --cpus 0,1" \
	"-t shm-loan -s 64 --verify sample -O wait=spin --cpus 0,1"
pair "shm 64K / 64B spin (copy)" "-t shm -s 64K --verify sample -O wait=spin --cpus 0,1" \
	"-t shm -s 64 --verify sample -O wait=spin --cpus 0,1"
# Both roles on one CPU: wait=spin (yields there) against the default hybrid.
pair "shm spin / hybrid, one CPU" "-t shm -s 64 -O wait=spin --cpus 0,0" "-t shm -s 64 --cpus 0,0"

# shm stream bandwidth against single-thread memcpy, 64 KiB messages.
if [ -x "$bare/bare_shm" ]; then
	for v in "shm full" "shm sample" "shm-loan sample"; do
		: >"$tmp/m"; : >"$tmp/s"
		for _ in $(seq "$rounds"); do
			"$bare/bare_shm" -m memcpy -s 65536 2>/dev/null | jq -r .bytes_per_s >>"$tmp/m"
			"$ipclab" run -t "${v% *}" --verify "${v#* }" -p stream -s 64K -n 20000 -O wait=spin --cpus 0,1 --json -q 2>/dev/null |
				jq -r '.throughput.mb_per_s * 1e6' >>"$tmp/s"
		done
		m=$(med <"$tmp/m"); s=$(med <"$tmp/s")
		awk -v l="$v" -v m="$m" -v s="$s" 'BEGIN {printf "%-28s %9.0f MB/s %9.0f MB/s %7.2fx  (stream 64K vs memcpy)\n", "stream 64K " l, m/1e6, s/1e6, s/m}'
	done
fi
