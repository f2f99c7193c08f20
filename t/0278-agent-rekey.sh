#!/bin/sh
test_description='tandem fetch: key replacement, the agent side (doc/flows.md 8)'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mta=$(pf_random_addr) mport=$(pf_random_port) dead=$(pf_random_port)
hport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port) b2port=$(pf_random_port)
bgnet="--bg https://bg.a.example:$bport --resolve bg.a.example:$bport:$bg"
net="--smtp $mta:$mport $bgnet"

# The test plays the foreground: what it sends, wrapped FG -> agent,
# waits in bob's mailbox at the background stub.

# notice FILE GEN [ADDRESS]: a notice-to-rekey, CRLF
notice() {
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: application/vnd.tandem.notice-to-rekey\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: n%s@a.example\nDate: 2026-12-01T00:00:00Z\n' "$2"
		printf 'Address: %s\nGeneration: %s\n' "${3:-bob@a.example}" "$2"
		printf 'Reason: policy\nDeadline: 2027-01-01T00:00:00Z\n'
	} | crlf >"$1"
}

# answer FILE GEN DIR [CHAIN]: the courier's exchange-keys answer with
# DIR's agent.crt and courier.crt, part ca-chain CHAIN (ca/chain.pem), CRLF
answer() {
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.exchange-keys\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: ek%s@a.example\nDate: 2026-12-01T00:00:00Z\n' "$2"
		printf 'Address: bob@a.example\nGeneration: %s\n' "$2"
		ag_part courier-cert "$3/courier.crt"
		ag_part agent-cert "$3/agent.crt"
		ag_part ca-chain "${4:-ca/chain.pem}"
		printf -- '--b1--\n'
	} | crlf >"$1"
}

# relay ID FILE RCPT [SIGNER KEY CHAIN]: FILE signed by SIGNER (the FG
# element), enveloped to RCPT, waits in the mailbox as ID@a.example
relay() {
	openssl cms -sign -binary -nodetach -outform DER \
		-signer "${4:-ca/elements/fg.crt}" -inkey "${5:-ca/elements/fg.key}" \
		-certfile "${6:-ca/chain.pem}" -in "$2" -out "stub/$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
		-in "stub/$1.signed" -out "stub/mailbox/$1" "$3" &&
	rm "stub/$1.signed" &&
	echo "$1@a.example" >"stub/mailbox/$1.msgid"
}

# opened MAIL RCPT KEY OUT: the body of a submitted mail, decrypted
# and verified to the root; OUT.signer is its signer
opened() {
	ag_sink_body "$1" | base64 -d >"$4.der" &&
	openssl cms -decrypt -inform DER -in "$4.der" -recip "$2" \
		-inkey "$3" -out "$4.signed" &&
	openssl cms -verify -inform DER -in "$4.signed" -binary \
		-CAfile root/root.crt -purpose any -signer "$4.signer" \
		-out "$4" 2>/dev/null
}

same_cert() {
	test "$(openssl x509 -in "$1" -noout -fingerprint -sha256)" = \
		"$(openssl x509 -in "$2" -noout -fingerprint -sha256)"
}

# csr_of TEXT OUT: the agent-csr part of an exchange-keys request
csr_of() {
	tr -d '\r' <"$1" |
	awk '/^Tandem-Part: agent-csr/ { p = 1; next }
	     p && /^$/ { if (s) exit; s = 1; next }
	     p && s && !/^--/ { print }' | base64 -d >"$2"
}

# issue CSR DIR: the courier CA issues bob's certificates for CSR
# (a new courier-end key with them), kept in DIR
issue() {
	tandem-ca account -d ca --address bob@a.example --csr "$1" >/dev/null &&
	mv ca/accounts/bob@a.example "$2"
}

snap() {
	sqlite3 bob/store.db "SELECT name, value FROM config ORDER BY name;
		SELECT generation, cert, retired > 0 FROM old_keys ORDER BY generation" >"$1"
}

mails() { smtp_sink_files mta | wc -l; }

# mailed FILE GEN DIR WRAPTO: the courier's exchange-keys answer with
# DIR's certificates, wrapped FG -> WRAPTO and mailed (Tandem-Kind:
# service) as registration's answer comes
mailed() {
	answer "$1.txt" "$2" "$3" &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key "$4" "$1.txt" "$1.wrap" &&
	ag_mail service tandem@a.example bob@a.example "$1@a.example" \
		"$1.wrap" >"$1"
}

