#!/bin/sh
test_description='tandem register: invitation, registration mail, exchange-keys, agent-alive'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=dave-pw
export TANDEM_PASSWORD
addr=$(pf_random_addr)
port=$(pf_random_port)

test_expect_success 'a courier with its elements; a signed invitation' '
	ag_courier &&
	invitation inv.txt &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv.txt inv.der
'

test_expect_success_here 'an smtp-sink stands in for the MTA' '
	smtp_sink_start mta $addr $port
'

test_expect_success 'register mails the registration and returns' '
	tandem register -d dave --invitation inv.der --anchor root/root.crt \
		--smtp $addr:$port --no-wait 2>err &&
	test_grep "registration for dave@a.example sent to tandem@a.example" err &&
	smtp_sink_files mta >files && test $(wc -l <files) = 1
'

test_expect_success 'the registration: service mail from the address to Register-Address' '
	f=$(head -1 files) &&
	test_grep "^X-Mail-Args: <dave@a.example>" $f &&
	test_grep "^X-Rcpt-Args: <tandem@a.example>" $f &&
	test_grep "^From: dave@a.example" $f &&
	test_grep "^To: tandem@a.example" $f &&
	test_grep "^Tandem-Kind: service" $f &&
	test_grep "^Subject: Tandem service message" $f
'

test_expect_success 'only the FG element key opens it: token, address, a CSR of the stored key' '
	f=$(head -1 files) &&
	registration_csr $f dave.csr &&
	test "$(ag_field Token reg.txt)" = Qm9iJ3MgcmVmZXJyYWwgdG9rZW4 &&
	test "$(ag_field Address reg.txt)" = dave@a.example &&
	test_grep "^Content-Type: application/vnd.tandem.registration" reg.txt &&
	openssl req -in dave.csr -noout -verify &&
	openssl req -in dave.csr -noout -pubkey >csr.pub &&
	sqlite3 dave/store.db "SELECT value FROM config WHERE name = '\''pubkey'\''" |
	openssl pkey -pubin >store.pub &&
	test_cmp store.pub csr.pub &&
	test_must_fail openssl cms -decrypt -inform DER -in reg.der \
		-recip ca/elements/bg.crt -inkey ca/elements/bg.key -out x
'

test_expect_success 'the answer in the Maildir: read installs it and mails agent-alive' '
	tandem-ca account -d ca --address dave@a.example --csr dave.csr &&
	mkdir -p md/new md/cur md/tmp &&
	exchange_keys dave@a.example md/new/1.ek &&
	tandem read -d dave --maildir md --smtp $addr:$port 2>err &&
	test_grep "generation 1 installed for dave@a.example" err &&
	smtp_sink_files mta >files && test $(wc -l <files) = 2 &&
	f=$(tail -1 files) &&
	test_grep "^X-Rcpt-Args: <tandem@a.example>" $f &&
	ag_sink_body $f | base64 -d >alive.der &&
	ag_unwrap alive.der ca/accounts/dave@a.example/courier.crt \
		ca/accounts/dave@a.example/courier.key alive.txt &&
	test_grep "^Content-Type: application/vnd.tandem.agent-alive" alive.txt &&
	test "$(ag_field Address alive.txt)" = dave@a.example &&
	test "$(ag_field Generation alive.txt)" = 1 &&
	openssl cms -cmsout -print -inform DER -in alive.txt.signed >sig.txt &&
	test_grep "CN=dave@a.example" sig.txt
'

test_expect_success 'the answer again: nothing new, no second agent-alive' '
	tandem read -d dave --maildir md --smtp $addr:$port &&
	smtp_sink_files mta >files && test $(wc -l <files) = 2
'

test_expect_success 'the agent now seals with the certificate from the answer' '
	printf "From: dave@a.example\r\nTo: x@a.example\r\nSubject: s\r\n\r\nhi\r\n" >m.eml &&
	tandem seal -d dave --to x@a.example --in m.eml --sealed m.der --arm m.arm
'

test_expect_success 'register waits for the answer, then sends agent-alive' '
	invitation inv2.txt erin@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv2.txt inv2.der &&
	mkdir -p md2/new md2/cur md2/tmp &&
	{ tandem register -d erin --invitation inv2.der --anchor root/root.crt \
		--smtp $addr:$port --maildir md2 --timeout 60 2>reg.err &
	  echo $! >reg.pid; } &&
	n=0 && until [ $(smtp_sink_files mta | wc -l) -ge 3 ] &&
		registration_csr "$(smtp_sink_files mta | tail -1)" erin.csr 2>/dev/null; do
		[ $n -lt 600 ] || return 1; sleep 0.1; n=$((n + 1)); done &&
	tandem-ca account -d ca --address erin@a.example --csr erin.csr &&
	exchange_keys erin@a.example md2/new/1.ek &&
	wait $(cat reg.pid) &&
	test_grep "generation 1 installed for erin@a.example" reg.err &&
	smtp_sink_files mta >files && test $(wc -l <files) = 4 &&
	test_grep "^From: erin@a.example" $(tail -1 files)
