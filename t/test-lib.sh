# t/test-lib.sh - shared by every scenario in t/ (after git's t/test-lib.sh)
#
# A scenario sets test_description, sources this file, runs checks with
# test_expect_success, and ends with test_done. Output is TAP for
# Automake's tap-driver; everything a check prints goes to the log file.
#
#	test_expect_success 'what it shows' '
#		tandem-ca root --name root.example >out &&
#		test_cmp expected out
#	'
#
# Each scenario runs in its own scratch folder, $TRASH, removed at the
# end unless TANDEM_KEEP=1. test_atexit registers cleanup commands
# (stop a daemon, a cluster), run in reverse order even when the script
# dies. Helpers for PostgreSQL and Postfix live in t/lib-pg.sh and
# t/lib-postfix.sh and are sourced here.

: "${TANDEM_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TANDEM_BUILD:=$TANDEM_SRC/build}"
export TANDEM_SRC TANDEM_BUILD

PATH=$TANDEM_BUILD/certauth:$TANDEM_BUILD/agent:$TANDEM_BUILD/ctl:$TANDEM_BUILD/milter:$TANDEM_BUILD/policy:$PATH
export PATH

# Sanitizer builds: fail loudly, and leave glib's type system alone.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TANDEM_SRC/t/lsan.supp:print_suppressions=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}
export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

test_count=0
test_failed=0
test_atexit_cmds=

exec 3>&1		# TAP goes to fd 3
exec 1>&2		# everything else to the log

test_tap() {
	printf '%s\n' "$*" >&3
}

test_started=$(date +%s)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/tandem-t.XXXXXX") || exit 1
chmod 755 "$TRASH"
cd "$TRASH" || exit 1
export TRASH

test_atexit() {
	test_atexit_cmds="$1
$test_atexit_cmds"
}

test_run_atexit() {
	set +e
	printf '%s\n' "$test_atexit_cmds" | while IFS= read -r cmd; do
		[ -n "$cmd" ] && eval "$cmd"
	done
	test_atexit_cmds=
	cd /
	if [ "${TANDEM_KEEP:-0}" = 1 ]; then
		echo "# kept $TRASH" >&3
	else
		rm -rf "$TRASH"
	fi
}
trap 'test_run_atexit' EXIT
trap 'exit 130' INT TERM

test_expect_success() {
	test_count=$((test_count + 1))
	echo "=== $test_count - $1"
	if (eval "$2"); then
		test_tap "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		test_tap "not ok $test_count - $1"
		echo "--- failed: $1"
	fi
}

# Like test_expect_success, but in the current shell, so that a check
# can set variables (daemon pids, ports) for the ones after it.
test_expect_success_here() {
	test_count=$((test_count + 1))
	echo "=== $test_count - $1"
	if eval "$2"; then
		test_tap "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		test_tap "not ok $test_count - $1"
		echo "--- failed: $1"
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	test_tap "ok $test_count - $1 # SKIP $2"
}

# test_skip_all REASON: nothing in this scenario can run here.
test_skip_all() {
	test_tap "1..0 # SKIP $1"
	exit 0
}

test_done() {
	test_tap "1..$test_count"
	# How long it took, for the slowest list of .ci/run.
	test_tap "# took $(($(date +%s) - test_started)) s"
	[ "$test_failed" -eq 0 ]
	exit $?
}

test_cmp() {
	diff -u "$1" "$2"
}

# test_must_fail CMD...: CMD fails by itself (exit 1..125), not by a
# crash, a sanitizer report or a missing program.
test_must_fail() {
	"$@"
	_rc=$?
	if [ $_rc -eq 0 ]; then
		echo "test_must_fail: $* succeeded"
		return 1
	fi
	if [ $_rc -ge 126 ] || [ $_rc -eq 98 ] || [ $_rc -eq 99 ]; then
		echo "test_must_fail: $* died with status $_rc"
		return 1
	fi
	return 0
}

