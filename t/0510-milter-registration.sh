test_description='tandem-milter: registration and agent-alive, release of held mail, refused registrations'
. "$TANDEM_SRC/t/test-lib.sh"

# doc/flows.md section 3, seen from the foreground: real Postfix,
# PostgreSQL, tandem-milter, tandem-policyd and agents (t/lib-courier.sh).
# Refused registrations are built by t/milter-regmail, which checks
# nothing, and submitted with swaks to the milter's smtpd.

test_have_prog swaks || test_skip_all 'swaks is missing'
regmail=$TANDEM_BUILD/t/milter-regmail

test_expect_success_here 'a courier; alice registers' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice
'

printf 'From: alice@a.example\r\nTo: dave@a.example\r\nSubject: welcome\r\nMessage-ID: <held-1@a.example>\r\n\r\nDave, this waited for you.\r\n' >letter.eml

test_expect_success_here 'alice writes to dave, who is not registered: held and invited' '
	agent alice send --to dave@a.example --in letter.eml >send.out &&
	echo held-1@a.example >expect && test_cmp expect send.out &&
	inv=$(maildir_wait dave "^Tandem-Kind: invitation" 30) &&
	courier_fg_sql "SELECT recipient, sender, released_at IS NULL FROM held_messages" >out &&
	echo "dave@a.example|alice@a.example|t" >expect && test_cmp expect out
'

test_expect_success 'the token is in the signed invitation' '
	sed -n "/smime-type=signed-data/,/^--/p" "$inv" | sed "1,/^\r\{0,1\}\$/d" |
	    grep -v "^--" | base64 -d >inv.der &&
	openssl cms -verify -noverify -inform DER -in inv.der -out inv.txt 2>/dev/null &&
	sed -n "s/^Token: *//p" inv.txt | tr -d "\r" >token &&
	test "$(wc -c <token)" -ge 40 &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout dave.key -subj /CN=dave@a.example \
	    -addext subjectAltName=email:dave@a.example -out dave.csr 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout erin.key -subj /CN=erin@a.example \
	    -addext subjectAltName=email:erin@a.example -out erin.csr 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout mixed.key -subj /CN=dave@a.example \
	    -addext subjectAltName=email:erin@a.example -out mixed.csr 2>/dev/null
'

# register FROM ADDRESS TOKEN CSR: a registration to the service
# mailbox; the SMTP dialogue in swaks.out.
register() {
	"$regmail" "$CR_CA/elements/fg.crt" "$1" tandem@a.example "$2" "$3" \
	    "$4" >reg.eml &&
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from "$1" \
	    --to tandem@a.example --data @reg.eml >swaks.out 2>&1
}

# nothing_stored: no account, key or answer for dave; invitation pending.
nothing_stored() {
	courier_fg_sql "SELECT count(*) FROM accounts WHERE address = 'dave@a.example'" >n &&
	courier_fg_sql "SELECT count(*) FROM account_keys WHERE address = 'dave@a.example'" >>n &&
	courier_fg_sql "SELECT count(*) FROM outbox WHERE rcpt_to = ARRAY['dave@a.example'] AND mail_from = 'tandem@a.example'" >>n &&
	courier_fg_sql "SELECT status FROM invitations WHERE address = 'dave@a.example'" >>n &&
	printf "0\n0\n1\npending\n" >expect && test_cmp expect n
}

test_expect_success 'a wrong token: 550 5.7.1, nothing stored' '
	test_must_fail register dave@a.example dave@a.example \
	    bm90LXRoZS10b2tlbi1hdC1hbGwtbm90LWl0 dave.csr &&
	test_grep "550 5.7.1 registration: unknown, used or expired token for dave@a.example" swaks.out &&
	nothing_stored
'

test_expect_success 'a CSR for another address: 550 5.7.1, nothing stored' '
	test_must_fail register dave@a.example dave@a.example "$(cat token)" erin.csr &&
	test_grep "550 5.7.1 registration: agent-csr: the request names another address than dave@a.example" swaks.out &&
	test_must_fail register dave@a.example dave@a.example "$(cat token)" mixed.csr &&
	test_grep "550 5.7.1 registration: agent-csr: the request names another address" swaks.out &&
	nothing_stored
'

test_expect_success 'an Address that is not the sender: 550 5.7.1, nothing stored' '
	test_must_fail register erin@a.example dave@a.example "$(cat token)" dave.csr &&
	test_grep "550 5.7.1 registration: Address dave@a.example is not the envelope sender" swaks.out &&
	nothing_stored
'

test_expect_success 'the token of another address: 550 5.7.1' '
	test_must_fail register erin@a.example erin@a.example "$(cat token)" erin.csr &&
	test_grep "550 5.7.1 registration: unknown, used or expired token for erin@a.example" swaks.out &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts WHERE address = '"'erin@a.example'"'")" = 0 &&
	nothing_stored
'

