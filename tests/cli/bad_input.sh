#!/usr/bin/env bash
# The CLI's bad-input table: every bad option or value gets exactly one line on
# stderr that names the problem, and exit status 2. Usage: bad_input.sh IPCLAB
set -u
bin=$1
tmp=$(mktemp -d /tmp/ipcl-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0

# args (one string, word-split) | text the error line must contain
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
done <<'TABLE'
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
TABLE

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
