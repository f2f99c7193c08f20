test_description='tandem read: an invitation from another courier is refused to both elements (figure 9)'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

# Real backgrounds (tandem-policyd) for public a and private b; an
# smtp-sink stands for b's foreground (the registered agent's FG part
# is its milter's, checked in the t/08xx scenarios).

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

TOKEN=Qm9iJ3MgcmVmZXJyYWwgdG9rZW4x
# What "tandem register" would have kept (this store comes from import).
REGADDR="INSERT INTO config VALUES ('register-address', 'tandem@b.example')"
IDOF="SELECT value FROM config WHERE name = 'reject:inv2@a.example:id'"
mta=$(pf_random_addr) mport=$(pf_random_port)

# invite FILE ID RECIPIENT [COURIER [SIGNER]]: an invitation mail signed
# by a's FG element (or SIGNER's: pki/SIGNER/elements/fg), as it comes
# into the Maildir.
invite() {
	_s=$TRASH/pki/${5:-a}
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.invitation\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: %s\nDate: 2026-01-31T12:00:00Z\n' "$2"
		printf 'Token: %s\nInviter: alice@a.example\n' "$TOKEN"
		printf 'Recipient: %s\nCourier: %s\n' "$3" "${4:-a.example}"
		printf 'Register-Address: tandem@a.example\n'
		printf 'Background-Url: %s\n' "$(bf_url a)"
		printf 'Message-Id: m1@a.example\nMessage-Id: m0@a.example\n'
		ag_part fg-cert "$_s/elements/fg.crt"
		printf -- '--b1--\n'
	} | crlf >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER \
		-signer "$_s/elements/fg.crt" -inkey "$_s/elements/fg.key" \
		-certfile "$_s/chain.pem" -in "$1.txt" -out "$1.der" &&
	mailof "$1.der" "$2" "$3" >"$1"
}

# mailof DER ID RCPT: the invitation mail carrying DER.
mailof() {
	{
		printf 'From: tandem@a.example\nTo: %s\n' "$3"
		printf 'Subject: Tandem invitation\n'
		printf 'Date: Sat, 31 Jan 2026 12:00:00 +0000\n'
		printf 'Message-ID: <%s>\nMIME-Version: 1.0\n' "$2"
		printf 'Tandem-Kind: invitation\n'
		printf 'Content-Type: multipart/mixed; boundary="m1"\n\n'
		printf -- '--m1\nContent-Type: text/plain\n\nRun tandem register.\n'
		printf -- '--m1\nContent-Type: application/pkcs7-mime; '
		printf 'smime-type=signed-data; name=invitation.p7m\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$1"
		printf -- '--m1--\n'
	} | crlf
}

# deliver FILE: into dave's Maildir.
deliver() {
	cp "$1" md/new/"$(date +%s).$$.$1"
}

read_dave() {
	tandem read -d b-dave.d --maildir md --smtp $mta:$mport $(bf_net b) \
		--resolve "bg.a.example:$BF_PORT_a:$BF_ADDR_a"
}

test_expect_success_here 'a (public) holds alice'"'"'s ARM for dave@b.example; dave is registered at b' '
	bf_setup >setup.log 2>&1 &&
	( cd "$TRASH/pki" &&
	  tandem-ca element -d a --fg tandem@a.example &&
	  tandem-ca element -d b --fg tandem@b.example &&
	  tandem-ca element -d c --fg tandem@c.example ) >>setup.log 2>&1 &&
	bf_account a alice active && bf_agent b dave &&
	sqlite3 b-dave.d/store.db "$REGADDR" &&
	mkdir -p md/new md/cur md/tmp &&
	pg_wait_for bg bgb "SELECT count(*) FROM accounts" 1 &&
	pg_psql fg fga -c "INSERT INTO invitations (address, message_id, token_hash, expires_at) VALUES (\$\$dave@b.example\$\$, \$\$m1@a.example\$\$, sha256(\$\$$TOKEN\$\$::bytea), now() + interval \$\$1 day\$\$)" &&
	pg_wait_for bg bga "SELECT count(*) FROM invitation_tokens" 1 &&
	bf_start a && bf_start b &&
	smtp_sink_start fg $mta $mport &&
	bf_post 201 a alice m1 dave@b.example &&
	test "$(bf_psql a "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 1
'

test_expect_success 'refused: an invitation naming another courier than its signer'"'"'s (18)' '
	invite bad1 inv-bad1@a.example dave@b.example c.example &&
	test_expect_code 18 tandem read -d b-dave.d --smtp $mta:$mport \
		$(bf_net b) bad1 2>err &&
	test_grep "names courier c.example but is signed by an element of a.example" err
'

test_expect_success 'refused: an invitation for another address (65), a tampered one (10)' '
	invite bad2 inv-bad2@a.example erin@b.example &&
	test_expect_code 65 tandem read -d b-dave.d --smtp $mta:$mport \
		$(bf_net b) bad2 2>err &&
	test_grep "an invitation for erin@b.example, not for dave@b.example" err &&
	invite bad3 inv-bad3@a.example dave@b.example &&
	perl -0777 -pe "s/Recipient: dave/Recipient: davf/" bad3.der >bad3.t.der &&
	! cmp -s bad3.der bad3.t.der &&
	mailof bad3.t.der inv-bad3@a.example dave@b.example >bad3.tampered &&
	test_expect_code 10 tandem read -d b-dave.d --smtp $mta:$mport \
		$(bf_net b) bad3.tampered 2>err &&
	test_grep "bad3.tampered: signature does not verify" err &&
	test "$(smtp_sink_files fg | wc -l)" = 0 &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox")" = 0
