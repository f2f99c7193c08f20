test_description='tandem-milter: runs as its user, its socket only for the MTA group, reinjection only from the local milter'
. "$TANDEM_SRC/t/test-lib.sh"

# The courier of t/lib-courier.sh, started as root as an operator
# would: the milter must give up root once its socket is open, leave
# the socket to root and the postfix group only, and the reinjection
# smtpd (no milter: what it takes skips the courier's checks) must
# take mail only from the milter.
#
# Every courier of the suite shares this machine's loopback, so
# "another host" is played by another 127.x address: the reinjection
# smtpd listens on the FG's address but takes mail only from
# 127.0.0.1/32, the source Linux gives any connection to a 127.x
# address (the milter's included); a client that binds another
# source address is not the local milter. A real courier has
# foreground.reinject on 127.0.0.1 (tandem.conf refuses anything but
# loopback), so no other host reaches the port at all.

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog python3 || test_skip_all 'python3 is missing'
[ "$(id -u)" = 0 ] || test_skip_all 'the milter must be started as root'
getent group postfix >/dev/null || test_skip_all 'no postfix group'

test_expect_success_here 'a courier started as root' '
	courier_pki a.example && courier_fg_start
'

# status FIELD: the milter process's line of /proc/PID/status
status() {
	awk -v f="$1:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' \
	    /proc/$(cat "$TRASH/milter.pid")/status
}

test_expect_success 'the milter runs as nobody, with nogroup only' '
	u=$(id -u nobody) g=$(id -g nobody) &&
	echo "$u $u $u $u" >expect && status Uid >got && test_cmp expect got &&
	echo "$g $g $g $g" >expect && status Gid >got && test_cmp expect got &&
	echo "$g" >expect && status Groups >got && test_cmp expect got &&
	test_grep "started socket=unix:$TRASH/fg/milter.sock user=nobody" \
	    "$TRASH/fg/milter.log"
'

test_expect_success 'its socket is root:postfix, mode 0660' '
	echo "660 root postfix" >expect &&
	stat -c "%a %U %G" "$TRASH/fg/milter.sock" >got &&
	test_cmp expect got
'

# connect_as USER: connect to the milter socket as USER
connect_as() {
	runuser -u "$1" -- python3 -c "import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])" "$TRASH/fg/milter.sock"
}

test_expect_success 'postfix may connect to it; nobody (the milter user) may not' '
	chmod o+x "$TRASH" "$TRASH/fg" &&
	connect_as postfix &&
	test_must_fail connect_as nobody 2>err &&
	test_grep "Permission denied" err
'

test_expect_success 'the milter still reinjects what it sends: an invitation arrives' '
	courier_invite alice@a.example >/dev/null &&
	maildir_wait alice "^Tandem-Kind: invitation" 30 &&
	test_grep "outbox id=.* status=sent" "$TRASH/fg/milter.log"
'

printf "From: mallory@b.example\r\nTo: alice@a.example\r\nSubject: around the milter\r\nMessage-ID: <rj1@b.example>\r\n\r\nskip the checks\r\n" >msg.crlf

test_expect_success 'reinjection from another address is refused at RCPT' '
	other=$(cr_random_addr "$CR_FG_ADDR" "$CR_BG_ADDR") &&
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_REINJECT_PORT" \
	    --local-interface "$other" --from mallory@b.example \
	    --to alice@a.example --data @msg.crlf >swaks.out 2>&1 &&
	test_grep "^<\*\* 554 5.7.1 .*Client host rejected" swaks.out &&
	test_must_fail cr_maildir_match alice "^Message-ID: <rj1@b.example>"
'

test_expect_success 'from 127.0.0.1, as the milter connects, it is taken' '
	swaks --server "$CR_FG_ADDR:$CR_REINJECT_PORT" \
	    --local-interface 127.0.0.1 --from tandem@a.example \
	    --to alice@a.example --quit-after RCPT >swaks.out 2>&1 &&
	test_grep "^<-  250 2.1.5" swaks.out
'

# conf_with LINE: the FG's tandem.conf with LINE in its foreground
# section, instead of the line setting the same option if any
conf_with() {
	sed -e "/^[[:space:]]*${1%% =*} = /d" -e "/^foreground {/a\\
	$1" "$CR_FG_CONF" >alt.conf
}

test_expect_success 'a reinjection service off loopback is refused' '
	conf_with "reinject = \"192.0.2.1:10026\"" &&
	test_expect_code 78 tandem-milter -c alt.conf -n >out 2>&1 &&
	test_grep "reinject: \"192.0.2.1:10026\" is not a loopback address" out
'

test_expect_success 'user root, an unknown user or group: it does not start' '
	conf_with "user = root" &&
	test_expect_code 78 tandem-milter -c alt.conf -n >out 2>&1 &&
	test_grep "user: root is root; tandem-milter does not run as root" out &&
	conf_with "user = no-such-user-here" &&
	test_expect_code 78 tandem-milter -c alt.conf -f >out 2>&1 &&
	test_grep "user: no such user no-such-user-here" out &&
	conf_with "socket_group = no-such-group-here" &&
	test_expect_code 78 tandem-milter -c alt.conf -n >out 2>&1 &&
	test_grep "socket_group: no such group no-such-group-here" out
'

test_expect_success 'the milter is still alive' '
	cr_daemon_alive milter
'

test_done
