#!/usr/bin/env bash
# Install what ipclab needs on Debian 12, if it is missing: the compiler and
# CMake, the client libraries its transports use, the broker servers for the
# throwaway instances, and the report and test tools. Runs apt-get as root, or
# through sudo. Idempotent: a machine that has everything installs nothing.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config
	libjansson-dev libcmocka-dev libinih-dev
	libhiredis-dev librabbitmq-dev libpq-dev libzmq3-dev libuv1-dev librdkafka-dev
	libcurl4-openssl-dev libmicrohttpd-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler python3-grpcio python3-protobuf
	redis-server redis-tools rabbitmq-server postgresql postgresql-contrib
	gnuplot-nox jq procps iproute2 docker-compose chromium linux-perf
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
# POSIX message queues are visible in /dev/mqueue only where it is mounted
# (ipclab clean and the tests' leftover checks look there).
if [ ! -d /dev/mqueue ] || ! grep -q ' /dev/mqueue ' /proc/mounts; then
	s=(); [ "$(id -u)" -ne 0 ] && s=(sudo)
	"${s[@]}" mkdir -p /dev/mqueue 2>/dev/null && "${s[@]}" mount -t mqueue none /dev/mqueue 2>/dev/null ||
		echo "bootstrap: could not mount /dev/mqueue (POSIX queues are not listed)" >&2
fi
if [ ${#missing[@]} -eq 0 ]; then
	echo "bootstrap: all ${#pkgs[@]} packages present" >&2
	exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# --no-install-recommends: recommends would pull in a mail server. Package
# scripts must not start the servers: the throwaway instances are our own.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done" >&2
