test_description='tandem-milter as an administrator starts it: reasons on the terminal, identity checks, a running milter kept, -u, exit 0 on SIGTERM'
. "$TANDEM_SRC/t/test-lib.sh"

# Started as root, as an administrator would, mostly without -f: what
# stops the milter before it leaves the terminal must be said on
# standard error (there is no syslog daemon on a test machine, so a
# reason sent to syslog alone is lost), with exit 78. No database and
# no MTA are needed for the milter to start.

test_have_prog python3 || test_skip_all 'python3 is missing'
[ "$(id -u)" = 0 ] || test_skip_all 'the milter must be started as root'
getent passwd bin >/dev/null || test_skip_all 'no user bin'

SOCK=$TRASH/fg/milter.sock

test_expect_success_here 'a courier: its PKI and the foreground configuration' '
	courier_pki a.example && mkdir -p "$TRASH/fg" &&
	CR_FG_CONF=$TRASH/fg/tandem.conf &&
	cr_conf "$CR_FG_CONF" fg "host=127.0.0.1 port=1 dbname=none connect_timeout=1" &&
	tandem-milter -c "$CR_FG_CONF" -n >out &&
	echo "configuration OK" >expect && test_cmp expect out
'

# conf SED >FILE: the configuration changed by SED
conf() {
	sed -e "$1" "$CR_FG_CONF"
}

# refused CONF PATTERN: with -n and without -f, exit 78 and PATTERN on
# standard error
refused() {
	test_expect_code 78 tandem-milter -c "$1" -n >out 2>err &&
	test_grep "$2" err &&
	test_expect_code 78 timeout 30 tandem-milter -c "$1" >out 2>err &&
	test_grep "$2" err &&
	test_must_fail test -S "$SOCK"
}

test_expect_success 'a bad option: exit 64 and the usage of tandem-milter(8), -c optional' '
	test_expect_code 64 tandem-milter -x >out 2>err &&
	test_grep "^usage: tandem-milter \[-c FILE\] \[-f\] \[-n\] \[-u USER\]$" err &&
	test_expect_code 64 tandem-milter -c "$CR_FG_CONF" extra >out 2>err &&
	test_grep "^usage: tandem-milter \[-c FILE\]" err
'

test_expect_success 'a missing key file is named on stderr, not only in the log' '
	conf "s|key = \".*/fg.key\"|key = \"$TRASH/nowhere.key\"|" >c1.conf &&
	refused c1.conf "nowhere.key"
'

test_expect_success 'a key that is not the certificate'"'"'s: exit 78' '
	conf "s|/fg.key\"|/bg.key\"|" >c2.conf &&
	refused c2.conf "tls: key .*bg.key is not the key of cert .*fg.crt"
'

test_expect_success 'a role, a name the courier CA certificate contradicts: exit 78' '
	conf "s|role = public|role = gateway|" >c3.conf &&
	refused c3.conf "courier: role is gateway, but the courier CA certificate of a.example .* says public" &&
	conf "s|name = \"a.example\"|name = \"b.example\"|" >c4.conf &&
	refused c4.conf "courier: name is b.example, but .*fg.crt was issued by the courier CA a.example"
'

test_expect_success 'a CA process that cannot start: exit 78 with its reason' '
	mkdir bad && cp "$CR_CA/issuing/"* bad/ &&
	cp "$CR_CA/elements/bg.key" bad/issuing.key && chmod 600 bad/issuing.key &&
	conf "s|ca_dir = .*|ca_dir = \"$TRASH/bad\"|" >c5.conf &&
	tandem-milter -c c5.conf -n >out &&
	test_expect_code 78 timeout 30 tandem-milter -c c5.conf >out 2>err &&
	test_grep "CA process: .*bad/issuing.key does not match .*issuing.crt" err &&
	test_must_fail test -S "$SOCK"
'

test_expect_success '-u: the same checks as foreground.user' '
	test_expect_code 78 tandem-milter -c "$CR_FG_CONF" -u daemon >out 2>err &&
	test_grep "ca_user daemon: the same user as -u" err &&
	test_expect_code 78 tandem-milter -c "$CR_FG_CONF" -u no-such-user-here >out 2>err &&
	test_grep "^tandem-milter: fatal: -u no-such-user-here: no such user" err &&
	test_expect_code 78 tandem-milter -c "$CR_FG_CONF" -u root >out 2>err &&
	test_grep "\-u root: root is root" err
