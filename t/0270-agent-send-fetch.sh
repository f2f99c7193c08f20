#!/bin/sh
test_description='tandem send and fetch: the ARM over HTTPS first, then the mail'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mta=$(pf_random_addr) mport=$(pf_random_port)
hport=$(pf_random_port) sport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port)
net="--smtp $mta:$mport --bg https://bg.a.example:$bport --resolve bg.a.example:$bport:$bg"
alice=ca/accounts/alice@a.example
bob=ca/accounts/bob@a.example

test_expect_success 'a courier, alice and bob with their courier-end certificates' '
	ag_courier &&
	ag_users --courier-cert alice bob &&
	printf "From: Alice <alice@a.example>\r\nTo: bob@a.example\r\nSubject: lunch\r\n\r\nMeet at noon.\r\n" >m.eml
'

test_expect_success 'import refuses a courier-end certificate of another address' '
	tandem init -d carol --address carol@a.example --csr carol.csr &&
	tandem-ca account -d ca --address carol@a.example --csr carol.csr &&
	test_expect_code 12 tandem import -d carol \
		--cert ca/accounts/carol@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem \
		--courier-cert $bob/courier.crt &&
	test_expect_code 65 tandem import -d carol \
		--cert ca/accounts/carol@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem \
		--courier-cert ca/elements/fg.crt
'

test_expect_success_here 'an smtp-sink and the background stub' '
	smtp_sink_start mta $mta $mport &&
	ag_stub stub $bg $bport ca
'

test_expect_success 'the background unreachable: retries, then 75, and no mail' '
	test_expect_code 75 tandem send -d alice --to bob@a.example --in m.eml \
		--smtp $mta:$mport --bg https://bg.a.example:$bport \
		--resolve bg.a.example:$bport:127.0.0.1 --retry-for 5 2>err &&
	test_grep "again in 1 s" err &&
	test_grep "again in 2 s" err &&
	test_grep_not "again in 4 s" err &&
	test_grep "did not take the ARM within 5 s; nothing was mailed" err &&
	test -z "$(smtp_sink_files mta)"
'

test_expect_success 'send: the ARM is posted, then the content mail is submitted' '
	tandem send -d alice --to bob@a.example --in m.eml $net >id &&
	id=$(cat id) &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	ag_unwrap stub/posted/1 $alice/courier.crt $alice/courier.key arm.txt &&
	test "$(ag_field Message-Id arm.txt)" = "$id" &&
	test "$(ag_field Sender arm.txt)" = alice@a.example &&
	test "$(ag_field Recipient arm.txt)" = bob@a.example &&
	smtp_sink_files mta >files && test $(wc -l <files) = 1 &&
	f=$(cat files) &&
	test_grep "^X-Mail-Args: <alice@a.example>" $f &&
	test_grep "^X-Rcpt-Args: <bob@a.example>" $f &&
	test_grep "^Tandem-Kind: content" $f &&
	test_grep "^Subject: Tandem private message" $f &&
	test_grep "^Message-ID: <$id>" $f &&
	test_grep_not "lunch" $f &&
	ag_sink_body $f | base64 -d >content.der &&
	ag_unwrap content.der $alice/courier.crt $alice/courier.key sealed.der &&
	test "$(openssl dgst -sha256 -r sealed.der | cut -d" " -f1)" = \
		"$(ag_field Content-Digest arm.txt)"
'

test_expect_success 'send refuses a From: not the sender before posting anything (65)' '
	: >stub/log &&
	printf "From: carol@a.example\r\nTo: bob@a.example\r\n\r\nhi\r\n" >carol.eml &&
	test_expect_code 65 tandem send -d alice --to bob@a.example \
		--in carol.eml $net >out 2>err &&
	test_grep "From: carol@a.example is not your address alice@a.example" err &&
	! test -s out && ! test -s stub/log &&
	test $(smtp_sink_files mta | wc -l) = 1
'

test_expect_success 'the background busy (503, 429): retried until it takes it' '
	printf "503\n429\n" >stub/status && : >stub/log &&
	tandem send -d alice --to bob@a.example --in m.eml $net 2>err &&
	printf "%s\n" "POST /v1/arm 503" "POST /v1/arm 429" "POST /v1/arm 201" >log.want &&
	test_cmp log.want stub/log &&
	test_grep "503 stub says 503; again in 1 s" err &&
	test $(smtp_sink_files mta | wc -l) = 2