# hard_sink NAME PORT: an smtp-sink on $mta:PORT refusing each mail at
# its end with a 550, as the foreground's milter does (smtp_sink_start
# cannot pass a reply with spaces in it)
hard_sink() {
	mkdir -p "$TRASH/sink-$1/mail" && chown nobody "$TRASH/sink-$1/mail" &&
	{ smtp-sink -u nobody -c -d "$TRASH/sink-$1/mail/%Y%m%d%H%M%S." \
		-f . -B "550 5.7.1 no rekey of bob@a.example is waiting" \
		"$mta:$2" 100 >"$TRASH/sink-$1/out" 2>&1 &
	  echo $! >"$TRASH/sink-$1/pid"; } &&
	test_atexit "smtp_sink_stop '$1'" &&
	pf_wait_listen $mta "$2" 10
}

test_expect_success 'a courier, alice and bob (generation 1), another courier' '
	ag_courier &&
	ag_users --courier-cert alice bob &&
	mv ca/accounts/bob@a.example gen1 &&
	sqlite3 bob/store.db "INSERT INTO config VALUES (\"register-address\", \"tandem@a.example\")" &&
	tandem-ca courier -d ca2 --name b.example --role public \
		--superior root >/dev/null &&
	tandem-ca element -d ca2 --fg tandem@b.example >/dev/null
'

test_expect_success_here 'an smtp-sink and the background stub' '
	smtp_sink_start mta $mta $mport &&
	ag_stub stub $bg $bport ca
'

test_expect_success 'registered: an exchange-keys by mail for generation 2 is refused (65), nothing changes' '
	sqlite3 bob/store.db "INSERT INTO config VALUES (\"alive-sent\", \"1\")" &&
	issue bob.csr mail2 && mailed m2.mail 2 mail2 gen1/agent.crt &&
	snap before &&
	test_expect_code 65 tandem read -d bob --smtp $mta:$mport m2.mail 2>err &&
	test_grep "refused: exchange-keys for generation 2 by mail, but this agent registered with generation 1: a new generation is taken only from the background, by \"tandem fetch\"; nothing changed" err &&
	snap after && test_cmp before after && test "$(mails)" = 0 &&
	! test -d stub/rekey &&
	sqlite3 bob/store.db "DELETE FROM config WHERE name = \"alive-sent\""
'

test_expect_success 'a notice signed by the BG element: refused (18), nothing changes' '
	notice n2.txt 2 && snap before &&
	relay bgn n2.txt gen1/agent.crt ca/elements/bg.crt ca/elements/bg.key &&
	test_expect_code 18 tandem fetch -d bob $net >out 2>err &&
	test_grep "notice-to-rekey signed by the background element, not the courier.s foreground element" err &&
	! test -s out && test "$(mails)" = 0 &&
	snap after && test_cmp before after &&
	test -f stub/mailbox/bgn && rm stub/mailbox/bgn*
'

test_expect_success 'a notice signed by another courier.s FG element: refused (18)' '
	relay other n2.txt gen1/agent.crt ca2/elements/fg.crt \
		ca2/elements/fg.key ca2/chain.pem &&
	test_expect_code 18 tandem fetch -d bob $net >out 2>err &&
	test_grep "signer is an element of another courier" err &&
	! test -s out && test "$(mails)" = 0 &&
	snap after && test_cmp before after &&
	test -f stub/mailbox/other && rm stub/mailbox/other*
'

test_expect_success 'an ARM signed by the FG element: refused (18)' '
	ag_msg x0@a.example x >m0.eml &&
	tandem seal -d alice --to bob@a.example --in m0.eml --sealed x.der \
		--arm x.arm >/dev/null &&
	relay fgarm x.arm gen1/agent.crt &&
	test_expect_code 18 tandem fetch -d bob $net 2>err &&
	test_grep "signed by the foreground element, not the courier.s background element" err &&
	snap after && test_cmp before after &&
	rm stub/mailbox/fgarm*
'