# test_expect_code N CMD...: CMD exits with exactly N.
test_expect_code() {
	_want=$1
	shift
	"$@"
	_rc=$?
	if [ $_rc -ne "$_want" ]; then
		echo "test_expect_code: $* exited $_rc, want $_want"
		return 1
	fi
	return 0
}

# test_proto_part FILE ROLE OUT: part ROLE (Tandem-Part) of the protocol
# text FILE, decoded, into OUT; fails when there is none.
test_proto_part() {
	python3 -c '
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
	if p.get("Tandem-Part") == sys.argv[2]:
		sys.stdout.buffer.write(p.get_payload(decode=True))
' "$1" "$2" >"$3" && test -s "$3"
}

# test_grep PATTERN FILE: like grep, but shows the file when it fails.
test_grep() {
	if grep -q -e "$1" "$2"; then
		return 0
	fi
	echo "test_grep: no '$1' in $2:"
	sed 's/^/| /' "$2" | head -n 40
	return 1
}

# test_conf_crl CONF FILE [MISSING]: tls.crl_file = FILE (and
# tls.crl_missing = MISSING, default refuse) in the tandem.conf CONF,
# after its keybox_key line, in place of any earlier ones.
test_conf_crl() {
	sed -i -e '/^[[:space:]]*crl_file = /d' \
	    -e '/^[[:space:]]*crl_missing = /d' \
	    -e "s|^\([[:space:]]*keybox_key = .*\)\$|\1\n\tcrl_file = \"$2\"\n\tcrl_missing = ${3:-refuse}|" \
	    "$1" &&
	grep -q "crl_file = \"$2\"" "$1"
}

# test_crl_soon CADIR OUT SECONDS: a list of the CA in CADIR (ca.key,
# ca.crt) due for its next update SECONDS after it is signed, in OUT
# (openssl ca -crlsec; tandem-ca counts in days).
test_crl_soon() {
	_tc_d=$TRASH/crl-soon.$$
	mkdir -p "$_tc_d" && : >"$_tc_d/index.txt" &&
	printf "[ca]\ndefault_ca = c\n[c]\ndatabase = %s\ndefault_md = sha256\n" \
	    "$_tc_d/index.txt" >"$_tc_d/ca.cnf" &&
	openssl ca -batch -config "$_tc_d/ca.cnf" -gencrl -crlsec "$3" \
	    -keyfile "$1/ca.key" -cert "$1/ca.crt" -out "$2" 2>"$_tc_d/err" || {
		cat "$_tc_d/err"
		return 1
	}
}

# test_http_serve DIR ADDR PORT: DIR's files over plain http on
# ADDR:PORT (python3's http.server), stopped when the scenario ends; its
# PID in http_pid. Call it in test_expect_success_here.
test_http_serve() {
	(cd "$1" && exec python3 -m http.server --bind "$2" "$3") \
	    >"$TRASH/http.log" 2>&1 &
	http_pid=$!
	test_atexit "kill $http_pid 2>/dev/null"
	pf_wait_listen "$2" "$3" 10
}

# test_wait_log FILE PATTERN [SECONDS]: until a daemon's log FILE has a
# line matching PATTERN (60 s at most); shows the log's end when not.
test_wait_log() {
	_tw_n=$(( ${3:-60} * 5 ))
	while [ "$_tw_n" -gt 0 ]; do
		grep -q -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
		_tw_n=$((_tw_n - 1))
	done
	echo "test_wait_log: $1 has no $2"
	tail -n 20 "$1"
	return 1
}

test_grep_not() {
	if grep -q -e "$1" "$2"; then
		echo "test_grep_not: '$1' found in $2:"
		grep -n -e "$1" "$2" | head -n 10
		return 1
	fi
	return 0
}

# test_have_prog PROG: true if PROG is on PATH.
test_have_prog() {
	command -v "$1" >/dev/null 2>&1
}

. "$TANDEM_SRC/t/lib-pg.sh"
. "$TANDEM_SRC/t/lib-postfix.sh"
. "$TANDEM_SRC/t/lib-courier.sh"
. "$TANDEM_SRC/t/lib-federation.sh"
