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

# What OpenSSL does is not instrumented by the sanitizers: a write past a
# buffer inside libcrypto (fuzz/regress/cms/kari-wrap-pad) shows only
# under valgrind. The regression inputs again, under valgrind, in the
# build without sanitizers (valgrind cannot run an ASan binary).
if ! test_have_prog valgrind; then
	test_skip 'the regression inputs under valgrind' 'valgrind not found'
elif ldd "$replay" 2>/dev/null | grep -q libasan; then
	test_skip 'the regression inputs under valgrind' 'an ASan build'
else
	for t in agent arm cms conf httpd intro proto tmail; do
		d=$TANDEM_SRC/fuzz/regress/$t
		[ -d "$d" ] || continue
		test_expect_success "$t: every input of fuzz/regress/$t under valgrind, no error" '
			valgrind -q --error-exitcode=97 "$replay" $t "$d"/* \
			    >out 2>vg.err ||
			{ cat vg.err; false; } &&
			n=$(ls "$d" | wc -l) &&
			test $(grep -c "^ok - " out) -eq $n
		'
	done
fi

test_done