'

test_expect_success 'the background refuses (403): final, 17, no mail' '
	echo 403 >stub/status && : >stub/log &&
	test_expect_code 17 tandem send -d alice --to bob@a.example --in m.eml $net 2>err &&
	test_grep "the background refused the ARM: 403 stub says 403" err &&
	echo "POST /v1/arm 403" >log.want && test_cmp log.want stub/log &&
	test $(smtp_sink_files mta | wc -l) = 2
'

test_expect_success_here 'the mail server refuses for good: its answer as written, 17' '
	smtp_sink_start hard $mta $hport "-f rcpt" && : >stub/log &&
	test_expect_code 17 tandem send -d alice --to bob@a.example --in m.eml \
		--smtp $mta:$hport --bg https://bg.a.example:$bport \
		--resolve bg.a.example:$bport:$bg 2>err &&
	test_grep "tandem send: smtp://$mta:$hport answered: 500 5.3.0 Error: command failed$" err &&
	test_grep_not "Weird" err
'

test_expect_success_here 'a 4xx from the mail server: the same mail again, until it is taken' '
	smtp_sink_start soft $mta $sport "-r rcpt" && : >stub/log &&
	{ timeout 90 tandem send -d alice --to bob@a.example --in m.eml \
		--smtp $mta:$sport --bg https://bg.a.example:$bport \
		--resolve bg.a.example:$bport:$bg --retry-for 60 >id2 2>err2 \
		</dev/null; echo $? >rc2; } >/dev/null 2>&1 &
	n=0 && until grep -q "again in" err2 2>/dev/null || test $n = 100; do
		n=$((n + 1)) && sleep 0.1
	done &&
	grep -q "again in" err2 &&
	smtp_sink_stop soft && smtp_sink_start soft2 $mta $sport &&
	n=0 && until test -s rc2 || test $n = 300; do
		n=$((n + 1)) && sleep 0.1
	done &&
	test "$(cat rc2)" = 0 &&
	test_grep "answered: 450 4.3.0 Error: command failed; again in 1 s" err2 &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	smtp_sink_files soft2 >files && test $(wc -l <files) = 1 &&
	test_grep "^Message-ID: <$(cat id2)>" $(cat files)
'

test_expect_success_here 'the mail server keeps answering 4xx: 75, and the message id is named' '
	smtp_sink_stop soft2 && smtp_sink_start soft3 $mta $sport "-r rcpt" &&
	: >stub/log &&
	test_expect_code 75 tandem send -d alice --to bob@a.example --in m.eml \
		--smtp $mta:$sport --bg https://bg.a.example:$bport \
		--resolve bg.a.example:$bport:$bg --retry-for 2 2>err &&
	test_grep "the ARM is at the background but the mail server did not take the mail within 2 s" err &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log
'

test_expect_success 'the server is not the courier: TLS fails against the anchors' '
	tandem-ca root -d root2 --name other.example >/dev/null &&
	cp root2/root.crt alice/anchors.pem &&
	test_expect_code 75 tandem send -d alice --to bob@a.example --in m.eml \
		$net --retry-for 0 2>err &&
	cp root/root.crt alice/anchors.pem &&
	test_grep "SSL peer certificate or SSH remote key was not OK\|certificate problem" err
'

# mailbox ID FILE: an ARM waiting for bob at the stub, wrapped by the BG
mailbox() {
	ag_wrap ${3:-ca/elements/bg.crt} ${4:-ca/elements/bg.key} $bob/agent.crt \
		"$2" stub/mailbox/$1 &&
	rm -f stub/mailbox/$1.signed &&
	ag_field Message-Id "$2" >stub/mailbox/$1.msgid
}

test_expect_success 'fetch: unwrapped, stored, acknowledged; then read opens the mail' '
	cp arm.txt bob.arm &&
	mailbox 7 bob.arm && : >stub/log &&
	tandem fetch -d bob $net >fetched &&
	echo "$(cat id)" >fetched.want && test_cmp fetched.want fetched &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/7 200" \
		"DELETE /v1/mailbox/7 204" >log.want && test_cmp log.want stub/log &&
	test ! -f stub/mailbox/7 &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key $bob/agent.crt sealed.der bob.wrap &&
	ag_mail content alice@a.example bob@a.example "$(cat id)" bob.wrap >bob.mail &&
	tandem read -d bob bob.mail >m.out &&
	test_cmp m.eml m.out