test_expect_success 'a notice for a later generation than the next: refused (65) and left' '
	notice n3.txt 3 && relay far n3.txt gen1/agent.crt &&
	test_expect_code 65 tandem fetch -d bob $net 2>err &&
	test_grep "notice-to-rekey for generation 3, but this agent is at generation 1" err &&
	test "$(mails)" = 0 && snap after && test_cmp before after &&
	test -f stub/mailbox/far && rm stub/mailbox/far*
'

test_expect_success 'the notice: exchange-keys with a CSR for a new key, to the service mailbox' '
	relay n2 n2.txt gen1/agent.crt && : >stub/log &&
	tandem fetch -d bob $net >out &&
	echo "rekey: asked for generation 2" >out.want && test_cmp out.want out &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/n2 200" \
		"DELETE /v1/mailbox/n2 204" >log.want && test_cmp log.want stub/log &&
	test "$(mails)" = 1 && f=$(smtp_sink_files mta) &&
	test_grep "^X-Mail-Args: <bob@a.example>" $f &&
	test_grep "^X-Rcpt-Args: <tandem@a.example>" $f &&
	test_grep "^From: <\{0,1\}bob@a.example" $f &&
	test_grep "^To: <\{0,1\}tandem@a.example" $f &&
	test_grep "^Tandem-Kind: service" $f &&
	opened $f gen1/courier.crt gen1/courier.key ek1.txt &&
	same_cert ek1.txt.signer gen1/agent.crt &&
	test_grep "application/vnd.tandem.exchange-keys" ek1.txt &&
	test "$(ag_field Address ek1.txt)" = bob@a.example &&
	test "$(ag_field Generation ek1.txt)" = 2 &&
	csr_of ek1.txt csr2.pem &&
	openssl req -in csr2.pem -verify -noout 2>/dev/null &&
	openssl req -in csr2.pem -noout -subject | grep -q "bob@a.example" &&
	openssl req -in csr2.pem -noout -pubkey >new.pub &&
	openssl x509 -in gen1/agent.crt -noout -pubkey >old.pub &&
	! cmp -s new.pub old.pub &&
	test "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"next-generation\"")" = 2 &&
	test -z "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"generation\"")" &&
	sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"next-key\"" |
		grep -q "BEGIN ENCRYPTED PRIVATE KEY"
'

test_expect_success 'the same notice again: the same next key is asked for' '
	relay n2b n2.txt gen1/agent.crt &&
	tandem fetch -d bob $net >out &&
	test_cmp out.want out &&
	test "$(mails)" = 2 && f=$(smtp_sink_files mta | tail -1) &&
	opened $f gen1/courier.crt gen1/courier.key ek1b.txt &&
	csr_of ek1b.txt csr2b.pem &&
	openssl req -in csr2b.pem -noout -pubkey >new2.pub &&
	test_cmp new.pub new2.pub
'

test_expect_success 'the courier issues: a wrong key, and the next key' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout wrong.key -subj /CN=bob@a.example -out wrong.csr 2>/dev/null &&
	issue wrong.csr wrong && issue csr2.pem gen2 &&
	answer ek2.txt 2 gen2 && answer wrong.txt 2 wrong
'

test_expect_success 'an answer whose agent-cert is not for the next key: refused (65), nothing changes' '
	snap before && : >stub/log &&
	relay wk wrong.txt gen1/agent.crt &&
	test_expect_code 65 tandem fetch -d bob $net >out 2>err &&
	test_grep "agent-cert is not for this agent.s key" err &&
	! test -s out && ! test -d stub/rekey && test "$(mails)" = 2 &&
	test_grep_not "v1/rekey" stub/log &&
	snap after && test_cmp before after &&
	test -f stub/mailbox/wk && rm stub/mailbox/wk*
'

test_expect_success 'an answer signed by the BG element: refused (18)' '
	relay bgek ek2.txt gen1/agent.crt ca/elements/bg.crt ca/elements/bg.key &&
	test_expect_code 18 tandem fetch -d bob $net >out 2>err &&
	test_grep "exchange-keys signed by the background element" err &&
	! test -d stub/rekey && snap after && test_cmp before after &&
	rm stub/mailbox/bgek*
'

