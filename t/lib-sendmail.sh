# t/lib-sendmail.sh - a private Sendmail daemon from the Debian packages,
# never installed
#
# Sourced by the t/04xx-sendmail-*.sh scenarios after t/test-lib.sh.
# Sendmail conflicts with Postfix as a Debian package (both provide
# mail-transport-agent), so it is not installed: the packages are
# downloaded into $TRASH and unpacked there, and the daemon runs from
# that copy with its own configuration, queue and pid file. Nothing
# outside $TRASH is read for its configuration or written.
#
#	sendmail_fetch
#		apt-get download sendmail-bin, sendmail-cf and libwrap0
#		(sendmail-bin links libwrap.so.0, not installed with
#		Postfix) into $TRASH/sendmail-debs, unpacked with
#		dpkg-deb -x into $TRASH/sendmail-root; checks that it
#		runs and prints its version. On failure it prints why (the first line is the reason
#		for test_skip_all) and returns 1.
#	sendmail_cf NAME MCFILE
#		m4 with the unpacked sendmail-cf macros: MCFILE becomes
#		$TRASH/sendmail-NAME/sendmail.cf
#	sendmail_head NAME	the lines that keep an instance private
#		(its queue, pid and statistics files, no aliases, no
#		DNS, relaying to nothing but the smart host set by the
#		caller); start a .mc with them
#	sendmail_start NAME ADDR PORT
#		sendmail -bD -C sendmail.cf, in the background as root
#		(ADDR is its own address in its /etc/hosts);
#		waits until ADDR:PORT listens; stopped by test_atexit
#	sendmail_stop NAME
#	sendmail_queue NAME	the queue files (qf*) now held
#	sendmail_wait_queue_empty NAME TIMEOUT
#
# The unpacked binary loses its set-group-id bit: a set-group-id
# program ignores LD_LIBRARY_PATH, the only way to its libwrap.so.0.
#
# Before it reads its configuration, Sendmail looks up its own host
# name (IPv6 first, then DNS) and, when that fails, sleeps a minute and
# tries again. So it runs in private mount and UTS namespaces
# (unshare -m -u): host name NAME.tandem.test, and /etc/hosts and
# /etc/nsswitch.conf bind-mounted from $TRASH/sendmail-NAME/ (files
# only, its own address). The network stays the host's.

SM_ROOT=$TRASH/sendmail-root
SM_LIB=$SM_ROOT/usr/lib/x86_64-linux-gnu
SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
SM_CFDIR=$SM_ROOT/usr/share/sendmail/cf

sendmail_fetch() {
	mkdir -p "$TRASH/sendmail-debs" "$SM_ROOT" || return 1
	if ! (cd "$TRASH/sendmail-debs" &&
	    apt-get download sendmail-bin sendmail-cf libwrap0) \
	    >"$TRASH/sendmail-debs/apt.log" 2>&1; then
		echo "apt-get download sendmail-bin sendmail-cf libwrap0 failed: $(grep -m1 '^E:' "$TRASH/sendmail-debs/apt.log")"
		cat "$TRASH/sendmail-debs/apt.log"
		return 1
	fi
	for _sm_deb in "$TRASH"/sendmail-debs/*.deb; do
		dpkg-deb -x "$_sm_deb" "$SM_ROOT" || {
			echo "dpkg-deb -x $(basename "$_sm_deb") failed"
			return 1
		}
	done
	chmod g-s "$SM_BIN" || return 1
	sm_files probe 127.0.0.1 || return 1
	SM_TIMEOUT=20 sm_run probe -d0.1 -C /dev/null -bt </dev/null \
	    >"$TRASH/sendmail-probe/out" 2>&1
	SM_VERSION=$(sed -n 's/^Version //p' "$TRASH/sendmail-probe/out")
	if [ -z "$SM_VERSION" ]; then
		echo "the unpacked sendmail does not run here: $(head -n 1 "$TRASH/sendmail-probe/out")"
		return 1
	fi
	echo "sendmail $SM_VERSION unpacked from the Debian packages"
}

# sm_files NAME ADDR: the hosts and nsswitch.conf of NAME's namespace.
sm_files() {
	_sm_d=$TRASH/sendmail-$1
	mkdir -p "$_sm_d" || return 1
	printf '127.0.0.1 localhost\n%s %s.tandem.test %s\n' "$2" "$1" "$1" \
	    >"$_sm_d/hosts" &&
	printf 'passwd: files\ngroup: files\nhosts: files\n' \
	    >"$_sm_d/nsswitch.conf"
}

# sm_run NAME ARGS...: the unpacked sendmail in NAME's namespaces.
sm_run() {
	_sm_d=$TRASH/sendmail-$1
	shift
	LD_LIBRARY_PATH=$SM_LIB ${SM_TIMEOUT:+timeout $SM_TIMEOUT} \
	    unshare -m -u sh -c '
		hostname "$1.tandem.test" &&
		mount --bind "$2/hosts" /etc/hosts &&
		mount --bind "$2/nsswitch.conf" /etc/nsswitch.conf &&
		shift 2 && exec "$@"' sm "${_sm_d##*/sendmail-}" "$_sm_d" \
	    "$SM_BIN" "$@"
}

