#!/usr/bin/env bash
# report.html in a real browser (headless Chromium, no network): real runs
# (pingpong of pipe and fifo, stream of pipe for 1.2 s, so a latency-over-time
# chart is due) into a report, then Chromium loads report.html and a probe
# copy of it. The page must load without a script error, hold every chart
# the report wrote (one inline <svg> per DIR/*.svg, the over-time chart among
# them), show "What to use" and its first answer within the first 800 px at a
# width of 1280, fit 1280 px without a horizontal scroll bar, and sort a
# table when a column head is clicked. The screenshot at 1280x800 is kept in
# the build directory (report_browser/report-1280.png). Skipped (77) without
# Chromium or gnuplot; scripts/bootstrap.sh installs both.
# shellcheck source=tests/cli/lib.bash
. "$(dirname "$0")/lib.bash"

chr=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chr" ]; then
	echo "SKIP: chromium is not installed (scripts/bootstrap.sh installs it)"
	exit 77
fi
if ! command -v gnuplot >/dev/null; then
	echo "SKIP: gnuplot is not installed: the report would have no charts to check"
	exit 77
fi
art=$(cd "$(dirname "$bin")" && pwd)/report_browser
mkdir -p "$art"

res=$tmp/r.jsonl
for t in pipe fifo; do
	"$bin" run -t "$t" -p pingpong -n 2000 --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
		{ echo "FAIL: ipclab run -t $t: $(cat "$tmp/err")"; exit 1; }
done
"$bin" run -t pipe -p stream -d 1.2s --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
	{ echo "FAIL: ipclab run stream: $(cat "$tmp/err")"; exit 1; }
"$bin" run -t fifo -p stream -n 20000 --json -q -o "$res" >/dev/null 2>"$tmp/err" ||
	{ echo "FAIL: ipclab run stream: $(cat "$tmp/err")"; exit 1; }
out=$tmp/rep
"$bin" report "$res" -o "$out" >/dev/null 2>"$tmp/err"
rc=$?
check "report exits 0 (exit $rc: $(cat "$tmp/err"))" test "$rc" -eq 0
html=$out/report.html
nsvg=$(find "$out" -maxdepth 1 -name '*.svg' | wc -l)
check "charts were drawn ($nsvg)" test "$nsvg" -ge 4
check "a latency-over-time chart for the 1.2 s run" \
	bash -c "ls '$out' | grep -q '^over-time-.*\.svg$'"
check "nothing in the page is fetched from elsewhere" \
	bash -c "! grep -Eqi '(src|href)=\"?(https?:|//)|<link|@import|url\\(' '$html'"

# chromium ARGS...: headless, no network, a profile of its own.
chromium_run() {
	local prof rc
	prof=$(mktemp -d "$tmp/chrome-XXXXXX")
	timeout 120 "$chr" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$prof" "$@" 2>"$tmp/chrome.err"
	rc=$?
	rm -rf "$prof"
	return $rc
}

# The probe: the same page with an error catcher first and, after load, a
# script that writes what it measured into <pre id="probe">.
probe_head='<script>window.__errs=[];addEventListener("error",function(e){__errs.push(String(e.message))});</script>'
probe_tail='<script>
addEventListener("load", function () {
  var r = {errors: window.__errs.length, messages: window.__errs.join("; ")};
  var h2 = Array.prototype.slice.call(document.querySelectorAll("h2"));
  var ans = h2.filter(function (e) { return e.textContent === "What to use"; })[0];
  var tab = ans ? ans.parentNode.querySelector("h2 ~ div.tw table") : null;
  r.figures = document.querySelectorAll("figure svg").length;
  r.answer_top = ans ? Math.round(ans.getBoundingClientRect().top) : -1;
  r.first_answer_bottom = tab && tab.rows[1] ?
    Math.round(tab.rows[1].getBoundingClientRect().bottom) : -1;
  r.first_answer = tab && tab.rows[1] ? tab.rows[1].textContent : "";
  r.width = document.documentElement.scrollWidth;
  var ov = h2.filter(function (e) { return /^Overview: /.test(e.textContent); })[0];
  var t = ov ? ov.nextElementSibling : null;
  while (t && !(t.tagName === "DIV" && t.querySelector("table"))) t = t.nextElementSibling;
  t = t ? t.querySelector("table") : null;
  r.sorted = -1;
  if (t) {
    t.rows[0].cells[0].click();
    var names = Array.prototype.slice.call(t.rows, 1).map(function (x) {
      return x.cells[0].textContent; });
    r.sorted = names.join(",") === names.slice().sort(function (a, b) {
      return a.localeCompare(b); }).join(",") ? 1 : 0;
    r.sort_mark = t.rows[0].cells[0].className;
  }
  var p = document.createElement("pre");
  p.id = "probe";
  p.textContent = JSON.stringify(r);
  document.body.appendChild(p);
});
</script>'
check "the page ends with </body></html>" test "$(tail -1 "$html")" = "</body></html>"
{
	sed '$d' "$html" | sed "s#<head>#<head>$probe_head#"
	printf '%s\n</body></html>\n' "$probe_tail"
} >"$out/probe.html"
chromium_run --window-size=1280,800 --dump-dom "file://$out/probe.html" >"$tmp/dom.html"
check "chromium loaded the probe page ($(tail -2 "$tmp/chrome.err"))" \
	grep -q '<pre id="probe">' "$tmp/dom.html"
probe=$(sed -n 's|.*<pre id="probe">\(.*\)</pre>.*|\1|p' "$tmp/dom.html" |
	sed 's/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g')
echo "probe: $probe"
pj() { jq -r "$1" <<<"$probe" 2>/dev/null; }
check "no script error ($(pj .messages))" test "$(pj .errors)" = 0
check "every chart is in the page ($(pj .figures) of $nsvg)" test "$(pj .figures)" = "$nsvg"
check "\"What to use\" is on the first screen (top $(pj .answer_top) px)" \
	test "$(pj .answer_top)" -ge 0 -a "$(pj .answer_top)" -lt 800
check "its first answer too (bottom $(pj .first_answer_bottom) px)" \
	test "$(pj .first_answer_bottom)" -gt 0 -a "$(pj .first_answer_bottom)" -le 800
check "the first answer is the lowest latency one: $(pj .first_answer)" \
	grep -q '^Lowest latency' <<<"$(pj .first_answer)"
# The winner and its p50 as the records have them (one run each: the merged
# p50 is the record's).
best=$(jq -s -c 'map(select(.pattern == "pingpong")) | min_by(.latency.p50)' "$res")
want="$(jq -r .transport <<<"$best")p50 $(jq -r .latency.p50 <<<"$best" |
	awk '{ printf "%.2f", $1 / 1000 }') us"
check "the first answer's winner and p50 match the records ('$want')" \
	grep -qF "flight$want" <<<"$(pj .first_answer)"
check "the page fits 1280 px (scroll width $(pj .width))" test "$(pj .width)" -le 1280
check "a click on a column head sorts the table ($(pj .sort_mark))" test "$(pj .sorted)" = 1

chromium_run --screenshot="$art/report-1280.png" --window-size=1280,800 "file://$html" >/dev/null
check "screenshot at 1280x800 kept in $art" test -s "$art/report-1280.png"
check "the screenshot is 1280 px wide" \
	test "$(od -An -tu1 -j16 -N4 "$art/report-1280.png" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')" -eq 1280
rm -rf "$art/report"
cp -r "$out" "$art/report"
finish