test_expect_success 'the background answers 403 to /v1/rekey: still generation 1, left' '
	echo 403 >stub/rekey-status && : >stub/log &&
	relay ek2 ek2.txt gen1/agent.crt &&
	test_expect_code 17 tandem fetch -d bob $net >out 2>err &&
	test_grep "POST /v1/rekey: 403 stub says 403" err &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/ek2 200" \
		"POST /v1/rekey 403" >log.want && test_cmp log.want stub/log &&
	! test -s out && test "$(mails)" = 2 &&
	snap after && test_cmp before after &&
	test -f stub/mailbox/ek2
'

test_expect_success 'the answer: offered, installed, rekeying-complete with the new keys' '
	: >stub/log &&
	tandem fetch -d bob $net >out &&
	echo "rekey: now at generation 2" >out.want && test_cmp out.want out &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/ek2 200" \
		"POST /v1/rekey 200" "DELETE /v1/mailbox/ek2 204" >log.want &&
	test_cmp log.want stub/log &&
	cmp stub/rekey/2 gen2/agent.crt &&
	printf "application/pem-certificate-chain\n" >types.want &&
	uniq stub/rekey-types >types && test_cmp types.want types &&
	test "$(mails)" = 3 && f=$(smtp_sink_files mta | tail -1) &&
	test_grep "^X-Rcpt-Args: <tandem@a.example>" $f &&
	test_grep "^Tandem-Kind: service" $f &&
	! opened $f gen1/courier.crt gen1/courier.key rc.txt 2>/dev/null &&
	opened $f gen2/courier.crt gen2/courier.key rc.txt &&
	same_cert rc.txt.signer gen2/agent.crt &&
	test_grep "application/vnd.tandem.rekeying-complete" rc.txt &&
	test "$(ag_field Address rc.txt)" = bob@a.example &&
	test "$(ag_field Generation rc.txt)" = 2 &&
	q() { sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"$1\""; } &&
	test "$(q generation)" = 2 &&
	test -z "$(q next-generation)$(q next-key)$(q rekey-complete-pending)" &&
	q cert >cert.now && same_cert cert.now gen2/agent.crt &&
	q courier-cert >cc.now && same_cert cc.now gen2/courier.crt &&
	test "$(sqlite3 bob/store.db "SELECT generation FROM old_keys")" = 1 &&
	sqlite3 bob/store.db "SELECT cert FROM old_keys" >old.crt &&
	same_cert old.crt gen1/agent.crt
'

test_expect_success 'an ARM and a mail wrapped to the old certificate still open' '
	ag_msg old1@a.example "before the rekey" >old1.eml &&
	tandem seal -d alice --to bob@a.example --in old1.eml \
		--sealed old1.der --arm old1.arm >/dev/null &&
	relay arm1 old1.arm gen1/agent.crt ca/elements/bg.crt ca/elements/bg.key &&
	ag_field Message-Id old1.arm >stub/mailbox/arm1.msgid &&
	tandem fetch -d bob $net >out &&
	echo old1@a.example >out.want && test_cmp out.want out &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key gen1/agent.crt old1.der old1.wrap &&
	ag_mail content alice@a.example bob@a.example old1@a.example old1.wrap >old1.mail &&
	tandem read -d bob old1.mail >old1.out &&
	test_cmp old1.eml old1.out &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key gen2/agent.crt old1.der new1.wrap &&
	ag_mail content alice@a.example bob@a.example old1@a.example new1.wrap >new1.mail &&
	tandem read -d bob --all new1.mail >new1.out &&
	test_cmp old1.eml new1.out
'

test_expect_success 'a second fetch after completion changes nothing' '
	snap before && : >stub/log &&
	relay n2c n2.txt gen1/agent.crt && relay ek2c ek2.txt gen1/agent.crt &&
	tandem fetch -d bob $net >out 2>err &&
	! test -s out &&
	test_grep "notice-to-rekey for generation 2: already at generation 2" err &&
	test_grep "exchange-keys for generation 2: already at generation 2" err &&
	test_grep_not "v1/rekey" stub/log && test "$(ls stub/rekey | wc -l)" = 2 &&
	test "$(mails)" = 3 && snap after && test_cmp before after &&
	! test -f stub/mailbox/n2c && ! test -f stub/mailbox/ek2c
'

