#!/usr/bin/env bash
# Expert review: a test that cannot fail. Many CLI tests check an exit status
# as  check "... ($(cat "$tmp/err"))" test $? -eq 0 : the command substitution
# runs first, so $? is cat's status, never ipclab's, and the check passes
# whatever ipclab returned (bash -c 'false; echo "$(true)$?"' prints 0).
# Capture the status first (rc=$?) and test "$rc".
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

check "the \$(...)-before-\$? pattern really hides a failure" \
	test "$(bash -c 'false; echo "$(true)$?"')" = 0
dir=$(dirname "$0")
bad=$(grep -nE 'check "[^"]*\$\([^)]*\)[^"]*" test \$\?' "$dir"/*.sh | grep -v "^$dir/expert_exit_checks.sh:" || true)
check "no CLI test reads \$? after a command substitution:
$bad" test -z "$bad"
finish
