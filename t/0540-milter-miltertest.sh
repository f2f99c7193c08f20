test_description='tandem-milter driven by miltertest as a non-Postfix MTA (Sendmail) would'
. "$TANDEM_SRC/t/test-lib.sh"

# t/milter-content.lua speaks the milter protocol itself: macros,
# envelope, headers, the body in chunks, end of message; it checks the
# replies, the body replacement and the removal of a held recipient.

test_have_prog miltertest || test_skip_all 'miltertest is missing'

test_expect_success_here 'a courier with alice and bob active' '
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
	done
'

test_expect_success 'a content mail from alice to bob and dave, as header and body files' '
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
		printf "From: alice@a.example\r\nTo: bob@a.example, dave@a.example\r\n"
		printf "Subject: Tandem private message\r\nMessage-ID: <mt-1@a.example>\r\n"
		printf "MIME-Version: 1.0\r\nTandem-Kind: content\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n"
	} >m1.head &&
	base64 -w 76 m1.der | sed "s/\$/\r/" >m1.body &&
	test "$(wc -c <m1.body)" -gt 3000
'

test_expect_success 'miltertest: rewrap, delete the held recipient, accept plain mail at eoh' '
	MT_SOCK=unix:$TRASH/fg/milter.sock MT_HEAD=m1.head MT_BODY=m1.body \
	    MT_CHUNK=1000 stdbuf -o0 -e0 miltertest -s "$TANDEM_SRC/t/milter-content.lua" >mt.out 2>&1
	rc=$?
	cat mt.out
	test $rc = 0 &&
	test_grep "all checks passed" mt.out
'

test_expect_success 'the milter held it for dave and logged the queue ids' '
	courier_fg_sql "SELECT message_id, queue_id, recipient FROM held_messages" >out &&
	echo "mt-1@a.example|MTQID1|dave@a.example" >expect && test_cmp expect out &&
	test_grep "^.*MTQID1 from=alice@a.example status=accepted" "$TRASH/fg/milter.log" &&
	test_grep "MTQID3 from=mallory@a.example status=reject reason=\"5.7.1 sender mallory@a.example is not registered here\"" "$TRASH/fg/milter.log" &&
	test_grep_not "MTQID2" "$TRASH/fg/milter.log"
'

test_expect_success 'the milter is still alive' '
	cr_daemon_alive milter
'

test_done