test_expect_success 'generation 3: asked with the generation 2 keys' '
	notice n3.txt 3 && relay n3 n3.txt gen2/agent.crt &&
	tandem fetch -d bob $net >out &&
	echo "rekey: asked for generation 3" >out.want && test_cmp out.want out &&
	f=$(smtp_sink_files mta | tail -1) &&
	opened $f gen2/courier.crt gen2/courier.key ek3.txt &&
	same_cert ek3.txt.signer gen2/agent.crt &&
	test "$(ag_field Generation ek3.txt)" = 3 &&
	csr_of ek3.txt csr3.pem && issue csr3.pem gen3 && answer ek3a.txt 3 gen3
'

test_expect_success 'rekeying-complete that cannot be mailed: installed, said, 75; sent at the next fetch' '
	relay ek3 ek3a.txt gen2/agent.crt &&
	test_expect_code 75 tandem fetch -d bob --smtp $mta:$dead $bgnet >out 2>err &&
	echo "rekey: now at generation 3" >out.want && test_cmp out.want out &&
	test_grep "rekeying-complete for generation 3 not sent" err &&
	! test -f stub/mailbox/ek3 && test "$(mails)" = 4 &&
	test "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"rekey-complete-pending\"")" = 3 &&
	test_expect_code 75 tandem fetch -d bob --smtp $mta:$dead $bgnet >out 2>err &&
	test_grep "rekeying-complete for generation 3 not sent: .*; it is sent again at the next fetch" err &&
	test "$(mails)" = 4 &&
	tandem fetch -d bob $net >out 2>err &&
	! test -s out &&
	test_grep "rekeying-complete for generation 3 sent" err &&
	test "$(mails)" = 5 && f=$(smtp_sink_files mta | tail -1) &&
	opened $f gen3/courier.crt gen3/courier.key rc3.txt &&
	same_cert rc3.txt.signer gen3/agent.crt &&
	test "$(ag_field Generation rc3.txt)" = 3 &&
	test -z "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"rekey-complete-pending\"")" &&
	test "$(sqlite3 bob/store.db "SELECT group_concat(generation) FROM (SELECT generation FROM old_keys ORDER BY generation)")" = 1,2 &&
	tandem fetch -d bob $net >out 2>err && ! test -s out && test "$(mails)" = 5
'

test_expect_success 'after two rekeys the first generation still opens' '
	tandem read -d bob --all old1.mail >old1.out &&
	test_cmp old1.eml old1.out
'

test_expect_success 'by mail after rekeys: registration.s answer is ignored, a new generation for the current key refused (65)' '
	snap before && n=$(mails) && p=$(ls stub/rekey | wc -l) &&
	mailed m1.mail 1 gen1 gen3/agent.crt &&
	tandem read -d bob --smtp $mta:$mport m1.mail 2>err &&
	issue csr3.pem mail4 && mailed m4.mail 4 mail4 gen3/agent.crt &&
	test_expect_code 65 tandem read -d bob --smtp $mta:$mport m4.mail 2>err &&
	test_grep "refused: exchange-keys for generation 4 by mail, but this agent registered with generation 1" err &&
	snap after && test_cmp before after && test "$(mails)" = $n &&
	test "$(ls stub/rekey | wc -l)" = $p
'

test_expect_success 'generation 4 asked for' '
	notice n4.txt 4 && relay n4 n4.txt gen3/agent.crt &&
	tandem fetch -d bob $net >out &&
	echo "rekey: asked for generation 4" >out.want && test_cmp out.want out &&
	opened $(smtp_sink_files mta | tail -1) gen3/courier.crt \
		gen3/courier.key ek4.txt &&
	csr_of ek4.txt csr4.pem && issue csr4.pem gen4 && answer ek4a.txt 4 gen4
'

test_expect_success_here 'a mail server that refuses for good (550)' '
	hard_sink hard $hport
'

