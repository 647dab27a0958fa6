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

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