'

test_expect_success 'no answer within --timeout: 75, the registration stays' '
	invitation inv3.txt fay@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv3.txt inv3.der &&
	test_expect_code 75 tandem register -d fay --invitation inv3.der \
		--anchor root/root.crt --smtp $addr:$port --maildir md2 \
		--timeout 2 2>err &&
	test_grep "no answer from the courier within 2 s" err &&
	test $(grep -c "1.ek: cannot decrypt" err) = 1 &&
	test -f fay/store.db
'

test_expect_success 'an invitation as the mail it comes in' '
	invitation inv4.txt gus@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv4.txt inv4.der &&
	{ printf "From: tandem@a.example\nTo: gus@a.example\n"
	  printf "Subject: alice@a.example sent you a private message\n"
	  printf "Date: Sat, 28 Nov 2026 23:50:00 +0000\n"
	  printf "Message-ID: <inv4@a.example>\nMIME-Version: 1.0\n"
	  printf "Tandem-Kind: invitation\n"
	  printf "Content-Type: multipart/mixed; boundary=\"m1\"\n\n"
	  printf -- "--m1\nContent-Type: text/plain; charset=utf-8\n\nRun tandem register.\n"
	  printf -- "--m1\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=invitation.p7m\n"
	  printf "Content-Transfer-Encoding: base64\n\n"
	  base64 -w 76 inv4.der
	  printf -- "--m1--\n"; } | crlf >inv4.eml &&
	tandem register -d gus --invitation inv4.eml --anchor root/root.crt \
		--smtp $addr:$port --no-wait
'

test_expect_success 'refused: invitation under another root (12), no store made' '
	tandem-ca root -d root2 --name other.example >/dev/null &&
	test_expect_code 12 tandem register -d x1 --invitation inv.der \
		--anchor root2/root.crt --smtp $addr:$port --no-wait 2>err &&
	test_grep "refused\|verif\|certif" err &&
	test ! -f x1/store.db
'

test_expect_success 'refused: invitation signed by the BG element (18)' '
	ag_sign ca/elements/bg.crt ca/elements/bg.key inv.txt inv-bg.der &&
	test_expect_code 18 tandem register -d x2 --invitation inv-bg.der \
		--anchor root/root.crt --smtp $addr:$port --no-wait 2>err &&
	test_grep "not the courier.s foreground element" err &&
	test ! -f x2/store.db
'

test_expect_success 'refused: an expired invitation (65), garbage (65), another address (64)' '
	invitation inv5.txt hal@a.example 2020-01-01T00:00:00Z &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv5.txt inv5.der &&
	test_expect_code 65 tandem register -d x3 --invitation inv5.der \
		--anchor root/root.crt --smtp $addr:$port --no-wait 2>err &&
	test_grep "the invitation expired at 2020-01-01T00:00:00Z" err &&
	printf "\060garbage" >junk &&
	test_expect_code 65 tandem register -d x3 --invitation junk \
		--anchor root/root.crt --smtp $addr:$port --no-wait &&
	test_expect_code 64 tandem register -d x3 --invitation inv.der \
		--address zed@a.example --anchor root/root.crt --no-wait 2>err &&
	test_grep "the invitation is for dave@a.example, not zed@a.example" err &&
	test ! -f x3/store.db
'

test_expect_success 'refused: a missing --anchor file (66), no store made' '
	test_expect_code 66 tandem register -d x5 --invitation inv.der \
		--anchor no-such-root.crt --smtp $addr:$port --no-wait 2>err &&
	test_grep "no-such-root.crt: No such file or directory" err &&
	test ! -f x5/store.db
'

test_expect_success 'the MTA unreachable: 75 and the new store is removed' '
	invitation inv6.txt ida@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv6.txt inv6.der &&
	test_expect_code 75 tandem register -d x4 --invitation inv6.der \
		--anchor root/root.crt --smtp 127.0.0.1:1 --no-wait 2>err &&
	test_grep "smtp://127.0.0.1:1: Couldn.t connect" err &&
	test ! -f x4/store.db && test ! -f x4/anchors.pem
'