test_expect_success 'rekeying-complete refused for good: said with the reply, 17 once, not sent again' '
	relay ek4 ek4a.txt gen3/agent.crt &&
	test_expect_code 17 tandem fetch -d bob --smtp $mta:$hport $bgnet >out 2>err &&
	echo "rekey: now at generation 4" >out.want && test_cmp out.want out &&
	test_grep "tandem fetch: the courier refused rekeying-complete for generation 4 for good: smtp://$mta:$hport answered: 550 5.7.1 no rekey of bob@a.example is waiting; it is not sent again: its operator must look into it" err &&
	test_grep_not "sent again at the next fetch" err &&
	q() { sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"$1\""; } &&
	test "$(q generation)" = 4 && test -z "$(q rekey-complete-pending)" &&
	! test -f stub/mailbox/ek4 &&
	tandem fetch -d bob --smtp $mta:$dead $bgnet >out 2>err &&
	! test -s out && ! test -s err
'

# relay2 ID FILE RCPT [SIGNER KEY CHAIN]: as relay, in b's background
relay2() {
	relay "$@" && mv "stub/mailbox/$1" "stub/mailbox/$1.msgid" stub2/mailbox/
}

both="--resolve bg.b.example:$b2port:$bg"
# a.s background, which the agent asks after it moved (no --bg)
left="--resolve bg.a.example:$bport:$bg"

test_expect_success_here 'b.s background (a second stub)' '
	tandem-ca element -d ca2 --bg https://bg.b.example:$b2port >/dev/null &&
	ag_stub stub2 $bg $b2port ca2
'

# tnotice FILE ID COURIER MAILBOX CHAIN: a notice for generation 5
# naming the new courier COURIER, its foreground at MAILBOX, part
# ca-chain CHAIN, CRLF
tnotice() {
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.notice-to-rekey\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: %s@a.example\nDate: 2026-12-01T00:00:00Z\n' "$2"
		printf 'Address: bob@a.example\nGeneration: 5\n'
		printf 'Reason: your address moves to %s\n' "$3"
		printf 'Deadline: 2027-01-01T00:00:00Z\n'
		printf 'Courier: %s\nForeground-Address: %s\n' "$3" "$4"
		printf 'Background-Url: https://bg.b.example:%s\n' "$b2port"
		ag_part ca-chain "$5"
		printf -- '--b1--\n'
	} | crlf >"$1"
}

test_expect_success 'a transfer notice whose ca-chain is not the foreground it names: refused (65), nothing asked' '
	cat ca/elements/fg.crt ca/chain.pem >own-fg.pem &&
	tnotice tx1.txt tx1 b.example tandem@b.example own-fg.pem &&
	relay tx1 tx1.txt gen4/agent.crt && snap before && n=$(mails) &&
	test_expect_code 65 tandem fetch -d bob $net >out 2>err &&
	test_grep "refused: notice-to-rekey for a transfer to b.example at tandem@b.example, but its ca-chain is the foreground of a.example at tandem@a.example" err &&
	! test -s out && test "$(mails)" = $n &&
	snap after && test_cmp before after &&
	test -f stub/mailbox/tx1 && rm stub/mailbox/tx1*
'

test_expect_success 'the notice of a transfer to b: the next key asked of b.s foreground, wrapped to its element' '
	cat ca2/elements/fg.crt ca2/chain.pem >b-fg.pem &&
	tnotice tx2.txt tx2 b.example tandem@b.example b-fg.pem &&
	relay tx2 tx2.txt gen4/agent.crt && n=$(mails) &&
	tandem fetch -d bob $net $both >out &&
	echo "transfer: asked b.example for generation 5" >out.want &&
	test_cmp out.want out &&
	test "$(mails)" = $((n + 1)) && f=$(ls -t $(smtp_sink_files mta) | head -1) &&
	test_grep "^X-Mail-Args: <bob@a.example>" $f &&
	test_grep "^X-Rcpt-Args: <tandem@b.example>" $f &&
	test_grep "^Tandem-Kind: service" $f &&
	opened $f ca2/elements/fg.crt ca2/elements/fg.key tek.txt &&
	same_cert tek.txt.signer gen4/agent.crt &&
	test_grep "application/vnd.tandem.exchange-keys" tek.txt &&
	test "$(ag_field Address tek.txt)" = bob@a.example &&
	test "$(ag_field Generation tek.txt)" = 5 &&
	csr_of tek.txt tcsr.pem &&
	openssl req -in tcsr.pem -verify -noout 2>/dev/null &&
	openssl req -in tcsr.pem -noout -pubkey >tnew.pub &&
	openssl x509 -in gen4/agent.crt -noout -pubkey >g4.pub &&
	! cmp -s tnew.pub g4.pub &&
	q() { sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"$1\""; } &&
	test "$(q transfer-courier)" = b.example &&
	test "$(q transfer-fg)" = tandem@b.example &&
	test "$(q transfer-bg)" = https://bg.b.example:$b2port &&
	test "$(q generation)" = 4 && test "$(q next-generation)" = 5 &&
	! test -f stub/mailbox/tx2 &&
	test "$(cat stub2/log)" = "GET /v1/mailbox 200"