'

test_expect_success 'fetch again: nothing waits, nothing changes' '
	: >stub/log &&
	tandem fetch -d bob $net >fetched &&
	test ! -s fetched &&
	echo "GET /v1/mailbox 200" >log.want && test_cmp log.want stub/log
'

test_expect_success 'fetch refuses an ARM wrapped by the FG (18) and leaves it there' '
	mailbox 8 bob.arm ca/elements/fg.crt ca/elements/fg.key &&
	test_expect_code 18 tandem fetch -d bob $net 2>err &&
	test_grep "not the courier.s background element" err &&
	test -f stub/mailbox/8 && rm stub/mailbox/8 stub/mailbox/8.msgid
'

test_expect_success 'fetch refuses an ARM for someone else (65)' '
	sed "s/^Recipient: bob@a.example/Recipient: dan@a.example/" bob.arm >dan.arm &&
	mailbox 9 dan.arm &&
	test_expect_code 65 tandem fetch -d bob $net 2>err &&
	test_grep "bob@a.example is not a recipient of" err &&
	rm stub/mailbox/9 stub/mailbox/9.msgid
'

test_expect_success_here 'a TLS server that demands a client certificate gets the agent chain' '
	sport=$(pf_random_port) &&
	{ openssl s_server -quiet -accept $bg:$sport -cert ca/elements/bg.crt \
		-cert_chain ca/chain.pem -key ca/elements/bg.key -Verify 3 \
		-CAfile root/root.crt -verify_return_error -purpose any -www \
		-naccept 1 >sserver.out 2>&1 & echo $! >sserver.pid; } &&
	test_atexit "kill $(cat sserver.pid) 2>/dev/null" &&
	pf_wait_listen $bg $sport 10 &&
	test_expect_code 76 tandem fetch -d bob --bg https://bg.a.example:$sport \
		--resolve bg.a.example:$sport:$bg 2>err &&
	test_grep "mailbox listing: not \"ID MESSAGE-ID\" lines" err &&
	test $(wc -l <err) = 1 &&
	test_grep "depth=0 CN = bob@a.example" sserver.out &&
	test_grep "depth=1 CN = a.example" sserver.out
'

# With TLS 1.3 a server refuses a client certificate after the client's
# side of the handshake, and its alert may be lost to a reset; with TLS
# 1.2 it comes within the handshake, which the agent then names.
test_expect_success_here 'a server that refuses the agent certificate in the handshake: the agent names its alert' '
	sport=$(pf_random_port) &&
	{ openssl s_server -quiet -tls1_2 -accept $bg:$sport \
		-cert ca/elements/bg.crt -cert_chain ca/chain.pem \
		-key ca/elements/bg.key -Verify 3 -CAfile ca/elements/bg.crt \
		-verify_return_error -www -naccept 1 >sserver2.out 2>&1 &
	  echo $! >sserver2.pid; } &&
	test_atexit "kill $(cat sserver2.pid) 2>/dev/null" &&
	pf_wait_listen $bg $sport 10 &&
	test_must_fail tandem fetch -d bob --bg https://bg.a.example:$sport \
		--resolve bg.a.example:$sport:$bg 2>err &&
	echo "tandem fetch: GET https://bg.a.example:$sport/v1/mailbox: the background refused the TLS connection: unknown CA" >want &&
	test_cmp want err
'

test_expect_success 'the same from the agent section of tandem.conf (-c)' '
	cat >agent.conf <<-EOF &&
	agent {
	    submission = "$mta:$mport"
	    bg_url = "https://bg.a.example:$bport"
	    resolve = {"bg.a.example:$bport:$bg"}
	}
	EOF
	: >stub/log &&
	tandem send -d alice -c agent.conf --to bob@a.example --in m.eml >id2 &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	test_grep "^Message-ID: <$(cat id2)>" $(smtp_sink_files mta | tail -1)
'

test_expect_success 'a bad tandem.conf: 78, naming the file and line' '
	printf "agent {\n  submision = \"x:1\"\n}\n" >bad.conf &&
	test_expect_code 78 tandem fetch -d alice -c bad.conf 2>err &&
	test_grep "bad.conf:2" err
'

test_expect_success 'no background URL at all: a clear error (78)' '
	test_expect_code 78 tandem fetch -d alice --smtp $mta:$mport 2>err &&
	test_grep "no background URL" err
'

test_done
