test_description='tandem-milter in Sendmail (contrib/sendmail/tandem.mc): rewrap, ordinary mail to Maildirs, refusals'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-sendmail.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

# Sendmail from the Debian packages, downloaded and unpacked in $TRASH
# (t/lib-sendmail.sh), with contrib/sendmail/tandem.mc as written but
# for its addresses: the public daemon with the milter, the Reinject
# daemon (tandem.conf foreground.reinject) without it.
#
# Both relay to a private Postfix, the "mx", whose virtual agent writes
# a Maildir for each address USER@D.example, $TRASH/mail/D/USER/,
# where the test reads what arrived, as t/0640 does. Sendmail cannot
# write a Maildir itself: its local mailer, mail.local from
# sendmail-bin, appends to mbox files under /var/mail for system
# users, and a Maildir agent (procmail, maildrop) would have to be
# installed and run for real users. So what is read has Sendmail's
# Received header, then those of the mx's delivery (Return-Path,
# X-Original-To, Delivered-To, Received), and nothing else before the
# message.

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog apt-get && test_have_prog dpkg-deb ||
    test_skip_all 'apt-get or dpkg-deb is missing (not Debian)'
test_have_prog m4 || test_skip_all 'm4 is missing'
test_have_prog unshare || test_skip_all 'unshare is missing'
why=$(sendmail_fetch) || test_skip_all "$(echo "$why" | head -n 1)"
echo "$why"

mta_addr=$(pf_random_addr) mx_addr=$(pf_random_addr)
mta_port=$(pf_random_port) re_port=$(pf_random_port) mx_port=$(pf_random_port)
while [ "$re_port" = "$mta_port" ]; do re_port=$(pf_random_port); done
while [ "$mx_addr" = "$mta_addr" ]; do mx_addr=$(pf_random_addr); done

# mx_start: the mx, with a Maildir for each address the test sends to
# or from (a bounce to a sender would land in the sender's), owned by
# nobody as t/lib-courier.sh has it. postfix_start's master.cf has no
# virtual service: it is added, then the mx reloaded, before Sendmail
# starts and anything is sent.
#
# Postfix's check and start take seconds, so the mx starts in the
# background while the courier is set up; the check that starts
# Sendmail waits for it. postfix_start's own test_atexit is lost in
# that subshell: mx_stop is registered here, and lets the start end
# before it stops the mx, so that a master is never left behind.
mx_start() {
	mkdir -p "$TRASH/mail" && chown nobody:nogroup "$TRASH/mail" &&
	for _m in a/alice a/bob a/carol a/dave a/tandem b/dave b/erin; do
		printf '%s@%s.example %s/\n' "${_m#*/}" "${_m%/*}" "$_m"
	done >vmailbox &&
	postfix_start mx "$mx_addr" "$mx_port" \
	    "virtual_mailbox_domains = a.example b.example" \
	    "virtual_mailbox_base = $TRASH/mail" \
	    "virtual_mailbox_maps = texthash:$TRASH/vmailbox" \
	    "virtual_uid_maps = static:65534" \
	    "virtual_gid_maps = static:65534" &&
	postconf -c "$(postfix_dir mx)" -M \
	    "virtual/unix=virtual unix - n n - - virtual" &&
	pf_pty "postfix -c '$(postfix_dir mx)' reload"
}

mx_start >mx.log 2>&1 &
mx_pid=$!
mx_stop() {
	while kill -0 "$mx_pid" 2>/dev/null; do sleep 0.1; done
	postfix_stop mx
}
test_atexit mx_stop

test_expect_success 'a courier with an FG element and its accounts' '
	milter_pki alice bob
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob
'

milter_conf "$mta_addr:$re_port"