'

test_expect_success 'b.s background does not serve bob yet (403, its replication lags): a temporary failure (75), the transfer kept' '
	echo 403 >stub2/list-status && : >stub2/log && snap before &&
	test_expect_code 75 tandem fetch -d bob $net $both >out 2>err &&
	test_grep "the new courier.s background does not serve this agent yet (403 stub says 403); it is asked again at the next fetch" err &&
	! test -s out && test "$(cat stub2/log)" = "GET /v1/mailbox 403" &&
	snap after && test_cmp before after &&
	test "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"transfer-courier\"")" = b.example
'

test_expect_success 'past the notice.s deadline, a 403 there gives the transfer up: bob stays with a' '
	cp bob/store.db store.keep &&
	sqlite3 bob/store.db "INSERT OR REPLACE INTO config VALUES (\"transfer-deadline\", \"2026-11-30T10:00:00Z\")" &&
	echo 403 >stub2/list-status && : >stub2/log &&
	tandem fetch -d bob $net $both >out 2>err &&
	test_grep "the transfer to b.example was not taken up by its new courier before 2026-11-30T10:00:00Z: given up; this agent stays with its courier" err &&
	test -z "$(sqlite3 bob/store.db "SELECT name FROM config WHERE name LIKE \"transfer-%\"")" &&
	test "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"generation\"")" = 4 &&
	cp store.keep bob/store.db
'

test_expect_success 'b issues generation 5; an answer there signed by a.s foreground: refused (18), left' '
	tandem-ca account -d ca2 --address bob@a.example --csr tcsr.pem >/dev/null &&
	mv ca2/accounts/bob@a.example gen5 &&
	answer ta.txt 5 gen5 ca2/chain.pem &&
	relay2 tx3 ta.txt gen4/agent.crt && snap before &&
	test_expect_code 18 tandem fetch -d bob $net $both >out 2>err &&
	test_grep "signer is an element of another courier" err &&
	! test -s out && snap after && test_cmp before after &&
	test -f stub2/mailbox/tx3 && rm stub2/mailbox/tx3* &&
	test "$(sed -n 1p stub/log)" = "GET /v1/mailbox 200"
'

test_expect_success 'the answer from b.s background: offered there, installed, the agent moves to b' '
	relay2 tx4 ta.txt gen4/agent.crt ca2/elements/fg.crt \
		ca2/elements/fg.key ca2/chain.pem &&
	: >stub2/log && n=$(mails) &&
	tandem fetch -d bob $net $both >out &&
	test "$(mails)" = $((n + 1)) &&
	printf "%s\n" "rekey: now at generation 5" \
		"transfer: now with b.example (background https://bg.b.example:$b2port)" >out.want &&
	test_cmp out.want out &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/tx4 200" \
		"POST /v1/rekey 200" "DELETE /v1/mailbox/tx4 204" >log.want &&
	test_cmp log.want stub2/log &&
	same_cert stub2/rekey/1 gen5/agent.crt &&
	q() { sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"$1\""; } &&
	test "$(q generation)" = 5 && test "$(q bg-url)" = https://bg.b.example:$b2port &&
	test "$(q register-address)" = tandem@b.example &&
	test -z "$(q transfer-bg)$(q transfer-fg)$(q transfer-chain)$(q transfer-courier)" &&
	test -z "$(q rekey-complete-fg)$(q rekey-complete-pending)"
'

test_expect_success 'rekeying-complete went to b.s foreground, wrapped to its element, signed with the new key' '
	f=$(ls -t $(smtp_sink_files mta) | head -1) &&
	test_grep "^X-Rcpt-Args: <tandem@b.example>" $f &&
	opened $f ca2/elements/fg.crt ca2/elements/fg.key trc.txt &&
	same_cert trc.txt.signer gen5/agent.crt &&
	test_grep "application/vnd.tandem.rekeying-complete" trc.txt &&
	test "$(ag_field Generation trc.txt)" = 5