test_expect_success 'refused: an answer signed by the BG element (18), nothing installed' '
	invitation inv7.txt joe@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv7.txt inv7.der &&
	tandem register -d joe --invitation inv7.der --anchor root/root.crt \
		--smtp $addr:$port --no-wait &&
	registration_csr "$(smtp_sink_files mta | tail -1)" joe.csr &&
	tandem-ca account -d ca --address joe@a.example --csr joe.csr &&
	mkdir -p md3/new md3/cur md3/tmp &&
	exchange_keys joe@a.example md3/new/1.ek ca/elements/bg.crt ca/elements/bg.key &&
	test_expect_code 18 tandem read -d joe --maildir md3 --smtp $addr:$port 2>err &&
	test_grep "not the courier.s foreground element" err &&
	test -z "$(sqlite3 joe/store.db "SELECT value FROM config WHERE name = '\''cert'\''")"
'

# inv_mail ID DATE TOKEN ADDR OUT [EXPIRES]: a signed invitation with that
# Id, Date and Token, as the mail it comes in (Message-ID: the Id)
inv_mail() {
	invitation "$1.txt" "$4" "$6" &&
	sed -i "s/^Id: .*/Id: $1\r/; s/^Date: .*/Date: $2\r/; s/^Token: .*/Token: $3\r/" "$1.txt" &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key "$1.txt" "$1.der" &&
	{ printf "From: tandem@a.example\nTo: %s\n" "$4"
	  printf "Subject: You are invited to Tandem private mail\n"
	  printf "Message-ID: <%s>\nMIME-Version: 1.0\n" "$1"
	  printf "Tandem-Kind: invitation\n"
	  printf "Content-Type: multipart/mixed; boundary=\"m1\"\n\n"
	  printf -- "--m1\nContent-Type: text/plain; charset=utf-8\n\nRun tandem register.\n"
	  printf -- "--m1\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=invitation.p7m\n"
	  printf "Content-Transfer-Encoding: base64\n\n"
	  base64 -w 76 "$1.der"
	  printf -- "--m1--\n"; } | crlf >"$5"
}

test_expect_success 'no invitation given: the newest for the address in the Maildir, named; an expired one named, not used' '
	mkdir -p md4/new md4/cur md4/tmp &&
	inv_mail old@a.example 2026-02-01T12:00:00Z T2xkZXIgdG9rZW4x kim@a.example md4/new/1.old &&
	inv_mail new@a.example 2026-03-01T12:00:00Z TmV3ZXIgdG9rZW4x kim@a.example md4/cur/2.new &&
	inv_mail gone@a.example 2026-04-01T12:00:00Z R29uZSB0b2tlbiBvbGQ kim@a.example md4/new/3.gone 2020-01-01T00:00:00Z &&
	tandem register -d kim --anchor root/root.crt --smtp $addr:$port \
		--maildir md4 --no-wait 2>err &&
	test_grep "md4/new/3.gone: not used: the invitation expired at 2020-01-01T00:00:00Z" err &&
	test_grep "2 invitations; the newest is taken" err &&
	test_grep "the invitation new@a.example for kim@a.example, of 2026-03-01T12:00:00Z: md4/cur/2.new" err &&
	registration_csr "$(smtp_sink_files mta | tail -1)" kim.csr &&
	test "$(ag_field Token reg.txt)" = TmV3ZXIgdG9rZW4x &&
	test "$(ag_field Address reg.txt)" = kim@a.example
'

test_expect_success 'a registration link takes the invitation it names, not the newest' '
	tandem register -d kim2 --anchor root/root.crt --maildir md4 --no-wait \
		tandem:register,id=old@a.example,smtp=$addr:$port 2>err &&
	test_grep "the invitation old@a.example for kim@a.example, of 2026-02-01T12:00:00Z: md4/new/1.old" err &&
	test_grep_not "3.gone" err &&
	registration_csr "$(smtp_sink_files mta | tail -1)" kim2.csr &&
	test "$(ag_field Token reg.txt)" = T2xkZXIgdG9rZW4x
'

test_expect_success 'a link to an expired invitation: its reason, 65; none in an empty Maildir: 66; no store made' '
	test_expect_code 65 tandem register -d x6 --anchor root/root.crt \
		--maildir md4 --smtp $addr:$port --no-wait \
		tandem:register?id=gone@a.example 2>err &&
	test_grep "the invitation gone@a.example in md4: the invitation expired at 2020-01-01T00:00:00Z" err &&
	mkdir -p md5/new md5/cur md5/tmp &&
	test_expect_code 66 tandem register -d x6 --anchor root/root.crt \
		--maildir md5 --smtp $addr:$port --no-wait 2>err &&
	test_grep "no invitation in md5; give the invitation as a file (--invitation) if it is elsewhere" err &&
	test_expect_code 64 tandem register -d x6 --anchor root/root.crt \
		--invitation inv.der md5/x --no-wait 2>err &&
	test_grep "at most one invitation" err &&
	test ! -f x6/store.db
'

test_done
