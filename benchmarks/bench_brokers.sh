#!/usr/bin/env bash
# Broker speed benchmark (not a test): ipclab's broker transports beside the
# servers' own tools, against the same throwaway servers, in one run:
#   Redis list:  ipclab stream, pipeline 16, 1 producer, 64 B  vs
#                redis-benchmark -t lpush -P 16 -c 1 -d 64
#   Redis 64 KiB: the same at -d 65536 (issue 12: ipclab >= 0.8x), and
#                redis-list CPU per message (sender + receiver) at 64 KiB
#                over 1 KiB (issue 12: at most 6x)
#   Postgres:    ipclab pg-outbox producer rate, 64 B          vs
#                pgbench, 1 client, the same INSERT
#   RabbitMQ:    ipclab producer rate with and without confirms, transient and
#                persistent (compare with the figures in shared BROKERS.md)
# Prints medians over ROUNDS rounds and the ratios.
# Usage: benchmarks/bench_brokers.sh [BUILD_DIR] [ROUNDS]
set -uo pipefail
build=${1:-build}
rounds=${2:-3}
ipclab=$build/ipclab
tmp=$(mktemp -d /tmp/ipcl-bench-XXXXXX)
export IPCLAB_BROKERS_STATE=$tmp/state.env
trap '$ipclab brokers down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
$ipclab brokers up || exit 1
eval "$($ipclab brokers env)"
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
prate() { "$ipclab" run "$@" --json -q 2>/dev/null | jq -r '.throughput.producer_msgs_per_s // 0'; }

# Redis
rport=${IPCLAB_REDIS_URL##*:}
# The throwaway server's secret: redis-cli reads REDISCLI_AUTH; redis-benchmark
# only takes -a (the server is ours, private and gone after this script).
rpass=${IPCLAB_REDIS_URL#redis://:}; rpass=${rpass%@*}
export REDISCLI_AUTH=$rpass
: >"$tmp/rb"; : >"$tmp/ri"
for _ in $(seq "$rounds"); do
	redis-benchmark -h 127.0.0.1 -p "$rport" -a "$rpass" -t lpush -P 16 -c 1 -d 64 -n 200000 -q 2>/dev/null |
		tr '\r' '\n' | awk '/LPUSH:/ {print $2}' | tail -1 >>"$tmp/rb"
	redis-cli -h 127.0.0.1 -p "$rport" del mylist >/dev/null
	prate -t redis-list -p stream -s 64 -n 200000 -O pipeline=16 >>"$tmp/ri"
done
rb=$(med <"$tmp/rb"); ri=$(med <"$tmp/ri")
awk -v b="$rb" -v i="$ri" 'BEGIN {printf "redis LPUSH -P16 -c1 64B   redis-benchmark %9.0f/s  ipclab %9.0f/s  ratio %.2fx\n", b, i, i/b}'

# Redis at 64 KiB: producer rate against redis-benchmark, CPU/msg 64 KiB vs 1 KiB
: >"$tmp/rb64"; : >"$tmp/ri64"; : >"$tmp/c1"; : >"$tmp/c64"
cpu() { "$ipclab" run "$@" --json -q 2>/dev/null | jq -r '(.cpu.sender.total_ns_per_msg // 0) + (.cpu.receiver.total_ns_per_msg // 0)'; }
for _ in $(seq "$rounds"); do
	redis-benchmark -h 127.0.0.1 -p "$rport" -a "$rpass" -t lpush -P 16 -c 1 -d 65536 -n 20000 -q 2>/dev/null |
		tr '\r' '\n' | awk '/LPUSH:/ {print $2}' | tail -1 >>"$tmp/rb64"
	redis-cli -h 127.0.0.1 -p "$rport" del mylist >/dev/null
	prate -t redis-list -p stream -s 65536 -n 20000 -O pipeline=16 >>"$tmp/ri64"
	cpu -t redis-list -p stream -s 1024 -n 20000 -O pipeline=16 >>"$tmp/c1"
	cpu -t redis-list -p stream -s 65536 -n 20000 -O pipeline=16 >>"$tmp/c64"
done
rb=$(med <"$tmp/rb64"); ri=$(med <"$tmp/ri64")
awk -v b="$rb" -v i="$ri" 'BEGIN {printf "redis LPUSH -P16 -c1 64KiB redis-benchmark %9.0f/s  ipclab %9.0f/s  ratio %.2fx (goal >= 0.8x)\n", b, i, i/b}'
c1=$(med <"$tmp/c1"); c64=$(med <"$tmp/c64")
awk -v a="$c1" -v b="$c64" 'BEGIN {printf "redis-list CPU/msg (sender+receiver)  1 KiB %8.0f ns  64 KiB %8.0f ns  ratio %.1fx (goal <= 6x)\n", a, b, b/a}'

# Postgres: pgbench runs the outbox INSERT (64-byte payload, one transaction each)
pg=${IPCLAB_PG_URL#postgresql://}
pinfo=${pg%@*}; puser=${pinfo%%:*}; phost=${pg##*@};
# The throwaway server's secret goes to psql/pgbench through PGPASSWORD only.
[ "$pinfo" != "$puser" ] && export PGPASSWORD=${pinfo#*:}
 pport=${phost#*:}; pport=${pport%%/*}; phost=${phost%%:*}
psql -q -h "$phost" -p "$pport" -U "$puser" postgres -c \
	"CREATE TABLE IF NOT EXISTS ipcl_pgbench (id bigserial primary key, payload bytea not null,
	 created_at timestamptz default now(), processed_at timestamptz)" >/dev/null
echo "INSERT INTO ipcl_pgbench (payload) VALUES (decode(repeat('ab', 64), 'hex'));" >"$tmp/insert.sql"
: >"$tmp/pb"; : >"$tmp/pi"
for _ in $(seq "$rounds"); do
	pgbench -n -c 1 -T 5 -f "$tmp/insert.sql" -h "$phost" -p "$pport" -U "$puser" postgres 2>/dev/null |
		awk '/^tps/ {print $3}' >>"$tmp/pb"
	prate -t pg-outbox -p stream -s 64 -d 5s >>"$tmp/pi"
done
psql -q -h "$phost" -p "$pport" -U "$puser" postgres -c "DROP TABLE ipcl_pgbench" >/dev/null
pb=$(med <"$tmp/pb"); pi=$(med <"$tmp/pi")
awk -v b="$pb" -v i="$pi" 'BEGIN {printf "postgres outbox INSERT 1 client  pgbench %9.0f/s  ipclab %9.0f/s  ratio %.2fx\n", b, i, i/b}'

# RabbitMQ: producer rates
for durable in 0 1; do
	for confirm in none window each; do
		: >"$tmp/q"
		for _ in $(seq "$rounds"); do
			prate -t rabbitmq -p stream -s 64 -d 3s -O durable=$durable -O confirm=$confirm >>"$tmp/q"
		done
		printf "rabbitmq durable=%d confirm=%-6s ipclab producer %9.0f msgs/s\n" "$durable" "$confirm" "$(med <"$tmp/q")"
	done
done
