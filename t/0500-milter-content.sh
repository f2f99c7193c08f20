test_description='tandem-milter in Postfix: ordinary mail, rewrap, hold and invite, refusals'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

fg_addr=$(pf_random_addr) re_addr=$(pf_random_addr) sink_addr=$(pf_random_addr)
fg_port=$(pf_random_port) re_port=$(pf_random_port) sink_port=$(pf_random_port)

test_expect_success 'a courier with an FG element and its accounts' '
	milter_pki alice bob mallory peggy
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob && milter_db pending peggy
'

milter_conf "$re_addr:$re_port"

test_expect_success 'tandem-milter -n checks the configuration' '
	tandem-milter -c tandem.conf -n >out &&
	echo "configuration OK" >want && test_cmp want out &&
	echo "courier { colour = red }" >bad.conf &&
	test_expect_code 78 tandem-milter -c bad.conf -n >out &&
	test_grep "bad.conf:1" out
'

test_expect_success_here 'the milter, the reinjection smtpd and the MTA start' '
	milter_mta_start
'

# send FILE FROM TO...: swaks through the FG's Postfix, reply in swaks.out
send() {
	f=$1 from=$2; shift 2
	to=$(echo "$@" | tr " " ",")
	swaks --server "$fg_addr:$fg_port" --from "$from" --to "$to" \
	    --data "@$f" >swaks.out 2>&1
}

test_expect_success 'ordinary mail passes byte for byte' '
	printf "From: alice@a.example\r\nTo: carol@b.example\r\nSubject: hi\r\nMessage-ID: <plain-1@a.example>\r\n\r\nplain body\r\n.dot line" >plain &&
	send plain alice@a.example carol@b.example &&
	postfix_wait_queue_empty fg 30 &&
	smtp_sink_files out >files && test $(wc -l <files) -eq 1 &&
	smtp_sink_body "$(cat files)" >got &&
	printf "plain body\n.dot line\n" >want && test_cmp want got
'

test_expect_success 'a content message for bob and dave' '
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	milter_mkmail m1 alice alice@a.example bob@a.example dave@a.example &&
	send m1 alice@a.example bob@a.example dave@a.example &&
	test_grep "250 " swaks.out
'

test_expect_success 'bob gets it rewrapped to his agent, the same sealed content' '
	postfix_wait_queue_empty fg 30 &&
	grep -l "Tandem-Kind: content" $(smtp_sink_files out) >m1files &&
	test $(wc -l <m1files) -eq 1 &&
	test_grep "bob@a.example" "$(cat m1files)" &&
	test_grep_not "X-Rcpt-Args: <dave@a.example>" "$(cat m1files)" &&
	smtp_sink_body "$(cat m1files)" | base64 -d >new.der &&
	openssl cms -decrypt -inform DER -in new.der -recip \
	    isp/accounts/bob@a.example/agent.crt -inkey bob.key -out new.signed &&
	openssl cms -verify -inform DER -in new.signed -CAfile root/root.crt \
	    -purpose any -out got.der 2>/dev/null &&
	cmp sealed.der got.der
'

test_expect_success 'dave is held and invited once' '
	pg_psql fg fg -c "SELECT recipient, sender FROM held_messages" >held &&
	echo "dave@a.example|alice@a.example" >want && test_cmp want held &&
	pg_psql fg fg -c "SELECT address, status FROM invitations" >inv &&
	echo "dave@a.example|pending" >want && test_cmp want inv &&
	pg_wait_for fg fg "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL" 1 30
'

test_expect_success 'the invitation arrives, signed by the FG element' '
	postfix_wait_queue_empty re 30 &&
	grep -l "Tandem-Kind: invitation" $(smtp_sink_files out) >invfiles &&
	test $(wc -l <invfiles) -eq 1 &&
	test_grep "X-Rcpt-Args: <dave@a.example>" "$(cat invfiles)" &&
	test_grep "Subject: alice@a.example sent you a private message" \
	    "$(cat invfiles)"
'

test_expect_success 'From not the envelope sender: 550 5.7.1' '
	test_must_fail send m1 bob@a.example bob@a.example &&
	test_grep "550 5.7.1 From: alice@a.example is not the envelope sender" swaks.out
'

test_expect_success 'signed by another agent: 550 5.7.7' '
	milter_mkmail m2 bob alice@a.example bob@a.example &&
	test_must_fail send m2 alice@a.example bob@a.example &&
	test_grep "550 5.7.7 the signer is not the agent of alice@a.example" swaks.out
'

test_expect_success 'sender not registered: 550 5.7.1' '
	sed "s/alice@a.example/mallory@a.example/" m1 >m3 &&
	test_must_fail send m3 mallory@a.example bob@a.example &&
	test_grep "550 5.7.1 sender mallory@a.example is not registered here" swaks.out
'

test_expect_success 'sender registered but still pending (no agent-alive): 550 5.7.1' '
	milter_mkmail m5 peggy peggy@a.example bob@a.example &&
	test_must_fail send m5 peggy@a.example bob@a.example &&
	test_grep "550 5.7.1 sender peggy@a.example is not active here (pending: no agent-alive yet)" swaks.out &&
	test_grep "from=peggy@a.example status=reject reason=.5.7.1 sender peggy@a.example is not active" milter.log
'

test_expect_success 'garbled body: 550 5.6.0, nothing stored' '
	sed "/^MII/s/^MII/AAA/" m1 >m4 &&
	test_must_fail send m4 alice@a.example bob@a.example &&
	test_grep "550 5.6.0" swaks.out &&
	pg_psql fg fg -c "SELECT count(*) FROM held_messages" >n &&
	echo 1 >want && test_cmp want n
'

test_expect_success 'the same sealed content again, in a new wrap: 550 5.7.1, nothing held or sent' '
	milter_mkmail m1b alice alice@a.example bob@a.example dave@a.example &&
	! cmp m1 m1b >/dev/null &&
	test_must_fail send m1b alice@a.example bob@a.example dave@a.example &&
	test_grep "550 5.7.1 this sealed content was taken already (replay)" swaks.out &&
	pg_psql fg fg -c "SELECT count(*) FROM held_messages" >n &&
	echo 1 >want && test_cmp want n &&
	pg_psql fg fg -c "SELECT count(*) FROM seen_messages WHERE kind = \$\$content\$\$" >n &&
	test_cmp want n
'

test_expect_success 'database restarted: the pooled connections are replaced' '
	pg_stop fg &&
	pg_as_owner "$PG_BINDIR/pg_ctl" -D "$(pg_dir_of fg)/data" \
	    -l "$(pg_dir_of fg)/server.log" -w -t 30 \
	    -o "-p $(pg_port_of fg)" start >/dev/null &&
	printf "another sealed content stand-in\n" >inner5 &&
	openssl cms -sign -binary -nodetach -outform DER -in inner5 \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	milter_mkmail m5 alice alice@a.example bob@a.example &&
	send m5 alice@a.example bob@a.example &&
	test_grep "<-  250 2.0.0 Ok: queued" swaks.out &&
	test_grep_not "<\*\* 451" swaks.out &&
	cr_alive=$(cat milter.pid) && kill -0 "$cr_alive"
'

test_expect_success 'database down: 451 4.3.0, nothing lost' '
	pg_stop fg &&
	test_must_fail send m1 alice@a.example bob@a.example &&
	test_grep "451 4.3.0 database unavailable" swaks.out
'

test_expect_success 'the milter logs queue id first, and no key material' '
	test_grep "status=reject" milter.log &&
	test_grep_not "PRIVATE KEY" milter.log
'

test_done