'

test_expect_success 'what a.s background filed before it knew of the move: fetched with generation 4, its foreground refused there (18)' '
	ag_msg late@a.example "filed at a after the move" >late.eml &&
	tandem seal -d alice --to bob@a.example --in late.eml \
		--sealed late.der --arm late.arm >/dev/null &&
	relay late late.arm gen4/agent.crt ca/elements/bg.crt ca/elements/bg.key &&
	ag_field Message-Id late.arm >stub/mailbox/late.msgid &&
	relay lfg n2.txt gen4/agent.crt &&
	: >stub/log && : >stub2/log &&
	test_expect_code 18 tandem fetch -d bob --smtp $mta:$mport $both $left >out 2>err &&
	echo late@a.example >out.want && test_cmp out.want out &&
	test_grep "refused: an item signed by the foreground of the courier this agent left" err &&
	test "$(cat stub2/log)" = "GET /v1/mailbox 200" &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/late 200" \
		"DELETE /v1/mailbox/late 204" "GET /v1/mailbox/lfg 200" >log.want &&
	test_cmp log.want stub/log &&
	test -f stub/mailbox/lfg && rm stub/mailbox/lfg* &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key gen4/agent.crt late.der late.wrap &&
	ag_mail content alice@a.example bob@a.example late@a.example late.wrap >late.mail &&
	tandem read -d bob late.mail >late.out && test_cmp late.eml late.out
'

test_expect_success 'a.s background answers 410 once it knows and holds nothing: a.s background forgotten' '
	echo 410 >stub/list-status && : >stub/log &&
	tandem fetch -d bob --smtp $mta:$mport $both $left >out 2>err &&
	! test -s out &&
	test_grep "the courier this agent left holds nothing more for it" err &&
	test "$(cat stub/log)" = "GET /v1/mailbox 410" &&
	q() { sqlite3 bob/store.db "SELECT value FROM config WHERE name = \"$1\""; } &&
	test -z "$(q left-bg)$(q left-generation)$(q left-since)" &&
	: >stub/log && tandem fetch -d bob --smtp $mta:$mport $both $left >out 2>err &&
	! test -s stub/log && ! test -s err
'

test_expect_success 'a background left 14 days ago is no longer asked, and that is said' '
	sqlite3 bob/store.db "INSERT INTO config VALUES (\"left-bg\", \"https://bg.a.example:$bport\"), (\"left-generation\", \"4\"), (\"left-since\", \"$(($(date +%s) - 15 * 86400))\")" &&
	: >stub/log &&
	tandem fetch -d bob --smtp $mta:$mport $both $left >out 2>err &&
	! test -s stub/log &&
	test_grep "https://bg.a.example:$bport, the background of the courier this agent left, is no longer asked: 14 days passed" err &&
	test -z "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name LIKE \"left-%\"")"
'

test_expect_success 'a.s background refuses the agent for good (403): no longer asked, and that is said' '
	sqlite3 bob/store.db "INSERT INTO config VALUES (\"left-bg\", \"https://bg.a.example:$bport\"), (\"left-generation\", \"4\"), (\"left-since\", \"$(date +%s)\")" &&
	echo 403 >stub/list-status && : >stub/log &&
	tandem fetch -d bob --smtp $mta:$mport $both $left >out 2>err &&
	test "$(cat stub/log)" = "GET /v1/mailbox 403" &&
	test_grep "https://bg.a.example:$bport, the background of the courier this agent left, refuses it (403 stub says 403): no longer asked" err &&
	test -z "$(sqlite3 bob/store.db "SELECT value FROM config WHERE name LIKE \"left-%\"")"
'

test_expect_success 'from now on the agent fetches from b; a.s background is refused by its pin' '
	: >stub2/log &&
	tandem fetch -d bob --smtp $mta:$mport $both >out &&
	! test -s out && test "$(cat stub2/log)" = "GET /v1/mailbox 200" &&
	test_expect_code 75 tandem fetch -d bob $net >out 2>err &&
	test_grep "the background.s certificate is not of this agent.s courier" err
'

test_done
