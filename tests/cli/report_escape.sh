#!/usr/bin/env bash
# `ipclab report` on records whose strings are hostile: every string from a
# record must reach each output through that output's escape. A transport name
# with a newline, "EOD" and a gnuplot system() call must not run anything (it
# did before the escape handled control characters); Markdown and HTML must
# show markup characters as text; a CSV field with a comma and a quote must be
# one quoted field. A fault record without its strings must not crash it.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

res=$tmp/r.jsonl
for p in pingpong stream; do
	"$bin" run -t pipe -p "$p" -n 2000 --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
		{ echo "FAIL: ipclab run -p $p: $(cat "$tmp/err")"; exit 1; }
done
web='<script>x</script>|a,"b*'
gp=$'g\nEOD\nsystem \'touch '"$tmp"$'/pwned\'\n#'
jq -c --arg web "$web" --arg gp "$gp" \
	'if .pattern == "pingpong" then .transport = $web else .transport = $gp end' \
	"$res" >"$tmp/bad.jsonl"

out=$tmp/rep
"$bin" report "$tmp/bad.jsonl" -o "$out" --csv >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "gnuplot ran nothing from a record" test ! -e "$tmp/pwned"
if command -v gnuplot >/dev/null; then
	check "the stream chart was drawn all the same" test -s "$out/throughput-stream-kernel.svg"
fi

md=$out/report.md
check "Markdown: markup characters escaped" grep -qF '\<script>x\</script>\|a,"b\*' "$md"
check "Markdown: no raw <script>" lacks "$md" -E '(^|[^\\])<script'
check "Markdown: a newline in a name does not end the row" \
	grep -qF "| g EOD system 'touch $tmp/pwned' \\# | 64 |" "$md"
check "Markdown: no line starts with EOD" lacks "$md" '^EOD'

check "HTML: no <script> element but the page's own sorting script" \
	test "$(grep -oi '<script' "$out/report.html" | wc -l)" -eq 1
check "HTML: the name as text" grep -qF '&lt;script&gt;x&lt;/script&gt;|a,&quot;b*' "$out/report.html"

check "CSV: the name is one quoted field" \
	grep -qF 'pingpong,"<script>x</script>|a,""b*",64,process,' "$out/summary.csv"

echo '{"schema":"ipclab.result/1","transport":"x","pattern":"stream","fault":{"lost":1}}' >"$tmp/f.jsonl"
"$bin" report "$tmp/f.jsonl" -o "$tmp/frep" >/dev/null 2>"$tmp/err"
rc=$?
check "a fault record without scenario: exit 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
check "... and its cell says '?'" grep -qF '| x | lost 1 / dup 0, ?, ? |' "$tmp/frep/report.md"
finish
