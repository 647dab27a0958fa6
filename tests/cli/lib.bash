# lib.bash - sourced by the CLI tests (tests/cli/*.sh); not a
# test itself (ctest registers *.sh only). Sets bin (the ipclab binary, the
# script's $1) and tmp (a private directory, removed on exit), and defines:
#   check DESCRIPTION COMMAND...  counts a pass, or prints "FAIL: DESCRIPTION"
#   expect2 DESCRIPTION ARGS...   `ipclab ARGS` must exit 2 with one stderr line
#   lacks FILE GREP-ARGS...       FILE exists and `grep GREP-ARGS FILE` finds
#                                 nothing (exit 1); a missing or unreadable
#                                 FILE fails, where `! grep` would pass
#   finish                        prints the counts; fails if any check failed
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

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

expect2() {
	local what=$1 rc
	shift
	"$bin" "$@" >/dev/null 2>"$tmp/err"
	rc=$?
	check "$what exits 2 (got $rc)" test $rc -eq 2
	check "$what: one line on stderr" test "$(wc -l <"$tmp/err")" -eq 1
}

lacks() {
	local file=$1 rc
	shift
	[ -f "$file" ] || { echo "  ($file does not exist)"; return 1; }
	grep -q "$@" -- "$file"
	rc=$?
	[ "$rc" -eq 1 ]
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
