#!/usr/bin/env bash
# `ipclab clean` as root against a second, hostile local user (issue 10, item 1).
# The other user plants a directory whose name would break out of a shell
# command, and leftovers of the exact form ipclab uses but owned by them; root
# has leftovers of its own of the same form. After `ipclab clean`: nothing was
# executed, every entry of the other user is untouched, root's own are gone,
# and a symbolic link inside root's leftover was removed, not followed.
# Needs root (useradd, runuser); otherwise exit 77, which ctest reports as skipped.
set -u
bin=$(realpath "$1")
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (creates a second user with useradd)"
	exit 77
fi
for tool in useradd userdel runuser; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not found"; exit 77; }
done

user=ipcltest$$
base=$(mktemp -d /tmp/ipcl-sectest-XXXXXX)
pass=0 fail=0
cleanup() {
	userdel -r "$user" >/dev/null 2>&1
	cd / && rm -rf -- "$base" "$victim"
	rm -f -- /dev/shm/ipcl-"$dead"-[0-9][ab] /dev/mqueue/ipcl-"$dead"-[0-9][ab]
}
victim=/tmp/ipcl-sectest-victim-$$
dead=
trap cleanup EXIT

check() {
	local what=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $what"
		fail=$((fail + 1))
	fi
}

useradd -m -s /bin/sh "$user" || { echo "FAIL: useradd $user"; exit 1; }
# A pid that no process has: that of a shell that has exited.
dead=$(sh -c 'echo $$')
while kill -0 "$dead" 2>/dev/null; do dead=$(sh -c 'echo $$'); done

# The temp dir the runs use: a private sticky directory, like /tmp.
chmod 1777 "$base"
export TMPDIR=$base
as_user() { runuser -u "$user" -- env TMPDIR="$base" "$@"; }

# A file name cannot hold a '/': the planted command works relative to the
# directory clean runs in (the old `rm -rf -- '%s'` through system() ran it).
evil="$base/ipcl-$dead-x'; touch pwned-$$; '"
theirs="$base/ipcl-$dead-0a-AbC123"
mine="$base/ipcl-$dead-1a-XyZ789"
as_user mkdir "$evil" "$theirs" || { echo "FAIL: $user cannot create dirs"; exit 1; }
as_user touch "$theirs/fifo" /dev/shm/ipcl-"$dead"-0a /dev/mqueue/ipcl-"$dead"-0b
mkdir -m 0700 "$mine" "$mine/sub"
echo keep >"$victim"
ln -s "$victim" "$mine/link"
ln -s "$victim" "$mine/sub/link"
touch "$mine/sock" /dev/shm/ipcl-"$dead"-1a /dev/mqueue/ipcl-"$dead"-1b
# Names that are not ipclab's, though they start like one, stay too.
mkdir -m 0700 "$base/ipcl-$dead-2a" "$base/ipcl-redis-AbC123"

cd "$base" || exit 1
"$bin" clean --dry-run >"$base/dry.out" 2>&1
check "dry run names root's leftover" grep -qF "would remove $mine" "$base/dry.out"
check "dry run removes nothing" test -d "$mine"

"$bin" clean >"$base/clean.out" 2>&1
rc=$?
cat "$base/clean.out"
check "clean exits 0 (got $rc)" test $rc -eq 0
check "nothing was executed from a file name" test ! -e "$base/pwned-$$"
check "the planted dir is untouched" test -d "$evil"
check "the other user's run dir is untouched" test -e "$theirs/fifo"
check "the other user's shm object is untouched" test -e /dev/shm/ipcl-"$dead"-0a
check "the other user's message queue is untouched" test -e /dev/mqueue/ipcl-"$dead"-0b
check "root's own run dir is removed" test ! -e "$mine"
check "root's own shm object is removed" test ! -e /dev/shm/ipcl-"$dead"-1a
check "root's own message queue is removed" test ! -e /dev/mqueue/ipcl-"$dead"-1b
check "a symlink in it was removed, not followed" grep -qx keep "$victim"
check "a name not of ipclab's form stays" test -d "$base/ipcl-$dead-2a"
check "a throwaway server's dir stays" test -d "$base/ipcl-redis-AbC123"
check "clean does not name the other user's entries" \
	sh -c "! grep -F -e \"-0a\" -e \"-0b\" -e \"x'\" '$base/clean.out'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
