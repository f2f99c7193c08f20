test_description='policyd: POST /v1/courier refuses forged, replayed, looping and over-hopped traffic'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

test_have_prog curl || test_skip_all 'curl not found'

mailbox() {
	bf_psql b "SELECT count(*) FROM agent_mailbox"
}

# arm MSGID SENDER RCPT...: an ARM record on standard output
arm() {
	printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.arm\r\nContent-Transfer-Encoding: 7bit\r\n\r\nMessage-Id: %s\r\nContent-Key: %s\r\nContent-Digest: %s\r\nSender: %s\r\n" \
		"$1" "$(openssl rand -hex 32)" "$(openssl rand -hex 32)" "$2"
	shift 2
	for r; do printf "Recipient: %s\r\n" "$r"; done
	printf "Issued: %s\r\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

test_expect_success_here 'couriers a, b and c; alice at a, bob at b; a knows c' '
	bf_setup >setup.log 2>&1 &&
	bf_account a alice active && bf_account b bob active &&
	pg_wait_for bg bgb "SELECT count(*) FROM accounts" 1 &&
	bf_intro a c >intro.out &&
	bf_start a && bf_start b && bf_start c &&
	printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.arm\r\nContent-Transfer-Encoding: 7bit\r\n\r\nMessage-Id: m1@a.example\r\nContent-Key: %s\r\nContent-Digest: %s\r\nSender: alice@a.example\r\nRecipient: bob@b.example\r\nRecipient: carol@c.example\r\nIssued: %s\r\n" \
		"$(openssl rand -hex 32)" "$(openssl rand -hex 32)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >m1.arm
'

test_expect_success 'a well-made message from a to b is taken: 201, in bob'"'"'s mailbox, a recorded' '
	bf_ic ok.ic i1@a.example 1 a b m1@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 201 a a b ok.ic &&
	test_grep "courier msgid=m1@a.example rcpt=bob@b.example action=deliver hops=1 origin=a.example" b.log &&
	test "$(mailbox)" = 1 &&
	test "$(bf_psql b "SELECT courier FROM introductions")" = a.example
'

test_expect_success 'the same message again: 200, nothing new' '
	bf_send 200 a a b ok.ic &&
	test_grep "already stored" out.body &&
	test_grep "courier id=i1@a.example msgid=m1@a.example status=duplicate" b.log &&
	test "$(mailbox)" = 1
'

test_expect_success 'more than 8 hops: refused, 400' '
	bf_ic hops.ic i2@a.example 9 a b m1@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 400 a a b hops.ic &&
	test_grep "Hops 9, not 1 to 8" out.body &&
	test "$(mailbox)" = 1
'

test_expect_success 'at hop 8 a courier that must forward drops instead' '
	arm m2@b.example bob@b.example carol@c.example >m2.arm &&
	bf_ic hop8.ic i3@b.example 8 b a m2@b.example bob@b.example m2.arm carol@c.example &&
	bf_send 201 b b a hop8.ic &&
	test_grep "courier msgid=m2@b.example rcpt=carol@c.example action=drop reason=\"too many couriers crossed (hop limit)\" hops=8" a.log &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox")" = 0
'

test_expect_success 'a route back to the courier it came from is a loop: dropped' '
	arm m3@c.example cindy@c.example carol@c.example >m3.arm &&
	bf_ic loop.ic i4@c.example 1 c a m3@c.example cindy@c.example m3.arm carol@c.example &&
	bf_send 201 c c a loop.ic &&
	test_grep "courier msgid=m3@c.example rcpt=carol@c.example action=drop reason=\"routing loop: the route leads back to the sender\"" a.log &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox")" = 0
'

test_expect_success 'signed by a, posted by c: 403' '
	bf_ic fwd.ic i5@a.example 1 a b m1@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 403 a c b fwd.ic &&
	test_grep "signer is not the TLS client" out.body
'

test_expect_success 'at hop 1 the origin must be the sender: 403' '
	bf_send 403 c c b fwd.ic &&
	test_grep "at hop 1 the origin must be the client" out.body
'

test_expect_success 'a private origin with a sender outside its domain: 403' '
	bf_ic forged.ic i8@c.example 1 c b m1@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 403 c c b forged.ic &&
	test_grep "private origin courier claims a sender outside its name constraints" out.body &&
	test "$(mailbox)" = 1
'

test_expect_success 'a private courier relaying another courier'"'"'s message: 403' '
	bf_ic relay.ic i9@a.example 2 a b m1@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 403 c c b relay.ic &&
	test_grep "a private courier relays another courier'"'"'s message" out.body &&
	test "$(mailbox)" = 1
'

test_expect_success 'an ARM that is not the one announced: 400' '
	bf_ic other.ic i6@a.example 1 a b m9@a.example alice@a.example m1.arm bob@b.example &&
	bf_send 400 a a b other.ic &&
	test_grep "ARM record is not the one announced" out.body &&
	bf_ic rcpt.ic i7@a.example 1 a b m1@a.example alice@a.example m1.arm erin@b.example &&
	bf_send 400 a a b rcpt.ic &&
	test_grep "erin@b.example is not a recipient of the ARM" out.body
'

test_expect_success 'a private courier introducing an address outside its domain: 403' '
	bf_intro_msg forged.in n1@c.example c bob@b.example &&
	bf_send 403 c c b forged.in &&
	test_grep "outside its name constraints" out.body &&
	test "$(bf_psql b "SELECT courier FROM introductions")" = a.example &&
	test "$(bf_psql b "SELECT count(*) FROM address_routes")" = 0
'

test_expect_success 'c'"'"'s introduction replayed by a: 403, either way' '
	bf_intro_msg c.in n2@c.example c carol@c.example &&
	bf_send 403 c a b c.in &&
	test_grep "signer is not the TLS client" out.body &&
	bf_send 403 a a b c.in &&
	test_grep "introduction is not of the client" out.body &&
	test "$(bf_psql b "SELECT courier FROM introductions")" = a.example
'

test_expect_success 'a background of another hierarchy never completes the handshake' '
	(
		cd "$TRASH/pki" &&
		tandem-ca root -d evil --name root.example &&
		tandem-ca courier -d evil/e --name a.example --role public \
			--superior evil &&
		tandem-ca element -d evil/e --bg "$(bf_url a)"
	) >evil.log 2>&1 &&
	bf_send 000 evil/e evil/e b ok.ic &&
	test_grep "tls status=refused" b.log
'

test_expect_success 'a background on the agents'"'"' paths, an agent on /v1/courier' '
	cat "$TRASH/pki/a/elements/bg.crt" "$TRASH/pki/a/chain.pem" >a-bg.pem &&
	code=$(curl -s -o out.body -w "%{http_code}" --cert a-bg.pem \
		--key "$TRASH/pki/a/elements/bg.key" \
		--cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.b.example:$BF_PORT_b:$BF_ADDR_b" "$(bf_url b)v1/mailbox") &&
	test "$code" = 403 &&
	test_grep "a background may only POST /v1/courier" out.body &&
	code=$(curl -s -o out.body -w "%{http_code}" --cert b-bob.pem \
		--key b-bob.key --cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.b.example:$BF_PORT_b:$BF_ADDR_b" \
		--data-binary @ok.ic.p7m "$(bf_url b)v1/courier") &&
	test "$code" = 404
'

test_expect_success 'garbled bodies: 400' '
	printf "not a wrap" >junk &&
	cat "$TRASH/pki/a/elements/bg.crt" "$TRASH/pki/a/chain.pem" >a-bg.pem &&
	code=$(curl -s -o out.body -w "%{http_code}" --cert a-bg.pem \
		--key "$TRASH/pki/a/elements/bg.key" \
		--cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.b.example:$BF_PORT_b:$BF_ADDR_b" \
		--data-binary @junk "$(bf_url b)v1/courier") &&
	test "$code" = 400 &&
	printf "Id: x@a.example\r\n" >notmime &&
	bf_send 400 a a b notmime
'

test_expect_success 'nothing was stored by any of that; the daemons still serve' '
	test "$(mailbox)" = 1 &&
	test "$(bf_psql b "SELECT string_agg(kind, \$\$ \$\$ ORDER BY kind) FROM seen_messages")" = "inter-courier origin" &&
	bf_send 200 a a b ok.ic &&
	bf_stop a && bf_stop b && bf_stop c
'

test_done
