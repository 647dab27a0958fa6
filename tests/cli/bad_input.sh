#!/usr/bin/env bash
# The CLI's bad-input table: every bad option or value gets exactly one line on
# stderr that names the problem, and exit status 2. Usage: bad_input.sh IPCLAB
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0

# Reads "args (one string, word-split) | text the error line must contain" lines.
check_table() {
	while IFS='|' read -r args want; do
		[ -z "$args" ] && continue
		n=$((n + 1))
		# shellcheck disable=SC2086
		"$bin" $args >"$tmp/out" 2>"$tmp/err"
		rc=$?
		lines=$(wc -l <"$tmp/err")
		if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" "$tmp/err"; then
			echo "FAIL: ipclab $args -> exit $rc, $lines stderr lines, want '$want':"
			sed 's/^/    /' "$tmp/err"
			fails=$((fails + 1))
		fi
	done
}

check_table <<'TABLE'
frobnicate|unknown command 'frobnicate'
run|no transport
run -t nosuch|unknown transport 'nosuch'
run -t pipe -s 0|message size must be at least 1 byte
run -t pipe -s abc|bad --size 'abc'
run -t pipe -s 2G|over 1 GiB
run -t pipe -s 16|below the 32-byte ipclab header
run -t pipe -n ten|bad --count 'ten'
run -t pipe -n 0|bad --count '0'
run -t pipe -n -5|bad --count '-5'
run -t pipe -p sideways|unknown pattern 'sideways'
run -t pipe -p rate -r 1000|the rate pattern needs --duration
run -t pipe -p rate -d 1s|the rate pattern needs --rate
run -t pipe -r 1000|--rate is only for --pattern rate
run -t pipe -r fast -p rate -d 1s|bad --rate 'fast'
run -t pipe -d 5parsecs|bad --duration '5parsecs'
run -t pipe -d 1s -n 100|give --count or --duration, not both
run -t pipe -P 2 -p stream|pipe takes only one producer
run -t pipe -C 2 -p stream|pipe takes only one consumer
run -t pipe -P 0 -p stream|bad --producers '0'
run -t pipe -P 2|pingpong has one pinger
run -t pipe -O nonsense|bad --opt 'nonsense'
run -t pipe -O colour=blue|pipe has no option 'colour'
run -t pipe -O capacity=lots|option capacity=lots
run -t pipe --pin sideways|bad --pin 'sideways'
run -t pipe --cpus 9999|bad --cpus '9999'
run -t pipe --cpus x|bad --cpus 'x'
run -t pipe -o /nonexistent-dir/out.jsonl|cannot write --output '/nonexistent-dir/out.jsonl'
run -t pipe --fault stall|bad --fault 'stall'
run -t pipe --bogus|unknown option '--bogus'
run -t pipe -s|option '-s' needs a value
run -t pipe extra|unexpected argument 'extra'
list nosuch|unknown transport 'nosuch'
list --bogus|unknown option '--bogus'
clean --bogus|unknown option '--bogus'
compare -t nosuch|unknown transport 'nosuch'
compare -t pipe,kernal|unknown transport 'kernal'
compare -s 16|bad size '16'
compare -p sideways|bad pattern 'sideways'
compare -p rate|pattern rate needs stream too
compare --rate-fraction 0|bad rate fraction '0'
compare --rate-fraction 1.5|bad rate fraction '1.5'
compare --budget soon|bad --budget 'soon'
compare --repeat 0|bad repeat '0'
compare -d 1s -n 100|give --count or --duration, not both
compare --suite /nonexistent.ini|cannot read --suite '/nonexistent.ini'
compare -o /nonexistent-dir/x.jsonl|cannot write --output '/nonexistent-dir/x.jsonl'
compare --bogus|unknown option '--bogus'
compare extra|unexpected argument 'extra'
faults -t nosuch|unknown transport 'nosuch'
faults -S nope|unknown scenario 'nope'
TABLE

# Suite files: each bad one names the file, the line and the fault.
printf '[compare]\nsizes = 12\n' >"$tmp/size.ini"
printf '[compare]\ncolour = blue\n' >"$tmp/key.ini"
printf '; a comment\n[nosuch]\nx = 1\n' >"$tmp/section.ini"
printf '[shm]\nwiat = spin\n' >"$tmp/option.ini"
printf 'not ini at all\n' >"$tmp/junk.ini"
printf '[compare]\nduration = 1s\ncount = 5\n' >"$tmp/both.ini"
printf '[compare]\npatterns = rate\n' >"$tmp/rate.ini"
check_table <<SUITES
compare --suite $tmp/size.ini|size.ini:2: bad size '12'
compare --suite $tmp/key.ini|key.ini:2: unknown key 'colour' in [compare]
compare --suite $tmp/section.ini|section.ini:3: unknown section [nosuch]
compare --suite $tmp/option.ini|option.ini:2: shm has no option 'wiat'
compare --suite $tmp/junk.ini|junk.ini:1: not a name = value line
compare --suite $tmp/both.ini|gives both count and duration
compare --suite $tmp/rate.ini|pattern rate needs stream too
SUITES

