#!/bin/bash
# Another local user cannot steer ipclab through the brokers state, and a killed
# run leaves no server (issue 10, items 2 and 7). Needs root: it creates two
# users (ipclsecA$$, ipclsecB$$) and removes them on exit; skipped (77) otherwise.
. "$(dirname "$0")/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (useradd, runuser)"; exit 77; }
command -v useradd >/dev/null && command -v runuser >/dev/null || exit 77
ua=ipclsecA$$ ub=ipclsecB$$
cleanup_users() {
	userdel -r "$ua" >/dev/null 2>&1
	userdel -r "$ub" >/dev/null 2>&1
	rm -rf "/tmp/ipclab-brokers-$(id -u "$ub" 2>/dev/null || echo none)" \
		"$tmp"
	cleanup_security
}
trap cleanup_users EXIT
useradd -m "$ua" && useradd -m "$ub" || exit 77
uidb=$(id -u "$ub")
chmod 755 "$tmp"
cp "$bin" "$tmp/ipclab" && chmod 755 "$tmp/ipclab"
as() { local u=$1; shift; runuser -u "$u" -- env -u XDG_RUNTIME_DIR -u IPCLAB_BROKERS_STATE "$@"; }
pwned=/tmp/ipcl-pwned-$$
evil="redis://x'; touch $pwned; '"

# 1. A planted state at B's default path (A made the dir first): refused.
as "$ua" mkdir -m 0777 "/tmp/ipclab-brokers-$uidb"
as "$ua" sh -c "printf '%s\n' \"IPCLAB_REDIS_URL=$evil\" 'IPCLAB_BROKER_redis=1 0 /' > /tmp/ipclab-brokers-$uidb/state.env; chmod 666 /tmp/ipclab-brokers-$uidb/state.env"
as "$ub" "$tmp/ipclab" brokers env >"$tmp/env.out" 2>"$tmp/env.err"
rc=$?
check "planted dir of another user: env refuses (exit 1) (exit $rc)" test "$rc" -eq 1
check "planted dir: nothing printed to eval" test ! -s "$tmp/env.out"
as "$ub" bash -c "eval \"\$('$tmp/ipclab' brokers env 2>/dev/null)\""
check "planted dir: eval ran nothing" test ! -e "$pwned"
as "$ub" "$tmp/ipclab" brokers down >/dev/null 2>&1
rc=$?
check "planted dir: down refuses (exit 1) (exit $rc)" test "$rc" -eq 1
rm -rf "/tmp/ipclab-brokers-$uidb"

# 2. B's own dir, but the file is A's, a symlink, or mode 0644: each refused.
sd=$tmp/b-state
mkdir -m 0700 "$sd" && chown "$ub" "$sd"
printf '%s\n' "IPCLAB_REDIS_URL=redis://127.0.0.1:1" >"$sd/state.env"
for how in owner symlink mode; do
	rm -f "$sd/state.env" "$sd/real.env"
	case $how in
	owner) printf 'x\n' >"$sd/state.env"; chown "$ua" "$sd/state.env"; chmod 600 "$sd/state.env" ;;
	symlink) printf 'x\n' >"$sd/real.env"; chown "$ub" "$sd/real.env"; chmod 600 "$sd/real.env"
		ln -s "$sd/real.env" "$sd/state.env" ;;
	mode) printf 'x\n' >"$sd/state.env"; chown "$ub" "$sd/state.env"; chmod 644 "$sd/state.env" ;;
	esac
	runuser -u "$ub" -- env IPCLAB_BROKERS_STATE="$sd/state.env" "$tmp/ipclab" brokers status >/dev/null 2>&1
	rc=$?
	check "state file with wrong $how refused (exit $rc)" test "$rc" -eq 1
done

# 3. B's own valid state with a URL holding a quote: eval cannot break out.
rm -f "$sd/state.env" "$sd/real.env"
runuser -u "$ub" -- env IPCLAB_BROKERS_STATE="$sd/state.env" "$tmp/ipclab" brokers up redis >/dev/null 2>&1
check "B's brokers up redis" test -s "$sd/state.env"
line=$(grep '^IPCLAB_REDIS_URL=' "$sd/state.env")
sed -i "s|^IPCLAB_REDIS_URL=.*|IPCLAB_REDIS_URL=$evil|" "$sd/state.env"
chown "$ub" "$sd/state.env" && chmod 600 "$sd/state.env"
got=$(runuser -u "$ub" -- env IPCLAB_BROKERS_STATE="$sd/state.env" bash -c \
	"eval \"\$('$tmp/ipclab' brokers env)\"; printf '%s' \"\$IPCLAB_REDIS_URL\"")
check "quote in URL: eval ran nothing" test ! -e "$pwned"
check "quote in URL: exported literally" test "$got" = "$evil"
sed -i "s|^IPCLAB_REDIS_URL=.*|$line|" "$sd/state.env"
runuser -u "$ub" -- env IPCLAB_BROKERS_STATE="$sd/state.env" "$tmp/ipclab" brokers down >/dev/null 2>&1
check "B's brokers down removed its state" test ! -e "$sd/state.env"
rm -f "$pwned"

# 4. SIGKILL of a run that started its own redis-server: none left in seconds.
runuser -u "$ub" -- env -u IPCLAB_REDIS_URL "$tmp/ipclab" run -t redis-list -n 1000 -p stream >/dev/null 2>&1 &
runner=$!
srv=
for _ in $(seq 1 300); do
	srv=$(pgrep -u "$ub" -x redis-server | head -1)
	[ -n "$srv" ] && break
	sleep 0.01
done
check "the run started a redis-server" test -n "$srv"
rpid=$(pgrep -u "$ub" -x ipclab | head -1)
[ -n "$rpid" ] && kill -KILL "$rpid"
kill -KILL "$runner" 2>/dev/null
wait "$runner" 2>/dev/null
for _ in $(seq 1 50); do
	pgrep -u "$ub" -x redis-server >/dev/null || break
	sleep 0.1
done
check "no redis-server of the killed run within 5 s" eval '! pgrep -u "$ub" -x redis-server >/dev/null'
check "its temp dir is gone" eval '! find /tmp -maxdepth 1 -user "$ub" -name "ipcl-redis-*" | grep -q .'
finish