'

test_expect_success_here 'with -u bin, it runs as bin' '
	chmod 755 "$TRASH" "$TRASH/fg" &&
	cr_daemon_start milter tandem-milter "$CR_FG_CONF" "$TRASH/fg/milter.log" -u bin &&
	wait_until 10 test -S "$SOCK" &&
	wait_until 10 grep -q "started socket=unix:$SOCK user=bin" "$TRASH/fg/milter.log" &&
	test "$(awk "\$1 == \"Uid:\" { print \$2 }" /proc/$(cat "$TRASH/milter.pid")/status)" = "$(id -u bin)" &&
	echo "660 root postfix" >expect &&
	stat -c "%a %U %G" "$SOCK" >got && test_cmp expect got
'

# answers: a connection to the socket succeeds
answers() {
	python3 -c "import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])" "$SOCK"
}

# (-f: a second milter that wrongly started would stay on this
# terminal until the timeout, not run on unseen.)
test_expect_success 'a second milter on the same socket refuses to start, and the first keeps it' '
	ino=$(stat -c %i "$SOCK") &&
	test_expect_code 78 timeout 10 tandem-milter -c "$CR_FG_CONF" -f >out 2>err &&
	test_grep "milter.sock: a milter already answers on this socket" err &&
	test "$(stat -c %i "$SOCK")" = "$ino" &&
	answers && cr_daemon_alive milter
'

# Signals 1, 2 and 15 (SIGHUP, SIGINT, SIGTERM): bits 0, 1 and 14 of
# a thread's SigBlk. A thread that does not block them may die by
# them, and the milter with it, instead of libmilter's signal thread
# stopping it cleanly. That thread waits for them in sigwait(), which
# shows them unblocked while it waits.
test_expect_success 'every thread of the milter but the signal thread blocks SIGHUP, SIGINT and SIGTERM' '
	pid=$(cat "$TRASH/milter.pid") &&
	ls /proc/$pid/task >tasks && test $(wc -l <tasks) -ge 3 &&
	for t in $(cat tasks); do
		m=$(awk "\$1 == \"SigBlk:\" { print \$2 }" /proc/$pid/task/$t/status) &&
		w=$(cat /proc/$pid/task/$t/wchan) &&
		if [ $((0x$m & 0x4003)) != $((0x4003)) ]; then
			echo "thread $t: SigBlk $m wchan $w"
		fi || return 1
	done >unblocked &&
	cat unblocked &&
	test $(wc -l <unblocked) = 1 &&
	test_grep "wchan do_sigtimedwait" unblocked
'

test_expect_success_here 'SIGTERM: exit 0 and a "stopped" line' '
	pid=$(cat "$TRASH/milter.pid") && rm -f "$TRASH/milter.pid" &&
	kill -TERM "$pid" && { wait "$pid"; echo $? >status; } &&
	echo 0 >expect && test_cmp expect status &&
	test_grep "tandem-milter: stopped" "$TRASH/fg/milter.log"
'

test_expect_success_here 'a stale socket file is replaced' '
	rm -f "$SOCK" &&
	python3 -c "import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.close()" "$SOCK" &&
	test -S "$SOCK" && test_must_fail answers &&
	cr_daemon_start milter tandem-milter "$CR_FG_CONF" "$TRASH/fg/milter.log" &&
	wait_until 10 answers
'

test_expect_success 'a socket_mode that lets others write is refused (78), naming it' '
	conf "/^foreground {/a\\
  socket_mode = \"0666\"" >c7.conf &&
	test_expect_code 78 tandem-milter -c c7.conf -n >out 2>&1 &&
	test_grep "c7.conf:.*socket_mode: \"0666\" is not an octal mode up to 0777 that others cannot write" out
'

test_expect_success_here 'socket_mode = "0600": the socket is made with that mode' '
	cr_daemon_stop milter &&
	conf "/^foreground {/a\\
  socket_mode = \"0600\"" >c8.conf &&
	cr_daemon_start milter tandem-milter "$TRASH/c8.conf" "$TRASH/fg/milter.log" &&
	wait_until 10 answers &&
	echo "600 root postfix" >expect &&
	stat -c "%a %U %G" "$SOCK" >got && test_cmp expect got
'

test_done