# The test's sendmail.mc: the private head, relaying everything to the
# mx, then contrib/sendmail/tandem.mc with this test's addresses and
# socket in place of its own, then the mailers.
mc=$TANDEM_SRC/contrib/sendmail/tandem.mc
sed -e "s/Port=smtp, /Port=$mta_port, Addr=$mta_addr, /" \
    -e "s/Port=10026, Addr=127\.0\.0\.1,/Port=$re_port, Addr=$mta_addr,/" \
    -e "s|S=unix:/run/tandem/milter.sock,|S=unix:$TRASH/milter.sock,|" \
    "$mc" >tandem.mc
{
	sendmail_head mta
	cat <<EOF
dnl Relaying for the test's loopback clients (swaks, the milter).
RELAY_DOMAIN(\`127')dnl
define(\`SMART_HOST', \`[$mx_addr]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $mx_port')dnl
EOF
	cat tandem.mc
	printf 'MAILER(`local'"')dnl\nMAILER("'`smtp'"')dnl\n"
} >sendmail.mc

test_expect_success 'tandem.mc builds a sendmail.cf with the milter on one daemon only' '
	test $(diff "$mc" tandem.mc | grep -c "^>") -eq 3 &&
	sendmail_cf mta sendmail.mc &&
	cf=sendmail-mta/sendmail.cf &&
	test_grep "^Xtandem, S=unix:$TRASH/milter.sock, F=T, T=C:30s;S:5m;R:5m;E:10m" $cf &&
	test_grep "^O InputMailFilters=tandem\$" $cf &&
	test_grep "^O DaemonPortOptions=Port=$mta_port, Addr=$mta_addr, Name=MTA\$" $cf &&
	test_grep "^O DaemonPortOptions=Port=$re_port, Addr=$mta_addr, Name=Reinject, InputMailFilters=\$" $cf &&
	test_grep "^O Milter.macros.connect=.*, {client_addr}\$" $cf &&
	test_grep "^O Milter.macros.eom={msg_id}, i\$" $cf
'

test_expect_success_here 'the mx, the milter and Sendmail start' '
	{ wait $mx_pid || { cat mx.log; false; }; } &&
	milter_start &&
	sendmail_start mta "$mta_addr" "$mta_port" &&
	pf_wait_listen "$mta_addr" "$re_port" 10
'

# send FILE FROM TO...: swaks through Sendmail's public daemon (FILE
# has LF lines: it goes as FILE.crlf, CRLF lines and the closing dot,
# which swaks sends as they are), reply in swaks.out.
send() {
	f=$1 from=$2; shift 2
	to=$(echo "$@" | tr " " ",")
	sed 's/$/\r/' "$f" >"$f.crlf" && printf '.\r\n' >>"$f.crlf" &&
	swaks --server "$mta_addr:$mta_port" --from "$from" --to "$to" \
	    --data "@$f.crlf" >swaks.out 2>&1
}

# arrived MAILDIR PATTERN: the one file in MAILDIR (D/USER) with a
# line matching PATTERN, once the mx's queue is empty; its name in
# found. Fails if there is none or more than one.
arrived() {
	sendmail_wait_queue_empty mta 30 &&
	maildir_wait "$1" "$2" 30 >found &&
	postfix_wait_queue_empty mx 30 &&
	cr_maildir_match "$1" "$2" >found &&
	test $(wc -l <found) -eq 1
}

# delivered_is FILE ORIGINAL ADDRESS: FILE is ORIGINAL (LF lines) after
# one Received header from Sendmail, one from the mx, and the mx's
# Return-Path, X-Original-To and Delivered-To (ADDRESS), and nothing
# else.
delivered_is() {
	_n=$(wc -c <"$2") &&
	tail -c "$_n" "$1" >tail.got &&
	test_cmp "$2" tail.got &&
	head -c "$(( $(wc -c <"$1") - _n ))" "$1" >head.got || return 1
	grep -v -e "^Return-Path: " -e "^Delivered-To: $3\$" -e "^Received: " \
	    -e "^X-Original-To: $3\$" -e "^[ 	]" head.got >extra.got
	test_must_fail test -s extra.got || { cat extra.got; return 1; }
	test $(grep -c "^Received: " head.got) -eq 2 &&
	test $(grep -c "^Delivered-To: " head.got) -eq 1 &&
	tr -d "\n" <head.got | tr "\t" " " >head.line &&
	test_grep "Received: .* by mx\.tandem\.test .*Received: .* by mta\.tandem\.test " \
	    head.line
}

milter_plain_eml dave@b.example

test_expect_success 'ordinary mail passes the milter byte for byte' '
	send plain.eml carol@a.example dave@b.example &&
	test_grep "^<-  250 2.0.0 .* Message accepted for delivery" swaks.out &&
	arrived b/dave "^Message-ID: <plain-1@a.example>" &&
	delivered_is "$(cat found)" plain.eml dave@b.example
'

milter_mime_eml dave@b.example erin@b.example

test_expect_success 'a MIME message to two recipients arrives intact for both' '
	send mime.eml carol@a.example dave@b.example erin@b.example &&
	test_grep "^<-  250 2.0.0 .* Message accepted for delivery" swaks.out &&
	for u in dave erin; do
		arrived b/$u "^Message-ID: <mime-1@a.example>" &&
		delivered_is "$(cat found)" mime.eml $u@b.example || return 1
	done
'

test_expect_success 'a large message (about 2 MB) passes intact' '
	{
		printf "From: carol@a.example\nTo: erin@b.example\nSubject: big\n"
		printf "Date: Sat, 28 Nov 2026 23:52:00 +0000\n"
		printf "Message-ID: <big-1@a.example>\n\n"
		head -c 1500000 /dev/urandom | base64 -w 76
	} >big.eml &&
	test $(wc -c <big.eml) -gt 2000000 &&
	send big.eml carol@a.example erin@b.example &&
	test_grep "^<-  250 2.0.0 .* Message accepted for delivery" swaks.out &&
	arrived b/erin "^Message-ID: <big-1@a.example>" &&
	delivered_is "$(cat found)" big.eml erin@b.example
'

test_expect_success 'a content message for bob and dave is accepted' '
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	milter_mkmail m1 alice alice@a.example bob@a.example dave@a.example &&
	tr -d "\r" <m1 >m1.eml &&
	send m1.eml alice@a.example bob@a.example dave@a.example &&
	qid=$(sed -n "s/^<-  250 2.0.0 \([A-Za-z0-9]*\) Message accepted for delivery.*/\1/p" swaks.out) &&
	test -n "$qid" &&
	test_grep "^tandem-milter: $qid from=alice@a.example status=accepted" milter.log
'

test_expect_success 'bob gets it rewrapped to his agent, the same sealed content' '
	arrived a/bob "^Message-ID: <m1@a.example>" &&
	f=$(cat found) &&
	test_grep "^Delivered-To: bob@a.example\$" "$f" &&
	test_must_fail cr_maildir_match a/dave "^Tandem-Kind: content" &&
	sed "1,/^\$/d" "$f" | base64 -d >new.der &&
	! cmp -s m1.der new.der &&
	openssl cms -decrypt -inform DER -in new.der -recip \
	    isp/accounts/bob@a.example/agent.crt -inkey bob.key -out new.signed &&
	openssl cms -verify -inform DER -in new.signed -CAfile root/root.crt \
	    -purpose any -out got.der 2>/dev/null &&
	cmp sealed.der got.der
'

test_expect_success 'dave is held, and invited through the Reinject daemon' '
	pg_psql fg fg -c "SELECT recipient, sender FROM held_messages" >held &&
	echo "dave@a.example|alice@a.example" >want && test_cmp want held &&
	pg_wait_for fg fg "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL" 1 30 &&
	arrived a/dave "^Tandem-Kind: invitation" &&
	f=$(cat found) &&
	test_grep "^Delivered-To: dave@a.example\$" "$f" &&
	test_grep "^	by mta\.tandem\.test (" "$f" &&
	test_grep "Subject: alice@a.example sent you a private message" "$f" &&
	test_must_fail cr_maildir_match a/dave "^Tandem-Kind: content"
'

test_expect_success 'From not the envelope sender: 550 5.7.1 from the milter' '
	test_must_fail send m1.eml bob@a.example bob@a.example &&
	test_grep "^<\*\* 550 5.7.1 From: alice@a.example is not the envelope sender" swaks.out &&
	pg_psql fg fg -c "SELECT client, sender, recipients FROM refusals" >refused &&
	echo "127.0.0.1|bob@a.example|bob@a.example" >want && test_cmp want refused
'

test_expect_success 'garbled body: 550 5.6.0, nothing stored' '
	sed "/^MII/s/^MII/AAA/" m1.eml >m4 &&
	! cmp -s m1.eml m4 &&
	test_must_fail send m4 alice@a.example bob@a.example &&
	test_grep "^<\*\* 550 5.6.0" swaks.out &&
	pg_psql fg fg -c "SELECT count(*) FROM held_messages" >n &&
	echo 1 >want && test_cmp want n
'

test_expect_success 'database down: 451 4.3.0 from the milter' '
	pg_stop fg &&
	test_must_fail send m1.eml alice@a.example bob@a.example &&
	test_grep "^<\*\* 451 4.3.0 database unavailable" swaks.out
'

test_expect_success 'milter down: F=T makes Sendmail answer tempfail, ordinary mail too' '
	pid=$(cat milter.pid) && kill $pid &&
	wait_until 10 test_must_fail kill -0 $pid &&
	test_must_fail send plain.eml carol@a.example dave@b.example &&
	test_grep "^<\*\* 451 4\.3\.[0-9] " swaks.out &&
	sendmail_wait_queue_empty mta 5
'

test_expect_success 'nothing bounced, nothing else arrived, the milter clean' '
	postfix_wait_queue_empty mx 30 &&
	test_grep_not "status=bounced" "$TRASH/postfix-mx/maillog" &&
	for m in a/alice a/carol a/tandem; do
		test $(maildir_count $m) -eq 0 || return 1
	done &&
	test $(maildir_count a/bob) -eq 1 &&
	test $(maildir_count a/dave) -eq 1 &&
	test $(maildir_count b/dave) -eq 2 &&
	test $(maildir_count b/erin) -eq 2 &&
	test_grep_not "AddressSanitizer\|runtime error" milter.log
'

test_done
