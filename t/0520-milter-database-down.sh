test_description='tandem-milter: database down, the sending Postfix keeps the message and delivers it once later'
. "$TANDEM_SRC/t/test-lib.sh"

# DESIGN.md 6 "never lose a message": while the FG database is down the
# milter answers 451; the sending MTA (here a second Postfix, "cl",
# relaying to the courier's smtpd) keeps the message in its queue and,
# once the database is back, delivers it exactly once.

test_expect_success_here 'a courier with alice and bob, and a sending Postfix' '
	courier_pki a.example && courier_fg_start &&
	for u in alice bob; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout $u.key -subj /CN=$u@a.example \
		    -out $u.csr 2>/dev/null &&
		tandem-ca account -d "$CR_CA" --address $u@a.example \
		    --csr $u.csr >/dev/null &&
		a=$CR_CA/accounts/$u@a.example &&
		tandemctl account add --db "$CR_FG_DB" --address $u@a.example \
		    --status active --courier-key $a/courier.key \
		    --courier-cert $a/courier.crt --agent-cert $a/agent.crt \
		    --keybox-key "$CR_PKI/keybox.key" >/dev/null || return 1
	done &&
	cl_addr=$(cr_random_addr "$CR_FG_ADDR" "$CR_BG_ADDR") &&
	cl_port=$(pf_random_port) &&
	postfix_start cl "$cl_addr" "$cl_port" \
	    "relayhost = [$CR_FG_ADDR]:$CR_SMTP_PORT"
'

test_expect_success 'a content message from alice to bob' '
	a=$CR_CA/accounts/alice@a.example &&
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer $a/agent.crt -inkey alice.key -out sealed.der &&
	openssl cms -sign -binary -nodetach -outform DER -in sealed.der \
	    -signer $a/agent.crt -inkey alice.key -certfile "$CR_CA/chain.pem" \
	    -out m1.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in m1.signed \
	    -out m1.der $a/courier.crt &&
	{
		printf "From: alice@a.example\nTo: bob@a.example\n"
		printf "Subject: Tandem private message\nMessage-ID: <m1@a.example>\n"
		printf "MIME-Version: 1.0\nTandem-Kind: content\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\n"
		printf "Content-Transfer-Encoding: base64\n\n"
		base64 -w 76 m1.der
	} >m1
'

test_expect_success 'database down: 451 4.3.0, the message stays in the sender'"'"'s queue' '
	pg_stop fg &&
	postfix_sendmail cl -f alice@a.example bob@a.example <m1 &&
	wait_until 30 grep -q "451 4.3.0 database unavailable" \
	    "$TRASH/postfix-cl/maillog" &&
	postqueue -c "$(postfix_dir cl)" -p >queue &&
	cat queue &&
	test_grep "alice@a.example" queue &&
	test_grep "bob@a.example" queue &&
	test_grep "database unavailable" queue &&
	test "$(maildir_count bob)" = 0 &&
	test_grep "status=tempfail reason=\"database" "$TRASH/fg/milter.log"
'

test_expect_success 'the milter survived the outage' '
	cr_daemon_alive milter
'

test_expect_success 'database back, queue flushed: delivered to bob once' '
	courier_pg_restart fg &&
	postqueue -c "$(postfix_dir cl)" -f &&
	postfix_wait_queue_empty cl 60 &&
	postfix_wait_queue_empty fg 30 &&
	mail=$(maildir_wait bob "^Message-ID: <m1@a.example>" 30) &&
	test "$(echo "$mail" | wc -l)" = 1 &&
	sed "1,/^\$/d" "$mail" | base64 -d >new.der &&
	openssl cms -decrypt -inform DER -in new.der -recip \
	    "$CR_CA/accounts/bob@a.example/agent.crt" -inkey bob.key \
	    -out new.signed &&
	openssl cms -verify -inform DER -in new.signed -CAfile "$CR_ANCHOR" \
	    -purpose any -out got.der 2>/dev/null &&
	cmp sealed.der got.der
'

test_expect_success 'a second flush delivers nothing more' '
	postqueue -c "$(postfix_dir cl)" -f &&
	sleep 2 &&
	test "$(maildir_count bob)" = 1 &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages")" = 0
'

test_done
