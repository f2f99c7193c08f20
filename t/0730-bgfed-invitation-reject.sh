test_description='policyd: invitation reject on the background path (figure 9)'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

test_have_prog curl || test_skip_all 'curl not found'

TOKEN=Qm9iJ3MgcmVmZXJyYWwgdG9rZW4x

# invitation FILE TOKEN ADDRESS URL: a's FG invites ADDRESS, signed (DER)
invitation() {
	_a=$TRASH/pki/a
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.invitation\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: i-%s@a.example\r\nDate: 2026-01-01T00:00:00Z\r\n' "$1"
		printf 'Token: %s\r\nInviter: alice@a.example\r\n' "$2"
		printf 'Recipient: %s\r\nCourier: a.example\r\n' "$3"
		printf 'Register-Address: tandem@a.example\r\n'
		printf 'Background-Url: %s\r\nMessage-Id: inv1@a.example\r\n' "$4"
		printf -- '--b1\r\nContent-Type: application/pem-certificate-chain\r\n'
		printf 'Content-Transfer-Encoding: base64\r\nTandem-Part: fg-cert\r\n\r\n'
		base64 -w 76 "$_a/elements/fg.crt" | sed "s/\$/\r/"
		printf -- '--b1--\r\n'
	} >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER -in "$1.txt" \
		-signer "$_a/elements/fg.crt" -inkey "$_a/elements/fg.key" \
		-certfile "$_a/chain.pem" -out "$1"
}

# reject FILE ID TOKEN [ADDRESS [URL]]: dave's invitation-reject, wrapped
# by his agent to his courier end at b, with the invitation a's FG
# signed (b takes the Background-Url only from it).
reject() {
	invitation "$1.inv" "$3" "${4:-dave@b.example}" "${5:-$(bf_url a)}" &&
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.invitation-reject\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s\r\nDate: %s\r\n' "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'Token: %s\r\nAddress: %s\r\n' "$3" "${4:-dave@b.example}"
		printf 'Inviting-Courier: a.example\r\n'
		printf 'Registered-Courier: b.example\r\n'
		printf 'Message-Id: inv1@a.example\r\n'
		printf 'Background-Url: %s\r\n' "${5:-$(bf_url a)}"
		printf -- '--b1\r\nContent-Type: application/pkcs7-mime\r\n'
		printf 'Content-Transfer-Encoding: base64\r\nTandem-Part: invitation\r\n\r\n'
		base64 -w 76 "$1.inv" | sed "s/\$/\r/"
		printf -- '--b1--\r\n'
	} >"$1" &&
	openssl cms -sign -binary -nodetach -in "$1" -signer b-dave.pem \
		-inkey b-dave.key -certfile "$TRASH/pki/b/chain.pem" \
		-outform DER -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$1.signed" -inform DER \
		-outform DER \
		-recip "$TRASH/pki/b/accounts/dave@b.example/courier.crt" \
		-keyopt ecdh_kdf_md:sha256 -out "$1.p7m"
}

# post WANT FILE: dave POSTs it to his BG.
post() {
	code=$(curl -s -o out.body -w "%{http_code}" --cert b-dave.pem \
		--key b-dave.key --cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.b.example:$BF_PORT_b:$BF_ADDR_b" \
		--data-binary @"$2.p7m" "$(bf_url b)v1/invitation-reject") &&
	test "$code" = "$1" || { echo "post $2: got $code, want $1"; cat out.body; return 1; }
}

test_expect_success_here 'public a invites dave@b.example, who is registered at private b' '
	bf_setup >setup.log 2>&1 &&
	(cd "$TRASH/pki" && tandem-ca element -d a --fg tandem@a.example) \
		>>setup.log 2>&1 &&
	bf_account a alice active && bf_account b dave active &&
	pg_wait_for bg bgb "SELECT count(*) FROM accounts" 1 &&
	pg_psql fg fga -c "INSERT INTO invitations (address, message_id, token_hash, expires_at) VALUES (\$\$dave@b.example\$\$, \$\$inv1@a.example\$\$, sha256(\$\$$TOKEN\$\$::bytea), now() + interval \$\$1 day\$\$)" &&
	pg_wait_for bg bga "SELECT count(*) FROM invitation_tokens" 1 &&
	bf_start a && bf_start b
'

test_expect_success 'a holds alice'"'"'s ARM for dave (no route)' '
	bf_post 201 a alice m1 dave@b.example &&
	test "$(bf_psql a "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 1
'

test_expect_success 'invitation-reject of another address, courier or URL: refused' '
	reject r0 r0@b.example $TOKEN erin@b.example && post 403 r0 &&
	test_grep "Address is not the client" out.body &&
	reject r0 r0@b.example $TOKEN dave@b.example "$(bf_url b)" && post 403 r0 &&
	test_grep "Background-Url is this background" out.body &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox")" = 0
'

test_expect_success 'a wrong token: b introduces itself, a refuses it (403) for good, nothing learned' '
	reject r1 r1@b.example Qm9iJ3MgcmVmZXJyYWwgdG9rZW4y && post 201 r1 &&
	pg_wait_for bg bgb "SELECT attempts >= 1 FROM bg_outbox" t &&
	test_grep "courier-send id=1 url=$(bf_url a) status=failed code=403 reason=\"403 the token answers no pending invitation\"" b.log &&
	test "$(bf_psql b "SELECT next_attempt_at = \$\$infinity\$\$ FROM bg_outbox WHERE id = 1")" = t &&
	test "$(bf_psql a "SELECT count(*) FROM address_routes")" = 0 &&
	test "$(bf_psql a "SELECT count(*) FROM introductions")" = 0 &&
	bf_psql b "DELETE FROM bg_outbox" >/dev/null
'

test_expect_success 'dave rejects: b seals its introduction to a'"'"'s server certificate' '
	reject r2 r2@b.example $TOKEN && post 201 r2 &&
	test_grep "invitation-reject client=dave@b.example inviting=a.example url=$(bf_url a) status=queued" b.log &&
	pg_wait_for bg bgb "SELECT count(*) FROM bg_outbox WHERE sent_at IS NOT NULL" 1 &&
	test_grep "courier-send id=2 url=$(bf_url a) status=sent code=201" b.log &&
	post 200 r2
'

test_expect_success 'a learns dave -> b (rejected) and sends the held ARM to b' '
	test_grep "courier learned address=dave@b.example courier=b.example reason=rejected" a.log &&
	test "$(bf_psql a "SELECT address, courier, reason FROM address_routes")" = "dave@b.example|b.example|rejected" &&
	pg_wait_for bg bga "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 1 &&
	test_grep "courier msgid=m1@a.example rcpt=dave@b.example action=forward courier=b.example hops=1 origin=a.example" a.log &&
	pg_wait_for bg bgb "SELECT address || \$\$ \$\$ || message_id FROM agent_mailbox" "dave@b.example m1@a.example"
'

test_expect_success 'alice revokes m1: the revoke follows the released ARM to b, whose receipt comes back' '
	bf_revoke 200 a alice m1@a.example &&
	echo "revoked 0; 1 sent on to other couriers, their receipts follow" >expect &&
	test_cmp expect out.body &&
	pg_wait_for bg bga "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$" 1 &&
	test_grep "courier revoke msgid=m1@a.example rcpt=dave@b.example origin=a.example status=revoked" b.log &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox")" = 0
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b
'

test_done
