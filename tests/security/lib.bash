# lib.bash - sourced by tests/security/*.sh (not a test itself: ctest registers
# *.sh only). Brings in tests/cli/lib.bash (bin, tmp, check, finish) and:
#   need_servers KIND...   sets url_<kind> from $IPCLAB_*_URL, or starts own
#                          throwaway servers (`brokers up`, state in $tmp), stopped
#                          on exit; exits 77 when a kind cannot be had
#   secret_of URL          prints the password in URL (the userinfo's)
# shellcheck source=../cli/lib.bash
. "${IPCLAB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/cli/lib.bash"
own_state=
cleanup_security() {
	if [ -n "$own_state" ]; then
		IPCLAB_BROKERS_STATE=$own_state "$bin" brokers down >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup_security EXIT

need_servers() {
	local k env missing=
	for k in "$@"; do
		case $k in
		redis) env=IPCLAB_REDIS_URL ;;
		rabbitmq) env=IPCLAB_AMQP_URL ;;
		postgres) env=IPCLAB_PG_URL ;;
		esac
		[ -n "${!env:-}" ] || missing="$missing $k"
	done
	if [ -n "$missing" ]; then
		own_state=$tmp/state.env
		# shellcheck disable=SC2086
		IPCLAB_BROKERS_STATE=$own_state "$bin" brokers up $missing >/dev/null 2>&1
		eval "$(IPCLAB_BROKERS_STATE=$own_state "$bin" brokers env)"
	fi
	url_redis=${IPCLAB_REDIS_URL:-}
	url_rabbitmq=${IPCLAB_AMQP_URL:-}
	url_postgres=${IPCLAB_PG_URL:-}
	for k in "$@"; do
		v=url_$k
		if [ -z "${!v}" ]; then
			echo "SKIP: no $k server could be started"
			exit 77
		fi
	done
}

secret_of() {
	local u=${1#*://}
	u=${u%@*}
	echo "${u#*:}"
}
