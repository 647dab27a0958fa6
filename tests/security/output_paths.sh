#!/bin/bash
# Output paths in a directory another user controls (DESIGN: "Files in shared
# dirs are opened with O_NOFOLLOW and owner/mode checked"). A second user makes
# the report directory root is about to use (/tmp/NAME, mode 0777, theirs) and
# plants report.md, report.html and hgrm/ as symbolic links to a root-only file;
# and plants a dangling link at the name given to `run -o`. Today
# `ipclab report -o DIR` follows report.md and overwrites the root-only file
# with the report (exit 0), and `run -o` creates the link's target as root.
# Right: a report directory that is not the caller's own (or is writable by
# others) is refused (exit 2): nothing of root's lands in it; `-o FILE` is opened
# with O_NOFOLLOW. Needs root (useradd, runuser); exit 77 otherwise.
. "$(dirname "$0")/../cli/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (useradd, runuser)"; exit 77; }
for t in useradd userdel runuser; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done
user=ipclop$$
victim=/root/ipcl-op-victim-$$
victim2=/root/ipcl-op-victim2-$$
rdir=/tmp/ipcl-op-report-$$
out=/tmp/ipcl-op-results-$$.jsonl
cleanup() {
	userdel -r "$user" >/dev/null 2>&1
	rm -rf "$tmp" "$rdir" "$victim" "$victim2"
	rm -f "$out"
}
trap cleanup EXIT
useradd -m "$user" || { echo "SKIP: useradd failed"; exit 77; }
echo "root only" >"$victim"
chmod 600 "$victim"

# A real record to report on (a short pipe run, as root, into root's own dir).
"$bin" run -t pipe -n 50 -w 0 -q -o "$tmp/r.jsonl" >/dev/null 2>&1 ||
	{ echo "FAIL: cannot make a record"; exit 1; }

runuser -u "$user" -- sh -c "mkdir -m 0777 '$rdir' &&
	ln -s '$victim' '$rdir/report.md' && ln -s '$victim' '$rdir/report.html' &&
	ln -s '$victim2' '$out'" || { echo "FAIL: the other user cannot plant"; exit 1; }

"$bin" report -o "$rdir" "$tmp/r.jsonl" >"$tmp/rep.out" 2>&1
rc=$?
echo "report -o $rdir: exit $rc"
check "report: the root-only file was not written through a planted link" \
	grep -qx "root only" "$victim"
check "report: the other user's dir gets no root-owned files (or exit 2)" \
	sh -c "[ $rc -eq 2 ] || [ -z \"\$(find '$rdir' -mindepth 1 -user root)\" ]"

"$bin" run -t pipe -n 50 -w 0 -q -o "$out" >/dev/null 2>&1
rc=$?
echo "run -o $out (a planted link): exit $rc"
check "run -o: no file created through another user's link" test ! -e "$victim2"
check "run -o: refused (exit 1 or 2)" test "$rc" -ne 0
finish
