#!/usr/bin/env bash
# The README's test command: install what is missing, build, start throwaway
# Redis/RabbitMQ/PostgreSQL servers once, run every ctest label (unit, contract,
# broker, fault) in the normal build and again in the ASan+UBSan build, stop
# the servers, and check that nothing was left in /dev/shm, /dev/mqueue, ipcs or
# /tmp. Usage: scripts/test.sh [--no-asan] [ctest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
asan=1
if [ "${1:-}" = --no-asan ]; then asan=0; shift; fi

scripts/bootstrap.sh || exit 1
jobs=$(nproc)

snapshot() {
	{ ls /dev/shm /dev/mqueue "${TMPDIR:-/tmp}" 2>/dev/null | grep '^ipcl-' || true
	  ipcs -q -m 2>/dev/null | awk '/^0x/ {print "ipcs", $2}'; } | sort
}
before=$(snapshot)

build() { # dir, cmake args...
	local dir=$1; shift
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.log" 2>&1 &&
		cmake --build "$dir" -j "$jobs" >>"$dir.log" 2>&1 || { tail -40 "$dir.log"; return 1; }
}
mkdir -p build
echo "== build (build/)"
build build || exit 1

state=$(mktemp -d /tmp/ipcl-brokers-XXXXXX)
export IPCLAB_BROKERS_STATE=$state/state.env
stop_brokers() { ./build/ipclab brokers down >/dev/null 2>&1; rm -rf "$state"; }
trap stop_brokers EXIT
echo "== starting throwaway brokers"
./build/ipclab brokers up || echo "some brokers did not start: their tests will fail"
eval "$(./build/ipclab brokers env)"

status=0
echo "== ctest (build/)"
(cd build && ctest --output-on-failure -j 2 "$@") || status=1
if [ $asan = 1 ]; then
	echo "== build with ASan+UBSan (build-asan/)"
	if build build-asan -DIPCL_ASAN=ON; then
		echo "== ctest (build-asan/)"
		(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 "$@") || status=1
	else
		status=1
	fi
fi
stop_brokers
trap - EXIT

after=$(snapshot)
left=$(comm -13 <(echo "$before") <(echo "$after"))
if [ -n "$left" ]; then
	echo "== LEFT BEHIND by the tests:"
	echo "$left"
	status=1
fi
[ $status = 0 ] && echo "== all tests passed" || echo "== TESTS FAILED"
exit $status
