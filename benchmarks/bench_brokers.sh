#!/usr/bin/env bash
# Broker speed benchmark (not a test): ipclab's broker producers beside the
# servers' own tools, against the same throwaway servers, in one run. ipclab
# runs with --producer-only (the consumer starts after the producer ends, then
# drains and verifies), because the tools only produce: like with like.
#   Redis list:  ipclab stream, pipeline 16, 1 producer, 64 B  vs
#                redis-benchmark -t lpush -P 16 -c 1 -d 64
#   Redis 64 KiB: the same at -d 65536 (issue 12: ipclab >= 0.8x), and
#                redis-list CPU per message (sender + receiver) at 64 KiB
#                over 1 KiB (issue 12: at most 6x)
#   Postgres:    ipclab pg-outbox producer rate, 64 B          vs
#                pgbench -M prepared, 1 client, the same INSERT into a table of
#                the outbox's shape (with its NOTIFY trigger)
#   RabbitMQ:    ipclab producer, no confirms, transient and persistent, vs
#                amqp-publish -l (librabbitmq's amqp-tools: one message per
#                stdin line) into a queue of the same durability; where
#                amqp-tools are missing, only ipclab's rates are printed
#                (compare them with shared BROKERS.md)
# Prints medians over ROUNDS rounds and the ratios ipclab/tool.
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
# The producer's rate of a --producer-only stream run (0 when it failed).
prate() {
	"$ipclab" run "$@" --producer-only --json -q 2>/dev/null |
		jq -r 'if .status == "ok" and .verify.lost == 0 then .throughput.producer_msgs_per_s else 0 end'
}

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
	REDISCLI_AUTH=$rpass redis-cli -h 127.0.0.1 -p "$rport" del mylist >/dev/null
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
psql -q -h "$phost" -p "$pport" -U "$puser" postgres >/dev/null <<'EOSQL'
CREATE TABLE IF NOT EXISTS ipcl_pgbench (id bigserial PRIMARY KEY, payload bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), processed_at timestamptz);
CREATE OR REPLACE FUNCTION ipcl_pgbench_notify() RETURNS trigger LANGUAGE plpgsql
  AS $f$BEGIN PERFORM pg_notify('ipcl_pgbench', ''); RETURN NULL; END$f$;
DROP TRIGGER IF EXISTS ipcl_pgbench_notify ON ipcl_pgbench;
CREATE TRIGGER ipcl_pgbench_notify AFTER INSERT ON ipcl_pgbench
  FOR EACH STATEMENT EXECUTE FUNCTION ipcl_pgbench_notify();
EOSQL
echo "INSERT INTO ipcl_pgbench (payload) VALUES (decode(repeat('ab', 64), 'hex'));" >"$tmp/insert.sql"
: >"$tmp/pb"; : >"$tmp/pi"
for _ in $(seq "$rounds"); do
	pgbench -n -M prepared -c 1 -T 5 -f "$tmp/insert.sql" -h "$phost" -p "$pport" -U "$puser" postgres 2>/dev/null |
		awk '/^tps/ {print $3}' >>"$tmp/pb"
	prate -t pg-outbox -p stream -s 64 -d 5s >>"$tmp/pi"
done
psql -q -h "$phost" -p "$pport" -U "$puser" postgres -c "DROP TABLE ipcl_pgbench; DROP FUNCTION ipcl_pgbench_notify()" >/dev/null
pb=$(med <"$tmp/pb"); pi=$(med <"$tmp/pi")
awk -v b="$pb" -v i="$pi" 'BEGIN {printf "postgres outbox INSERT 1 client  pgbench %9.0f/s  ipclab %9.0f/s  ratio %.2fx\n", b, i, i/b}'

# RabbitMQ: publisher rates, no confirms (amqp-publish has none), 64 B bodies.
n=100000
awk -v n=$n 'BEGIN {l = sprintf("%63s", ""); gsub(/ /, "m", l); for (i = 0; i < n; i++) print l}' >"$tmp/lines"
tool=$(command -v amqp-publish || true)
amqp=${IPCLAB_AMQP_URL%/} # librabbitmq reads a trailing "/" as the vhost ""
for durable in 0 1; do
	: >"$tmp/qb"; : >"$tmp/qi"
	for _ in $(seq "$rounds"); do
		if [ -n "$tool" ]; then
			q=ipcl-bench-$$-$durable
			dflag=(); pflag=()
			[ "$durable" = 1 ] && dflag=(-d) && pflag=(-p)
			amqp-declare-queue -u "$amqp" -q "$q" "${dflag[@]}" >/dev/null
			t0=$(date +%s.%N)
			amqp-publish -u "$amqp" -r "$q" -l "${pflag[@]}" <"$tmp/lines"
			t1=$(date +%s.%N)
			amqp-delete-queue -u "$amqp" -q "$q" >/dev/null
			awk -v n=$n -v a="$t0" -v b="$t1" 'BEGIN {print n / (b - a)}' >>"$tmp/qb"
		fi
		prate -t rabbitmq -p stream -s 64 -n $n -O durable=$durable -O confirm=none >>"$tmp/qi"
	done
	qi=$(med <"$tmp/qi")
	if [ -n "$tool" ]; then
		qb=$(med <"$tmp/qb")
		awk -v d=$durable -v b="$qb" -v i="$qi" 'BEGIN {printf "rabbitmq durable=%d no confirms  amqp-publish %9.0f/s  ipclab %9.0f/s  ratio %.2fx\n", d, b, i, i/b}'
	else
		printf "rabbitmq durable=%d no confirms  ipclab %9.0f msgs/s (amqp-tools not installed: compare with BROKERS.md)\n" "$durable" "$qi"
	fi
done
