#!/bin/sh
# t/0095-fuzz-regress.sh - every input that once crashed a fuzz target
# (fuzz/regress/TARGET/), and every seed (fuzz/corpus/TARGET/), replayed
# through the same targets by t/unit/fuzz-replay, built by the normal
# build: no clang needed, and the sanitizer build catches what
# bench/fuzz caught.

test_description='fuzz regression inputs and corpora replayed'
. "$TANDEM_SRC/t/test-lib.sh"

replay=$TANDEM_BUILD/t/unit/fuzz-replay
TANDEM_FUZZ_PKI=$TANDEM_SRC/fuzz/pki
export TANDEM_FUZZ_PKI

test_expect_success 'the replay driver is built' '
	test -x "$replay"
'

for t in agent arm cms conf httpd intro proto tmail; do
	for kind in regress corpus; do
		d=$TANDEM_SRC/fuzz/$kind/$t
		[ -d "$d" ] || continue
		test_expect_success "$t: every input of fuzz/$kind/$t" '
			"$replay" $t "$d"/* >out &&
			n=$(ls "$d" | wc -l) &&
			test $(grep -c "^ok - " out) -eq $n
		'
	done
done

test_done
