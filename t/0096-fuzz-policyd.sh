#!/bin/sh
# t/0096-fuzz-policyd.sh - the policyd fuzz target's seeds
# (fuzz/corpus/policyd/) and the inputs that once crashed it
# (fuzz/regress/policyd/), replayed through the same target by
# t/unit/fuzz-replay-policyd, built by the normal build and linked with
# the daemon's sources: the gcc and sanitizer builds run tandem-policyd's
# request handling on them, on a real background database. The target
# needs one, which t/0095's driver cannot have: this scenario makes it.

test_description='fuzz: the policyd target replayed on a background database'
. "$TANDEM_SRC/t/test-lib.sh"

replay=$TANDEM_BUILD/t/unit/fuzz-replay-policyd
TANDEM_FUZZ_PKI=$TANDEM_SRC/fuzz/pki
export TANDEM_FUZZ_PKI

test_expect_success 'the replay driver is built' '
	test -x "$replay"
'

test_expect_success 'without a database it skips, and says why' '
	test_expect_code 77 env -u TANDEM_FUZZ_PD_DB "$replay" policyd \
		"$TANDEM_SRC/fuzz/corpus/policyd/refusals" >out &&
	test_grep "^1\.\.0 # SKIP no database" out
'

test_expect_success_here 'a background database, migrated' '
	pg_start fz &&
	pg_createdb fz bg &&
	TANDEM_FUZZ_PD_DB=$(pg_conninfo fz bg) &&
	export TANDEM_FUZZ_PD_DB &&
	tandemctl db migrate --bg --db "$TANDEM_FUZZ_PD_DB" \
		--sqldir "$TANDEM_SRC/sql" >migrate.out
'

# replay_all OUT [WRAPPER...]: every input of both folders through the
# target, the daemon's log lines in OUT.err; one "ok" line per input.
replay_all() {
	_out=$1
	shift
	_n=0
	for _k in corpus regress; do
		_d=$TANDEM_SRC/fuzz/$_k/policyd
		[ -d "$_d" ] || continue
		"$@" "$replay" policyd "$_d"/* >>"$_out" 2>>"$_out.err" || {
			tail -n 40 "$_out.err"
			return 1
		}
		_n=$((_n + $(ls "$_d" | wc -l)))
	done
	test "$_n" -gt 0 &&
	test "$(grep -c "^ok - " "$_out")" -eq "$_n"
}

test_expect_success 'every seed and regression input, no crash' '
	replay_all out
'

# The seeds reach what they were made for: an ARM stored and fetched,
# a revoke passed on, a rekey taken, each state of the account, another
# courier's introduction recorded.
test_expect_success 'the seeds reach the daemon past its checks' '
	test_grep "status=stored delivered=2 held=1" out.err &&
	test_grep "status=opened-with-older-key" out.err &&
	test_grep "mailbox client=alice@corp.example id=3 status=acknowledged" \
		out.err &&
	test_grep "revoke .* status=stored revoked=2" out.err &&
	test_grep "rekey client=alice@corp.example .* status=200" out.err &&
	test_grep "status=drained" out.err &&
	test_grep "courier introduction courier=isp.example .*status=recorded" \
		out.err
'

test_expect_success 'an input runs the same way twice: the database is reset' '
	f=$TANDEM_SRC/fuzz/corpus/policyd/arm-fetch &&
	TANDEM_FUZZ_PD_SAY=1 "$replay" policyd "$f" "$f" >twice 2>twice.err &&
	grep "^fuzz-policyd: answer" twice.err >answers &&
	test $(wc -l <answers) -eq 14 &&
	head -n 7 answers >first &&
	tail -n 7 answers >second &&
	test_cmp first second &&
	test $(grep -c "^fuzz-policyd: answer 201" answers) -eq 2
'

test_expect_success 'the account state of one input does not outlive it' '
	d=$TANDEM_SRC/fuzz/corpus/policyd &&
	TANDEM_FUZZ_PD_SAY=1 "$replay" policyd "$d/mailbox-state1" \
		"$d/mailbox-state3" "$d/mailbox-state1" >states 2>states.err &&
	grep "^fuzz-policyd: answer" states.err >answers &&
	test $(wc -l <answers) -eq 12 &&
	echo "fuzz-policyd: answer 200
fuzz-policyd: answer 200
fuzz-policyd: answer 204
fuzz-policyd: answer 410" >want &&
	head -n 4 answers >first &&
	tail -n 4 answers >third &&
	test_cmp want first &&
	test_cmp want third
'

# OpenSSL's and libpq's own bugs show only under valgrind; the
# sanitizers do not see inside them.
if ! test_have_prog valgrind; then
	test_skip 'the same under valgrind' 'valgrind not found'
elif ldd "$replay" 2>/dev/null | grep -q "libasan\|libubsan"; then
	test_skip 'the same under valgrind' \
		'a sanitizer build: ASan and UBSan watch this one'
else
	test_expect_success 'the same under valgrind, no error' '
		replay_all vg valgrind -q --error-exitcode=97
	'
fi

test_done
