#!/usr/bin/env bash
# The README's main command: install what is missing, build, start throwaway
# Redis/RabbitMQ/PostgreSQL servers, run the default head-to-head comparison of
# every transport plus the failure matrix (which also writes the report:
# Markdown and HTML), stop the servers. Usage: scripts/run.sh [--quick] [compare options...]
# Output: results/compare-TIME.jsonl and report/report.{md,html}.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

scripts/bootstrap.sh || exit 1
echo "== build (build/)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.log 2>&1 &&
	cmake --build build -j "$(nproc)" >>build.log 2>&1 || { tail -40 build.log; exit 1; }

state=$(mktemp -d /tmp/ipcl-brokers-XXXXXX)
export IPCLAB_BROKERS_STATE=$state/state.env
cleanup() { ./build/ipclab brokers down >/dev/null 2>&1; rm -rf "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "== starting throwaway brokers (RabbitMQ takes a few seconds)" >&2
./build/ipclab brokers up || echo "some brokers did not start: their transports are skipped" >&2
eval "$(./build/ipclab brokers env)"

mkdir -p results
out=results/compare-$(date +%Y%m%d-%H%M%S).jsonl
echo "== ipclab compare $* -> $out, report/" >&2
./build/ipclab compare --faults -o "$out" -r report "$@"
status=$?
echo
echo "results: $out"
echo "report:  $(pwd)/report/report.html and report/report.md"
exit $status
