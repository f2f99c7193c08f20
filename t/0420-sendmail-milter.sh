test_description='tandem-milter in Sendmail (contrib/sendmail/tandem.mc): rewrap, ordinary mail, refusals'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-sendmail.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

# Sendmail from the Debian packages, downloaded and unpacked in $TRASH
# (t/lib-sendmail.sh), with contrib/sendmail/tandem.mc as written but
# for its addresses: the public daemon with the milter, the Reinject
# daemon (tandem.conf foreground.reinject) without it. Both relay to
# an smtp-sink, where the test reads what Sendmail delivered.

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog apt-get && test_have_prog dpkg-deb ||
    test_skip_all 'apt-get or dpkg-deb is missing (not Debian)'
test_have_prog m4 || test_skip_all 'm4 is missing'
test_have_prog unshare || test_skip_all 'unshare is missing'
why=$(sendmail_fetch) || test_skip_all "$(echo "$why" | head -n 1)"
echo "$why"

mta_addr=$(pf_random_addr) sink_addr=$(pf_random_addr)
mta_port=$(pf_random_port) re_port=$(pf_random_port) sink_port=$(pf_random_port)
while [ "$re_port" = "$mta_port" ]; do re_port=$(pf_random_port); done

test_expect_success 'a courier with an FG element and its accounts' '
	milter_pki alice bob
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob
'

milter_conf "$mta_addr:$re_port"

# The test's sendmail.mc: the private head, relaying everything to the
# sink, then contrib/sendmail/tandem.mc with this test's addresses and
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
define(\`SMART_HOST', \`[$sink_addr]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $sink_port')dnl
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

test_expect_success_here 'the sink, the milter and Sendmail start' '
	smtp_sink_start out "$sink_addr" "$sink_port" &&
	milter_start &&
	sendmail_start mta "$mta_addr" "$mta_port" &&
	pf_wait_listen "$mta_addr" "$re_port" 10
'

# send FILE FROM TO...: swaks through Sendmail's public daemon (FILE
# has CRLF lines and no closing dot), reply in swaks.out.
send() {
	f=$1 from=$2; shift 2
	to=$(echo "$@" | tr " " ",")
	swaks --server "$mta_addr:$mta_port" --from "$from" --to "$to" \
	    --data "@$f" >swaks.out 2>&1
}

# sink_has PATTERN: one sink dump has a line matching PATTERN; its
# name in found.
sink_has() {
	grep -l -e "$1" $(smtp_sink_files out) >found 2>/dev/null &&
	test $(wc -l <found) -eq 1
}

# delivered_is DUMP ORIGINAL: the sink's DUMP is ORIGINAL (LF lines)
# after the sink's X- lines and the Received headers (Sendmail's and
# the sink's own), and nothing else.
delivered_is() {
	sed '${/^$/d;}' "$1" >dump.got &&
	_n=$(wc -c <"$2") &&
	tail -c "$_n" dump.got >tail.got &&
	test_cmp "$2" tail.got &&
	head -c "$(( $(wc -c <dump.got) - _n ))" dump.got >head.got || return 1
	grep -v -e "^X-Client-Addr: " -e "^X-Client-Proto: " \
	    -e "^X-Helo-Args: " -e "^X-Mail-Args: " -e "^X-Rcpt-Args: " \
	    -e "^Received: " -e "^[ 	]" head.got >extra.got
	test_must_fail test -s extra.got || { cat extra.got; return 1; }
}

milter_plain_eml dave@b.example
# swaks sends a file ending in CRLF.CRLF as it is (else it adds an
# empty line before its own dot).
{ sed 's/$/\r/' plain.eml; printf '.\r\n'; } >plain.crlf

test_expect_success 'ordinary mail passes the milter byte for byte' '
	send plain.crlf carol@a.example dave@b.example &&
	test_grep "^<-  250 2.0.0 .* Message accepted for delivery" swaks.out &&
	sendmail_wait_queue_empty mta 30 &&
	wait_until 10 sink_has "^Message-ID: <plain-1@a.example>" &&
	delivered_is "$(cat found)" plain.eml &&
	test_grep "^X-Rcpt-Args: <dave@b.example>\$" "$(cat found)"
'

test_expect_success 'a content message for bob and dave is accepted' '
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	milter_mkmail m1 alice alice@a.example bob@a.example dave@a.example &&
	send m1 alice@a.example bob@a.example dave@a.example &&
	qid=$(sed -n "s/^<-  250 2.0.0 \([A-Za-z0-9]*\) Message accepted for delivery.*/\1/p" swaks.out) &&
	test -n "$qid" &&
	test_grep "^tandem-milter: $qid from=alice@a.example status=accepted" milter.log
'

test_expect_success 'bob gets it rewrapped to his agent, the same sealed content' '
	sendmail_wait_queue_empty mta 30 &&
	wait_until 10 sink_has "^Message-ID: <m1@a.example>" &&
	f=$(cat found) &&
	test_grep "^X-Rcpt-Args: <bob@a.example>\$" "$f" &&
	test_grep_not "X-Rcpt-Args: <dave@a.example>" "$f" &&
	smtp_sink_body "$f" | base64 -d >new.der &&
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
	sendmail_wait_queue_empty mta 30 &&
	wait_until 10 sink_has "^Tandem-Kind: invitation" &&
	f=$(cat found) &&
	test_grep "^X-Rcpt-Args: <dave@a.example>\$" "$f" &&
	test_grep "Subject: alice@a.example sent you a private message" "$f"
'

test_expect_success 'From not the envelope sender: 550 5.7.1 from the milter' '
	test_must_fail send m1 bob@a.example bob@a.example &&
	test_grep "^<\*\* 550 5.7.1 From: alice@a.example is not the envelope sender" swaks.out &&
	pg_psql fg fg -c "SELECT client, sender, recipients FROM refusals" >refused &&
	echo "127.0.0.1|bob@a.example|bob@a.example" >want && test_cmp want refused
'

test_expect_success 'garbled body: 550 5.6.0, nothing stored' '
	sed "/^MII/s/^MII/AAA/" m1 >m4 &&
	! cmp -s m1 m4 &&
	test_must_fail send m4 alice@a.example bob@a.example &&
	test_grep "^<\*\* 550 5.6.0" swaks.out &&
	pg_psql fg fg -c "SELECT count(*) FROM held_messages" >n &&
	echo 1 >want && test_cmp want n
'

test_expect_success 'database down: 451 4.3.0 from the milter' '
	pg_stop fg &&
	test_must_fail send m1 alice@a.example bob@a.example &&
	test_grep "^<\*\* 451 4.3.0 database unavailable" swaks.out
'

test_expect_success 'milter down: F=T makes Sendmail answer tempfail, ordinary mail too' '
	pid=$(cat milter.pid) && kill $pid &&
	wait_until 10 test_must_fail kill -0 $pid &&
	test_must_fail send plain.crlf carol@a.example dave@b.example &&
	test_grep "^<\*\* 451 4\.3\.[0-9] " swaks.out &&
	sendmail_wait_queue_empty mta 5
'

test_done