# Issue 10, "Bad input": each example as a row. row STATUS WANT ARGS...: ipclab
# ARGS must exit STATUS with exactly one stderr line containing WANT (WANT
# empty: no stderr line at all).
row() {
	local want_rc=$1 want=$2 rc lines
	shift 2
	n=$((n + 1))
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne "$want_rc" ] || { [ -n "$want" ] && { [ "$lines" -ne 1 ] ||
		! grep -qF -- "$want" "$tmp/err"; }; }; then
		echo "FAIL: ipclab $(echo "$*" | cut -c1-120) -> exit $rc, $lines stderr lines, want $want_rc '$want':"
		cut -c1-200 "$tmp/err" | sed 's/^/    /'
		fails=$((fails + 1))
	fi
}
# fail_if WHAT COMMAND...: one more check that must hold.
fail_if() {
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

row 2 "--count 1000000000000000 needs" run -t pipe -n 1000000000000000 -q
row 2 "GiB for its verification bitmaps" run -t pipe -n 1000000000000000 -q
row 2 "--fault kill-consumer@5000 is beyond the run: the first producer sends only 2000" \
	run -t posix-mq -p stream -n 1000 --fault kill-consumer@5000 -q
row 2 "--fault kill-producer@2000 is beyond the run" \
	run -t posix-mq -p stream -n 1000 --fault kill-producer@2000 -q
row 2 "bad --opt wait=...: the value is 5000 bytes, at most 255" \
	run -t shm -O "wait=$(printf 'a%.0s' $(seq 5000))"
row 2 "bad --opt 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': the name is 50 bytes" \
	run -t shm -O "$(printf 'a%.0s' $(seq 50))=1"
# shellcheck disable=SC2046
row 2 "too many --opt: at most 16" run -t shm $(for _ in $(seq 100); do echo -O wait=spin; done)
row 2 "option wait=bogus of shm: want one of spin|block|hybrid" \
	run -t shm -O wait=bogus -o "$tmp/new.jsonl"
fail_if "run -O wait=bogus -o new.jsonl leaves a file" test -e "$tmp/new.jsonl"
# A value that only the transport's set-up refuses: no record, no new file.
row 2 "" run -t shm -O ring=3 -o "$tmp/new.jsonl" -n 10 -q
fail_if "run -O ring=3 -o new.jsonl (refused at set-up) leaves a file" test -e "$tmp/new.jsonl"
row 1 "writing /dev/full: No space left on device" run -t pipe -n 100 -q -o /dev/full
"$bin" run -t pipe -n 100 -q --json >/dev/full 2>"$tmp/err"
rc=$?
n=$((n + 1))
if [ $rc -ne 1 ] || ! grep -qF "writing standard output" "$tmp/err"; then
	echo "FAIL: run --json > /dev/full -> exit $rc: $(cat "$tmp/err")"
	fails=$((fails + 1))
fi
# -s 1G: the warm-up is sized by bytes (64 MiB: one message), and a watchdog
# stop is a timeout, not loss. The record says which warm-up was used.
"$bin" run -t pipe -s 1G -n 1 --timeout 1s -q --json >"$tmp/big.json" 2>"$tmp/err"
rc=$?
n=$((n + 1))
if [ "$(jq .params.warmup "$tmp/big.json")" != 1 ]; then
	echo "FAIL: run -s 1G: warm-up $(jq .params.warmup "$tmp/big.json"), want 1"
	fails=$((fails + 1))
fi
n=$((n + 1))
if [ $rc -eq 1 ] && ! grep -q "timeout: stopped by the watchdog" "$tmp/err"; then
	echo "FAIL: run -s 1G that timed out does not say timeout: $(cat "$tmp/err")"
	fails=$((fails + 1))
fi
fail_if "run -s 1G: a watchdog stop is reported as loss" grep -q "WARNING.*lost" "$tmp/err"
printf '[shm]\nwait = bogus\n' >"$tmp/wait.ini"
row 2 "wait.ini:2: option wait=bogus of shm: want one of" compare --suite "$tmp/wait.ini"
row 2 "--suite '/tmp' is not a regular file" compare --suite /tmp
row 2 "empty transport list" compare -t ''
touch "$tmp/file"
row 2 "-r: cannot create '$tmp/file/dir'" compare -t pipe --quick -r "$tmp/file/dir" -o "$tmp/c.jsonl"
if [ "$(id -u)" -eq 0 ]; then
	ro=/proc/1 # not writable even for root
else
	mkdir "$tmp/ro" && chmod 555 "$tmp/ro" && ro=$tmp/ro
fi
row 2 "cannot write the report into -r '$ro'" compare -t pipe --quick -r "$ro" -o "$tmp/c.jsonl"
fail_if "compare -r RO ran something" test -s "$tmp/c.jsonl"
IPCLAB_BROKERS_STATE=/nonexistent/dir/s.env row 1 "refusing the state file: /nonexistent/dir" brokers up redis
"$bin" run -t pipe -n 100 -q --json | jq -c '.schema = "other/1" | .transport = "othertool"' >"$tmp/other.jsonl"
row 2 "" report "$tmp/other.jsonl" -o "$tmp/rep"
fail_if "a record of another tool gets a report" test -e "$tmp/rep/report.md"
grep -q "other.jsonl:1: skipped: a record of another schema 'other/1'" "$tmp/err" ||
	{ echo "FAIL: another schema is not named by FILE:LINE"; fails=$((fails + 1)); }

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