'

test_expect_success 'an invitation from its own courier b: left alone' '
	invite own inv-own@b.example dave@b.example b.example b &&
	tandem read -d b-dave.d --smtp $mta:$mport $(bf_net b) own 2>err &&
	test ! -s err &&
	test "$(smtp_sink_files fg | wc -l)" = 0 &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox")" = 0
'

test_expect_success 'tandem read refuses an invitation from a, with no action from dave' '
	invite inv inv1@a.example dave@b.example && deliver inv &&
	read_dave 2>err &&
	echo "tandem: md/new/$(ls md/new | grep inv): invitation from a.example refused: dave@b.example is registered at b.example (both elements told)" >want &&
	test_cmp want err
'

test_expect_success 'the FG got it: service mail to tandem@b.example, wrapped to dave'"'"'s courier end' '
	test "$(smtp_sink_files fg | wc -l)" = 1 &&
	f=$(smtp_sink_files fg) &&
	test_grep "^To: tandem@b.example" "$f" &&
	test_grep "^Tandem-Kind: service" "$f" &&
	ag_sink_body "$f" | base64 -d >fg.der &&
	openssl cms -decrypt -inform DER -in fg.der -out fg.signed \
		-recip "$TRASH/pki/b/accounts/dave@b.example/courier.crt" \
		-inkey "$TRASH/pki/b/accounts/dave@b.example/courier.key" &&
	openssl cms -verify -inform DER -in fg.signed -binary \
		-CAfile "$TRASH/pki/root/root.crt" -purpose any -out fg.txt \
		-signer fg.signer 2>/dev/null &&
	openssl x509 -in fg.signer -noout -ext subjectAltName | grep -q "email:dave@b.example" &&
	test_grep "^Content-Type: application/vnd.tandem.invitation-reject" fg.txt &&
	for f in "Token: $TOKEN" "Address: dave@b.example" \
		"Inviting-Courier: a.example" "Registered-Courier: b.example" \
		"Message-Id: m1@a.example" "Message-Id: m0@a.example" \
		"Background-Url: $(bf_url a)" "Tandem-Part: fg-cert"; do
		tr -d "\r" <fg.txt | grep -qx "$f" || { echo "missing: $f"; return 1; }
	done
'

test_expect_success 'the BG got it: b introduces itself to a, which releases the ARM to b' '
	test_grep "invitation-reject client=dave@b.example inviting=a.example url=$(bf_url a) status=queued" b.log &&
	pg_wait_for bg bgb "SELECT count(*) FROM bg_outbox WHERE sent_at IS NOT NULL" 1 &&
	pg_wait_for bg bga "SELECT address || \$\$ \$\$ || courier || \$\$ \$\$ || reason FROM address_routes" "dave@b.example b.example rejected" &&
	pg_wait_for bg bga "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 1 &&
	pg_wait_for bg bgb "SELECT address || \$\$ \$\$ || message_id FROM agent_mailbox" "dave@b.example m1@a.example" &&
	tandem fetch -d b-dave.d $(bf_net b) >fetched &&
	echo m1@a.example >fetched.want && test_cmp fetched.want fetched
'

test_expect_success 'reading again sends nothing more' '
	read_dave 2>err &&
	echo "tandem: no new messages" >want && test_cmp want err &&
	test "$(smtp_sink_files fg | wc -l)" = 1 &&
	test "$(bf_psql b "SELECT count(*) FROM seen_messages WHERE kind = \$\$invitation-reject\$\$")" = 1
'

test_expect_success 'the FG unreachable: 75; the BG is told; a later read mails only the FG, same Id' '
	invite inv2 inv2@a.example dave@b.example && deliver inv2 &&
	smtp_sink_stop fg &&
	test_expect_code 75 read_dave 2>err &&
	test_grep "inv2" err &&
	pg_wait_for bg bgb "SELECT count(*) FROM seen_messages WHERE kind = \$\$invitation-reject\$\$" 2 &&
	id=$(sqlite3 b-dave.d/store.db "$IDOF") &&
	test -n "$id" &&
	test "$(bf_psql b "SELECT count(*) FROM seen_messages WHERE message_id = \$\$$id\$\$")" = 1
'

test_expect_success_here 'the FG back: the next read mails it' '
	smtp_sink_start fg2 $mta $mport &&
	read_dave 2>err &&
	test_grep "invitation from a.example refused" err &&
	test "$(smtp_sink_files fg2 | wc -l)" = 1 &&
	ag_sink_body "$(smtp_sink_files fg2)" | base64 -d >fg2.der &&
	openssl cms -decrypt -inform DER -in fg2.der -out fg2.signed \
		-recip "$TRASH/pki/b/accounts/dave@b.example/courier.crt" \
		-inkey "$TRASH/pki/b/accounts/dave@b.example/courier.key" &&
	openssl cms -verify -inform DER -in fg2.signed -binary -noverify \
		-out fg2.txt 2>/dev/null &&
	tr -d "\r" <fg2.txt | grep -qx "Id: $(sqlite3 b-dave.d/store.db "$IDOF")"
'

test_expect_success 'SIGTERM stops the backgrounds' '
	bf_stop a && bf_stop b
'

test_done
