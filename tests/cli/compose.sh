#!/usr/bin/env bash
# docker-compose.yml must be a valid compose file with the four brokers and the
# harness (no engine runs here; `docker-compose config` validates without one).
set -u
src=${IPCLAB_SOURCE_DIR:?}
fails=0
if ! command -v docker-compose >/dev/null; then
	echo "FAIL: docker-compose is not installed (scripts/bootstrap.sh installs it)"
	exit 1
fi
docker-compose -f "$src/docker-compose.yml" config -q || { echo "FAIL: config -q"; fails=$((fails + 1)); }
services=$(docker-compose -f "$src/docker-compose.yml" config --services | sort | tr '\n' ' ')
[ "$services" = "harness kafka postgres rabbitmq redis " ] || { echo "FAIL: services are '$services'"; fails=$((fails + 1)); }
for s in redis rabbitmq postgres kafka; do
	docker-compose -f "$src/docker-compose.yml" config | grep -A30 "^  $s:" | grep -q healthcheck ||
		{ echo "FAIL: $s has no health check"; fails=$((fails + 1)); }
done
[ -f "$src/Dockerfile" ] || { echo "FAIL: no Dockerfile"; fails=$((fails + 1)); }
docker-compose -f "$src/docker-compose.yml" config | grep -q "KAFKA_PROCESS_ROLES: broker,controller" ||
	{ echo "FAIL: kafka is not in KRaft mode"; fails=$((fails + 1)); }
echo "$((7 - fails)) passed, $fails failed"
[ $fails -eq 0 ]
