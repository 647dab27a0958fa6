#!/bin/bash
# Every throwaway server refuses a connection without its per-instance secret
# (issue 10, item 3): Redis without AUTH or with a wrong password, RabbitMQ as
# guest/guest or with a wrong password, PostgreSQL without a password (no .pgpass,
# no PGPASSWORD). The right URL works (the control).
. "$(dirname "$0")/lib.bash"
need_servers redis rabbitmq postgres
export HOME=$tmp
unset PGPASSWORD PGPASSFILE

runs() { "$bin" run -t "$1" -n 20 -O url="$2" >/dev/null 2>&1; }
runs_pg() { "$bin" run -t pg-outbox -n 20 -O url="$1" >/dev/null 2>&1; }

hp_redis=${url_redis##*@}
hp_amqp=${url_rabbitmq##*@}
hp_pg=${url_postgres##*@}
check "redis: own URL works" runs redis-list "$url_redis"
check "redis: no password refused" eval '! runs redis-list "redis://$hp_redis"'
check "redis: wrong password refused" eval '! runs redis-list "redis://:wrong@$hp_redis"'
check "rabbitmq: own URL works" runs rabbitmq "$url_rabbitmq"
check "rabbitmq: guest refused" eval '! runs rabbitmq "amqp://guest:guest@$hp_amqp"'
check "rabbitmq: wrong password refused" eval '! runs rabbitmq "amqp://ipcl:wrong@$hp_amqp"'
check "postgres: own URL works" runs_pg "$url_postgres"
check "postgres: no password refused" eval '! runs_pg "postgresql://postgres@$hp_pg"'
check "postgres: wrong password refused" eval '! runs_pg "postgresql://postgres:wrong@$hp_pg"'
finish
