test_description='end to end: key replacement through the background, nothing in flight lost'
. "$TANDEM_SRC/t/test-lib.sh"

# Seed figure 4 with real Postfix, PostgreSQL, tandem-milter,
# tandem-policyd and agents (doc/flows.md section 8): the operator asks,
# the notice and the courier's answer reach alice's agent through the
# background (bg_relay, replicated, filed in her mailbox), her agent
# asks and completes by mail, the background moves its pin only on her
# offer. Mail sealed to her old certificate before and during the
# switch still opens; mail after it goes to the new one.

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

# letter N: a message from bob to alice, number N.
letter() {
	printf "From: bob@a.example\r\nTo: alice@a.example\r\n"
	printf "Subject: letter %s\r\nMessage-ID: <letter-%s@a.example>\r\n" "$1" "$1"
	printf "\r\nAlice, this is letter %s.\r\n" "$1"
}

# fp FILE: the SHA-256 fingerprint of a PEM certificate.
fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256
}

store() {
	sqlite3 "$TRASH/agent-$1/store.db" \
	    "SELECT value FROM config WHERE name = '$2'"
}

# pin_is_new: the background pins alice's new certificate.
pin_is_new() {
	courier_bg_sql "SELECT agent_cert FROM agent_pins WHERE
	    address = 'alice@a.example'" >pin.pem &&
	test "$(fp pin.pem)" = "$(fp cert2.pem)"
}

test_expect_success_here 'before: bob writes letter 1, alice fetches its ARM but does not read it' '
	letter 1 >letter1.eml &&
	agent bob send --to alice@a.example --in letter1.eml >/dev/null &&
	maildir_wait alice "^Message-ID: <letter-1@a.example>" 30 >/dev/null &&
	agent alice fetch >out &&
	echo letter-1@a.example >expect && test_cmp expect out &&
	store alice cert >cert1.pem && store alice generation >gen &&
	echo 1 >expect && test_cmp expect gen
'

test_expect_success_here 'the operator asks; the notice reaches alice'"'"'s mailbox at the background' '
	tandemctl account rekey --db "$CR_FG_DB" --reason "yearly" alice@a.example >out &&
	echo "account alice@a.example rekey to generation 2 requested" >expect &&
	test_cmp expect out &&
	pg_wait_for bg bg "SELECT kind FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$ AND fetched_at IS NULL" notice-to-rekey 30 &&
	id=$(courier_fg_sql "SELECT notice_id FROM rekeys") &&
	courier_bg_sql "SELECT message_id FROM agent_mailbox WHERE kind = '"'"'notice-to-rekey'"'"'" >out &&
	echo "$id" >expect && test_cmp expect out
'

test_expect_success 'the background cannot read the notice; it is byte for byte what the foreground filed' '
	courier_fg_sql "SELECT encode(sha256(body), '"'"'hex'"'"') FROM bg_relay WHERE kind = '"'"'notice-to-rekey'"'"'" >fg.sum &&
	courier_bg_sql "SELECT encode(sha256(body), '"'"'hex'"'"') FROM agent_mailbox WHERE kind = '"'"'notice-to-rekey'"'"'" >bg.sum &&
	test -s fg.sum && test_cmp fg.sum bg.sum
'

test_expect_success_here 'alice fetches: her agent asks for generation 2 by mail' '
	agent alice fetch >out 2>err &&
	test_grep "^rekey: asked for generation 2" out &&
	pg_wait_for fg fg "SELECT generation || state FROM rekeys" 2keys-sent 30 &&
	store alice generation >gen && echo 1 >expect && test_cmp expect gen
'

test_expect_success_here 'during: bob writes letter 2, still sealed to alice'"'"'s old certificate' '
	letter 2 >letter2.eml &&
	agent bob send --to alice@a.example --in letter2.eml >/dev/null &&
	maildir_wait alice "^Message-ID: <letter-2@a.example>" 30 >/dev/null
'

test_expect_success_here 'the answer waits at the background; alice fetches: generation 2 installed, complete' '
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$ AND kind = \$\$exchange-keys\$\$ AND fetched_at IS NULL" 1 30 &&
	{ agent alice fetch >out 2>err || { cat out err; false; }; } &&
	test_grep "^rekey: now at generation 2" out &&
	test_grep "^letter-2@a.example" out &&
	store alice generation >gen && echo 2 >expect && test_cmp expect gen &&
	store alice cert >cert2.pem &&
	! test "$(fp cert1.pem)" = "$(fp cert2.pem)" &&
	pg_wait_for fg fg "SELECT generation || state FROM rekeys" 2complete 30 &&
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = '"'"'alice@a.example'"'"'" >fg.pem &&
	test "$(fp fg.pem)" = "$(fp cert2.pem)"
