#!/usr/bin/env bash
# Expert review: a test that cannot fail. Many CLI tests checked an exit status
# as  check "... ($(cat "$tmp/err"))" test $? -eq 0 : the command substitution
# runs first, so $? is cat's status, never ipclab's, and the check passes
# whatever ipclab returned (bash -c 'false; echo "$(true)$?"' prints 0).
# Capture the status first (rc=$?) and test "$rc".
#
# The lint below reads every statement of tests/cli/*.sh, tests/security/*.sh
# and their lib.bash files (continuation lines joined) that runs `check`, and
# flags any $? or ${?} that comes after a command substitution, $(...) or
# `...`, in that statement: in the description, in an argument, in an
# assignment before it on the same line. Arithmetic $((...)) leaves $? alone
# and is not flagged. It is first run on known-bad and known-good samples, so
# that a lint which flags nothing cannot pass.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

# status_lint FILE...: prints FILE:LINE: STATEMENT for each offender.
status_lint() {
	awk '
	function flush(   s, i, c, n, sub1, seen) {
		if (stmt == "") return
		s = stmt
		stmt = ""
		if (s ~ /^[ \t]*#/) return
		if (s !~ /(^|[ \t;&|({])check[ \t]/) return
		seen = 0
		n = length(s)
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (c == "\\") { i++; continue }
			if (c == "`") { seen = 1; continue }
			if (c != "$") continue
			sub1 = substr(s, i + 1, 2)
			if (substr(sub1, 1, 1) == "(" && sub1 != "((") seen = 1
			else if (seen && (substr(sub1, 1, 1) == "?" || substr(s, i + 1, 3) == "{?}")) {
				print FILENAME ":" start ": " s
				return
			}
		}
	}
	FNR == 1 { flush(); delim = "" }
	delim != "" {
		t = $0
		if (dash) sub(/^\t+/, "", t)
		if (t == delim) delim = ""
		next
	}
	{
		if (stmt == "") start = FNR
		line = $0
		if (line ~ /\\$/) { stmt = stmt substr(line, 1, length(line) - 1) " "; next }
		stmt = stmt line
		# A here-document: its body is data, not statements.
		if (match(stmt, /(^|[^<])<<-?[ \t]*["\047]?[A-Za-z_][A-Za-z_0-9]*/)) {
			h = substr(stmt, RSTART, RLENGTH)
			sub(/^[^<]?<</, "", h)
			dash = (h ~ /^-/)
			sub(/^-?[ \t]*["\047]?/, "", h)
			delim = h
		}
		flush()
	}
	END { flush() }' "$@"
}

demo='false; echo "$(true)$?"'
check "the \$(...)-before-\$? pattern really hides a failure" test "$(bash -c "$demo")" = 0

# Known-bad samples: each must be flagged (one per statement).
cat >"$tmp/bad.sh" <<'EOF'
check "report exits 0 ($(cat "$tmp/err"))" test $? -eq 0
	check "--only ($(cat "$tmp/err2"))" test $? -eq 0
check "compare exits 0 ($(tail -2 "$tmp/err"))" \
	test $? -eq 0
check "x" test "$(wc -l <"$f")" -eq 1 -a $? -eq 0
check "x `cat "$tmp/err"`" test $? -eq 0
check "x ($(cat "$tmp/err"))" test ${?} -eq 0
n=$(cat "$f"); check "x" test $? -eq 0
check "$t: $(jq -r .x "$f")" [ $? = 0 ]
[ -n "$x" ] && check "y $(head -c 300 "$tmp/err")" \
	test \
	$? -eq 2
EOF
# Known-good samples: none may be flagged.
cat >"$tmp/good.sh" <<'EOF'
"$bin" report "$res" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
"$bin" run -t pipe -q
check "run exits 0" test $? -eq 0
check "run $((n + 1)) exits 0" test $? -eq 0
# check "x ($(cat "$tmp/err"))" test $? -eq 0
echo "$(true) $?"
checkout "$(cat f)" $?
EOF
got=$(status_lint "$tmp/bad.sh" | wc -l)
check "the lint flags all 9 known-bad statements (flagged $got:
$(status_lint "$tmp/bad.sh"))" test "$got" -eq 9
good=$(status_lint "$tmp/good.sh")
check "the lint flags no known-good statement:
$good" test -z "$good"

dir=$(dirname "$0")
bad=$(status_lint "$dir"/*.sh "$dir"/lib.bash "$dir"/../security/*.sh "$dir"/../security/*.bash)
check "no CLI or security test reads \$? after a command substitution:
$bad" test -z "$bad"
finish
