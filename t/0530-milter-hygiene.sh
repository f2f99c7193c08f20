test_description='tandem-milter: held mail and invitations past hold_limit are purged, the sender gets receipts'
. "$TANDEM_SRC/t/test-lib.sh"

# DESIGN.md "hygiene", doc/flows.md 3a. A courier with a short
# hold_limit and purge_interval (t/lib-courier.sh); alice's account is
# made by the operator's tools, so that the test holds her agent key
# and can open the receipts with openssl.

test_have_prog swaks || test_skip_all 'swaks is missing'

CR_HOLD_LIMIT=4s CR_PURGE_INTERVAL=1s
export CR_HOLD_LIMIT CR_PURGE_INTERVAL

test_expect_success_here 'a courier holding for 4 s, purging every second' '
	courier_pki a.example && courier_fg_start &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout alice.key -subj /CN=alice@a.example -out alice.csr 2>/dev/null &&
	tandem-ca account -d "$CR_CA" --address alice@a.example \
	    --csr alice.csr >/dev/null &&
	a=$CR_CA/accounts/alice@a.example &&
	tandemctl account add --db "$CR_FG_DB" --address alice@a.example \
	    --status active --courier-key $a/courier.key \
	    --courier-cert $a/courier.crt --agent-cert $a/agent.crt \
	    --keybox-key "$CR_PKI/keybox.key" >/dev/null
'

test_expect_success 'alice writes to dave and frank, who never register' '
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
		printf "From: alice@a.example\r\nTo: dave@a.example, frank@a.example\r\n"
		printf "Subject: Tandem private message\r\nMessage-ID: <m1@a.example>\r\n"
		printf "MIME-Version: 1.0\r\nTandem-Kind: content\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 m1.der | sed "s/\$/\r/"
	} >m1 &&
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from alice@a.example \
	    --to dave@a.example,frank@a.example --data @m1 >swaks.out 2>&1 &&
	test_grep "250 " swaks.out &&
	courier_fg_sql "SELECT recipient FROM held_messages ORDER BY recipient" >out &&
	printf "dave@a.example\nfrank@a.example\n" >expect && test_cmp expect out
'

test_expect_success 'both invitations go out' '
	maildir_wait dave "^Tandem-Kind: invitation" 30 >/dev/null &&
	maildir_wait frank "^Tandem-Kind: invitation" 30 >/dev/null
'

test_expect_success 'after hold_limit both are purged and the invitations expired' '
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE purged_at IS NOT NULL" 2 30 &&
	courier_fg_sql "SELECT recipient, released_at IS NULL, octet_length(body) FROM held_messages ORDER BY recipient" >out &&
	printf "dave@a.example|t|0\nfrank@a.example|t|0\n" >expect &&
	test_cmp expect out &&
	courier_fg_sql "SELECT address, status FROM invitations ORDER BY address" >out &&
	printf "dave@a.example|expired\nfrank@a.example|expired\n" >expect &&
	test_cmp expect out
'

test_expect_success 'alice gets one receipt per recipient from the service mailbox' '
	wait_until 30 test "$(maildir_count alice)" = 2 &&
	test "$(maildir_count alice)" = 2 &&
	for f in $(cr_maildir_files alice); do
		test_grep "^From: tandem@a.example" $f &&
		test_grep "^Tandem-Kind: service" $f || return 1
	done
'

test_expect_success 'each receipt is a wrap by the FG element to alice'"'"'s agent' '
	a=$CR_CA/accounts/alice@a.example &&
	: >receipts &&
	for f in $(cr_maildir_files alice); do
		sed "1,/^\r\{0,1\}\$/d" $f | base64 -d >r.der &&
		openssl cms -decrypt -inform DER -in r.der -recip $a/agent.crt \
		    -inkey alice.key -out r.signed &&
		openssl cms -verify -inform DER -in r.signed \
		    -CAfile "$CR_ANCHOR" -purpose any -signer r.crt \
		    -out r.txt 2>/dev/null &&
		openssl x509 -in r.crt -noout -fingerprint >got &&
		openssl x509 -in "$CR_CA/elements/fg.crt" -noout -fingerprint >want &&
		test_cmp want got &&
		tr -d "\r" <r.txt | grep -E "^(Content-Type|Message-Id|Sender|Recipient|Event):" >>receipts ||
		return 1
	done &&
	sort receipts >got &&
	sort >want <<-\EOF &&
	Content-Type: application/vnd.tandem.receipt
	Content-Type: application/vnd.tandem.receipt
	Event: expired
	Event: expired
	Message-Id: m1@a.example
	Message-Id: m1@a.example
	Recipient: dave@a.example
	Recipient: frank@a.example
	Sender: alice@a.example
	Sender: alice@a.example
	EOF
	test_cmp want got
'

test_expect_success 'a purge is done once: no more receipts later' '
	sleep 3 &&
	test "$(maildir_count alice)" = 2 &&
	test "$(courier_fg_sql "SELECT count(*) FROM outbox WHERE rcpt_to = ARRAY['"'alice@a.example'"']")" = 2
'

test_expect_success 'the milter logged the purge' '
	test_grep "hygiene msgid=m1@a.example sender=alice@a.example rcpt=dave@a.example status=purged receipt=queued" "$TRASH/fg/milter.log" &&
	test_grep "hygiene invitations=2 status=expired\|hygiene invitations=1 status=expired" "$TRASH/fg/milter.log"
'

test_done