test_expect_success 'an expired token: 550 5.7.1, nothing stored' '
	courier_fg_sql "UPDATE invitations SET expires_at = now() - interval '"'1 second'"'" &&
	test_must_fail register dave@a.example dave@a.example "$(cat token)" dave.csr &&
	test_grep "550 5.7.1 registration: unknown, used or expired token for dave@a.example" swaks.out &&
	courier_fg_sql "UPDATE invitations SET expires_at = now() + interval '"'1 day'"'" &&
	nothing_stored
'

test_expect_success 'garbage enveloped to the FG: 550 5.6.0' '
	printf "not a protocol message\r\n" >junk &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in junk \
	    -out junk.der "$CR_CA/elements/fg.crt" &&
	{
		printf "From: dave@a.example\r\nTo: tandem@a.example\r\n"
		printf "Subject: Tandem service message\r\nMessage-ID: <junk-1@a.example>\r\n"
		printf "MIME-Version: 1.0\r\nTandem-Kind: service\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 junk.der | sed "s/\$/\r/"
	} >junk.eml &&
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" \
	    --from dave@a.example --to tandem@a.example --data @junk.eml >swaks.out 2>&1 &&
	test_grep "550 5.6.0 registration: " swaks.out &&
	nothing_stored
'

test_expect_success_here 'dave registers with the invitation' '
	agent_conf dave &&
	agent dave register --invitation "$inv" --anchor "$CR_ANCHOR" \
	    --timeout 60 >reg.out 2>&1 &&
	pg_wait_for fg fg "SELECT status FROM accounts WHERE address = '"'dave@a.example'"'" active 30
'

test_expect_success 'the milter logged pending, then active with one release' '
	test_grep "registration address=dave@a.example status=pending" "$TRASH/fg/milter.log" &&
	test_grep "agent-alive address=dave@a.example status=active released=1" "$TRASH/fg/milter.log"
'

test_expect_success 'one sealed courier-end key, the invitation accepted' '
	courier_fg_sql "SELECT generation, retired_at IS NULL, position('"'PRIVATE'"' in encode(sealed_key, '"'escape'"')) FROM account_keys WHERE address = '"'dave@a.example'"'" >out &&
	echo "1|t|0" >expect && test_cmp expect out &&
	courier_fg_sql "SELECT status FROM invitations WHERE address = '"'dave@a.example'"'" >out &&
	echo accepted >expect && test_cmp expect out
'

test_expect_success 'the certificates the CA process issued verify for dave' '
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = '"'dave@a.example'"'" >agent.crt &&
	courier_fg_sql "SELECT courier_cert FROM accounts WHERE address = '"'dave@a.example'"'" >courier.crt &&
	for c in agent courier; do
		openssl verify -CAfile "$CR_ANCHOR" -untrusted "$CR_CHAIN" \
		    -purpose smimesign $c.crt >/dev/null 2>&1 ||
		openssl verify -CAfile "$CR_ANCHOR" -untrusted "$CR_CHAIN" \
		    $c.crt || return 1
		openssl x509 -in $c.crt -noout -ext subjectAltName >san &&
		test_grep "email:dave@a.example" san || return 1
	done
'

test_expect_success 'exchange-keys reached dave'"'"'s Maildir from the service mailbox' '
	ek=$(maildir_wait dave "^Tandem-Kind: service" 10) &&
	test "$(echo "$ek" | wc -l)" = 1 &&
	test_grep "^From: tandem@a.example" "$ek"
'

test_expect_success_here 'the held message is released to dave, rewrapped, once' '
	mail=$(maildir_wait dave "^Message-ID: <held-1@a.example>" 30) &&
	test "$(echo "$mail" | wc -l)" = 1 &&
	courier_fg_sql "SELECT released_at IS NOT NULL, purged_at IS NULL FROM held_messages" >out &&
	echo "t|t" >expect && test_cmp expect out
'

test_expect_success 'dave fetches the ARM and reads what alice wrote' '
	wait_until 30 courier_bg_sql "SELECT 1 FROM agent_mailbox WHERE address = '"'dave@a.example'"'" &&
	agent dave fetch >fetch.out &&
	echo held-1@a.example >expect && test_cmp expect fetch.out &&
	mkdir got && agent dave read --out-dir got >read.out &&
	ls got >files && test "$(wc -l <files)" = 1 &&
	cmp letter.eml "got/$(cat files)"
'

test_expect_success 'the used token: 550 5.7.1, nothing more stored' '
	courier_fg_sql "SELECT count(*) FROM outbox" >before &&
	test_must_fail register dave@a.example dave@a.example "$(cat token)" dave.csr &&
	test_grep "550 5.7.1 registration: unknown, used or expired token for dave@a.example" swaks.out &&
	courier_fg_sql "SELECT count(*) FROM outbox" >after &&
	test_cmp before after &&
	test "$(courier_fg_sql "SELECT count(*) FROM account_keys WHERE address = '"'dave@a.example'"'")" = 1
'

test_expect_success 'the milter is alive and logged no key material' '
	cr_daemon_alive milter &&
	test_grep_not "PRIVATE KEY" "$TRASH/fg/milter.log"
'

test_done