'

test_expect_success 'the background moved its pin to the certificate alice offered, with no unproved change' '
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE address = \$\$alice@a.example\$\$ AND retired_at IS NULL" 1 30 &&
	wait_until 30 pin_is_new &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_cert_changes WHERE address = '"'"'alice@a.example'"'"'")" = 0
'

test_expect_success_here 'after: bob writes letter 3, sealed to the new certificate' '
	letter 3 >letter3.eml &&
	agent bob send --to alice@a.example --in letter3.eml >/dev/null &&
	mail=$(maildir_wait alice "^Message-ID: <letter-3@a.example>" 30) &&
	agent alice fetch >out &&
	echo letter-3@a.example >expect && test_cmp expect out
'

test_expect_success 'alice reads letters 1, 2 and 3 exactly as bob wrote them' '
	for n in 1 2 3; do
		mkdir got$n &&
		agent alice read --id letter-$n@a.example --out-dir got$n >/dev/null &&
		cmp letter$n.eml "got$n/$(ls got$n)" || return 1
	done
'

test_expect_success 'letter 3 opens with the new key only; letter 2 with the old one only' '
	store alice key >key2.pem &&
	sqlite3 "$TRASH/agent-alice/store.db" \
	    "SELECT key FROM old_keys WHERE generation = 1" >key1.pem &&
	for n in 2 3; do
		mail=$(cr_maildir_match alice "^Message-ID: <letter-$n@a.example>") &&
		sed "1,/^\r\{0,1\}\$/d" "$mail" | base64 -d >l$n.der || return 1
	done &&
	openssl cms -decrypt -inform DER -in l3.der -recip cert2.pem \
	    -inkey key2.pem -passin "pass:$CR_PASSWORD" -out l3.signed &&
	test_must_fail openssl cms -decrypt -inform DER -in l3.der \
	    -recip cert1.pem -inkey key1.pem -passin "pass:$CR_PASSWORD" \
	    -out l3.bad &&
	openssl cms -decrypt -inform DER -in l2.der -recip cert1.pem \
	    -inkey key1.pem -passin "pass:$CR_PASSWORD" -out l2.signed &&
	test_must_fail openssl cms -decrypt -inform DER -in l2.der \
	    -recip cert2.pem -inkey key2.pem -passin "pass:$CR_PASSWORD" \
	    -out l2.bad
'

test_expect_success 'alice writes to bob with her new keys; bob reads it' '
	{
		printf "From: alice@a.example\r\nTo: bob@a.example\r\n"
		printf "Subject: new keys\r\nMessage-ID: <new-keys@a.example>\r\n"
		printf "\r\nBob, my keys are new.\r\n"
	} >reply.eml &&
	agent alice send --to bob@a.example --in reply.eml >/dev/null &&
	maildir_wait bob "^Message-ID: <new-keys@a.example>" 30 >/dev/null &&
	agent bob fetch >/dev/null &&
	mkdir gotb && agent bob read --id new-keys@a.example --out-dir gotb >/dev/null &&
	cmp reply.eml "gotb/$(ls gotb)"
'

test_expect_success 'the help desk sees the rekey, complete' '
	courier_fg_sql "SELECT address, generation, state, requested_by, reason FROM helpdesk.rekeys" >out &&
	echo "alice@a.example|2|complete|operator|yearly" >expect && test_cmp expect out &&
	courier_fg_sql "SELECT key_generation FROM helpdesk.account_status WHERE address = '"'"'alice@a.example'"'"'" >out &&
	echo 2 >expect && test_cmp expect out
'

test_expect_success 'the relay carried the notice and the answer only; nothing waits for alice' '
	courier_fg_sql "SELECT kind FROM bg_relay WHERE address = '"'"'alice@a.example'"'"' ORDER BY id" >out &&
	printf "notice-to-rekey\nexchange-keys\n" >expect && test_cmp expect out &&
	test "$(courier_fg_sql "SELECT count(*) FROM bg_relay")" = 2 &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = '"'"'alice@a.example'"'"' AND fetched_at IS NULL")" = 0
'

test_done