sendmail_head() {
	_sm_d=$TRASH/sendmail-$1
	cat <<EOF
divert(-1)
# A private Sendmail instance of a test (written by t/lib-sendmail.sh)
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`$1.tandem.test')dnl
define(\`QUEUE_DIR', \`$_sm_d/queue')dnl
define(\`confPID_FILE', \`$_sm_d/sendmail.pid')dnl
define(\`STATUS_FILE', \`$_sm_d/statistics')dnl
define(\`ALIAS_FILE', \`$_sm_d/aliases')dnl
define(\`confCW_FILE', \`-o $_sm_d/local-host-names')dnl
define(\`confSERVICE_SWITCH_FILE', \`$_sm_d/service.switch')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confTO_QUEUEWARN', \`0')dnl
dnl The test folder lies under the world-writable, sticky TMPDIR.
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`nocanonify')dnl
EOF
}

sendmail_cf() {
	_sm_d=$TRASH/sendmail-$1
	mkdir -p "$_sm_d/queue" || return 1
	chmod 700 "$_sm_d/queue" || return 1
	: >"$_sm_d/aliases" && : >"$_sm_d/statistics" || return 1
	printf 'hosts files\naliases files\n' >"$_sm_d/service.switch"
	m4 -D_CF_DIR_="$SM_CFDIR/" "$SM_CFDIR/m4/cf.m4" "$2" \
	    >"$_sm_d/sendmail.cf" 2>"$_sm_d/m4.log" || {
		cat "$_sm_d/m4.log"
		return 1
	}
	if [ -s "$_sm_d/m4.log" ]; then
		echo "sendmail_cf: m4 warned:"
		cat "$_sm_d/m4.log"
		return 1
	fi
	chmod 644 "$_sm_d/sendmail.cf"
}

sendmail_start() {
	_sm_d=$TRASH/sendmail-$1
	sm_files "$1" "$2" || return 1
	sm_run "$1" -bD -q10s -C "$_sm_d/sendmail.cf" -L "sm-$1" \
	    >"$_sm_d/daemon.log" 2>&1 &
	echo $! >"$_sm_d/daemon.pid"
	test_atexit "sendmail_stop '$1'"
	pf_wait_listen "$2" "$3" 10 || {
		cat "$_sm_d/daemon.log"
		return 1
	}
}

# sendmail_stop NAME: the daemon, by the pid it wrote itself (the one
# of "&" is the shell that runs sm_run, not Sendmail), then that shell.
sendmail_stop() {
	_sm_d=$TRASH/sendmail-$1
	[ -f "$_sm_d/daemon.pid" ] || return 0
	_sm_pid=$(cat "$_sm_d/daemon.pid")
	rm -f "$_sm_d/daemon.pid"
	_sm_own=$(sed -n 1p "$_sm_d/sendmail.pid" 2>/dev/null)
	for _sm_p in $_sm_own $_sm_pid; do
		kill -0 "$_sm_p" 2>/dev/null || continue
		kill "$_sm_p"
		_sm_n=100
		while [ "$_sm_n" -gt 0 ] && kill -0 "$_sm_p" 2>/dev/null; do
			sleep 0.1
			_sm_n=$((_sm_n - 1))
		done
		kill -0 "$_sm_p" 2>/dev/null && kill -9 "$_sm_p"
	done
	wait "$_sm_pid" 2>/dev/null
	return 0
}

sendmail_queue() {
	find "$TRASH/sendmail-$1/queue" -name 'qf*' -type f 2>/dev/null
}

sendmail_wait_queue_empty() {
	_sm_n=$(($2 * 10))
	while [ "$_sm_n" -gt 0 ]; do
		[ -z "$(sendmail_queue "$1")" ] && return 0
		sleep 0.1
		_sm_n=$((_sm_n - 1))
	done
	echo "sendmail_wait_queue_empty: $1 still has mail after $2 s:"
	sm_run "$1" -C "$TRASH/sendmail-$1/sendmail.cf" -bp
	return 1
}
