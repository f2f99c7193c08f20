test_description='end to end: invitation, registration, exchange-keys, alive; active on FG and BG'
. "$TANDEM_SRC/t/test-lib.sh"

# Seed figure 3 with real Postfix, PostgreSQL, tandem-milter,
# tandem-policyd and the agent (doc/flows.md section 3).

test_expect_success_here 'a courier with both elements' '
	courier_pki a.example &&
	courier_fg_start &&
	courier_bg_start &&
	agent_conf alice
'

test_expect_success_here 'the operator invites alice; the invitation arrives by mail' '
	courier_invite alice@a.example >invite.out &&
	inv=$(maildir_wait alice "^Tandem-Kind: invitation" 30) &&
	test -n "$inv"
'

test_expect_success 'the invitation is what doc/flows.md says' '
	test_grep "^From: tandem@a.example" "$inv" &&
	test_grep "^To: alice@a.example" "$inv" &&
	test_grep "^Content-Type: multipart/mixed" "$inv" &&
	test_grep "tandem register --invitation" "$inv" &&
	test_grep "smime-type=signed-data" "$inv"
'

test_expect_success 'tandemctl invite refuses bad input and a second invitation' '
	test_expect_code 65 courier_invite alice@a.example 2>err &&
	test_grep "alice@a.example: already registered or invited" err &&
	test_expect_code 65 courier_invite Bob@a.example 2>err &&
	test_grep "Bob@a.example: not an address in lower case" err &&
	test_expect_code 64 tandemctl invite --address bob@a.example 2>err &&
	test_grep "invite needs --conf and --address" err &&
	echo "courier { colour = blue }" >bad.conf &&
	test_expect_code 78 tandemctl invite --conf bad.conf --address bob@a.example 2>err &&
	test_grep "bad.conf" err &&
	sed "s|elements/fg.crt|elements/bg.crt|; s|elements/fg.key|elements/bg.key|" "$CR_FG_CONF" >bgcert.conf &&
	test_expect_code 78 tandemctl invite --conf bgcert.conf --address bob@a.example 2>err &&
	test_grep "not a foreground element certificate" err &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations")" = 1 &&
	test "$(courier_fg_sql "SELECT count(*) FROM outbox")" = 1
'

test_expect_success 'a private courier invites only in its own domains (65 outside)' '
	sed "s/role = public/role = private/; s/domains = {\"a.example\"}/domains = {\"a.example\", \"corp.a.example\"}/" \
	    "$CR_FG_CONF" >private.conf &&
	test_grep "role = private" private.conf &&
	test_grep "corp.a.example" private.conf &&
	test_expect_code 65 tandemctl invite --conf private.conf \
	    --address bob@b.example 2>err &&
	test_grep "bob@b.example: not in the domains of private courier a.example (a.example, corp.a.example)" err &&
	test_expect_code 65 tandemctl invite --conf private.conf \
	    --address bob@xa.example 2>err &&
	test_grep "bob@xa.example: not in the domains" err &&
	nodb="host=127.0.0.1 port=1 dbname=none connect_timeout=5" &&
	test_expect_code 69 tandemctl invite --conf private.conf --db "$nodb" \
	    --address bob@a.example 2>err &&
	test_expect_code 69 tandemctl invite --conf private.conf --db "$nodb" \
	    --address bob@mail.corp.a.example 2>err &&
	test_expect_code 69 tandemctl invite --conf "$CR_FG_CONF" --db "$nodb" \
	    --address bob@b.example 2>err &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations")" = 1
'

test_expect_success 'the FG keeps only the token hash of a pending invitation' '
	courier_fg_sql "SELECT address, status, octet_length(token_hash) FROM invitations" >out &&
	echo "alice@a.example|pending|32" >expect &&
	test_cmp expect out &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts")" = 0
'

test_expect_success 'a tampered invitation is refused before anything is sent' '
	sed -n "/smime-type=signed-data/,/^--/p" "$inv" | sed "1,/^\r\{0,1\}\$/d" |
	    grep -v "^--" | base64 -d >inv.der &&
	perl -0777 -pe "s/Recipient: alice\@/Recipient: malle\@/" inv.der >tampered.der &&
	! cmp -s inv.der tampered.der &&
	test "$(wc -c <inv.der)" = "$(wc -c <tampered.der)" &&
	agent_conf alice2 &&
	test_must_fail agent alice2 register --invitation tampered.der \
	    --anchor "$CR_ANCHOR" --no-wait 2>err &&
	cat err &&
	test_must_fail test -f "$TRASH/agent-alice2/store.db" &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts")" = 0 &&
	test "$(maildir_count tandem)" = 0
'

test_expect_success 'the invitation signed by another CA is refused' '
	(cd "$CR_PKI" && tandem-ca root -d evilroot --name evil.example &&
	 tandem-ca courier -d evil --name a.example --role public --superior evilroot &&
	 tandem-ca element -d evil --fg tandem@a.example) >evil.log 2>&1 &&
	openssl cms -verify -noverify -inform DER -in inv.der -out inner.txt 2>/dev/null &&
	openssl cms -sign -binary -nodetach -outform DER -in inner.txt \
	    -signer "$CR_PKI/evil/elements/fg.crt" -inkey "$CR_PKI/evil/elements/fg.key" \
	    -certfile "$CR_PKI/evil/chain.pem" -out evil.der &&
	test_must_fail agent alice2 register --invitation evil.der \
	    --anchor "$CR_ANCHOR" --no-wait 2>err &&
	cat err &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts")" = 0
'

test_expect_success 'alice registers: the agent waits for exchange-keys and sends alive' '
	agent alice register --invitation "$inv" --anchor "$CR_ANCHOR" \
	    --timeout 60 >reg.out 2>reg.err || { cat reg.out reg.err; false; }
'

test_expect_success 'the account is active on the FG, with one sealed courier-end key' '
	pg_wait_for fg fg "SELECT status FROM accounts WHERE address = \$\$alice@a.example\$\$" active 30 &&
	courier_fg_sql "SELECT generation, retired_at IS NULL FROM account_keys WHERE address = \$\$alice@a.example\$\$" >out &&
	echo "1|t" >expect && test_cmp expect out &&
	courier_fg_sql "SELECT status FROM invitations WHERE address = \$\$alice@a.example\$\$" >out &&
	echo accepted >expect && test_cmp expect out
'

test_expect_success 'the active account and its key arrive on the BG by replication' '
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$alice@a.example\$\$" active 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE address = \$\$alice@a.example\$\$" 1 &&
	tandemctl account check-key --db "$CR_BG_DB" --address alice@a.example \
	    --keybox-key "$CR_PKI/keybox.key" >out &&
	echo "account alice@a.example key generation 1 opens and matches its certificate" >expect &&
	test_cmp expect out
'

test_expect_success 'the FG and the agent hold the same agent and courier-end certificates' '
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = \$\$alice@a.example\$\$" >fg-agent.pem &&
	openssl x509 -in fg-agent.pem -noout -fingerprint -sha256 >fp.fg &&
	sqlite3 "$TRASH/agent-alice/store.db" "SELECT value FROM config WHERE name = '"'cert'"'" >agent.pem &&
	openssl x509 -in agent.pem -noout -fingerprint -sha256 >fp.agent &&
	test_cmp fp.fg fp.agent &&
	courier_fg_sql "SELECT courier_cert FROM accounts WHERE address = \$\$alice@a.example\$\$" >fg-courier.pem &&
	sqlite3 "$TRASH/agent-alice/store.db" "SELECT value FROM config WHERE name = '"'courier-cert'"'" >agent-courier.pem &&
	openssl x509 -in fg-courier.pem -noout -fingerprint -sha256 >fp.fg &&
	openssl x509 -in agent-courier.pem -noout -fingerprint -sha256 >fp.agent &&
	test_cmp fp.fg fp.agent &&
	openssl x509 -in fg-agent.pem -noout -ext subjectAltName >san &&
	test_grep "email:alice@a.example" san &&
	tandem-ca verify --anchor "$CR_ANCHOR" --chain "$CR_CHAIN" \
	    --email alice@a.example fg-agent.pem >out &&
	echo ok >expect && test_cmp expect out
'

test_expect_success 'exchange-keys came by mail from the service mailbox' '
	f=$(maildir_wait alice "^Tandem-Kind: service" 5) &&
	test_grep "^From: tandem@a.example" $f
'

test_expect_success 'the registration and alive mails were consumed by the milter' '
	test "$(maildir_count tandem)" = 0 &&
	postfix_wait_queue_empty fg 30
'

test_expect_success 'the invitation cannot be used twice' '
	agent_conf alice3 &&
	sed -i "s|maildir = .*|maildir = \"$TRASH/mail/alice\"|" "$TRASH/agent-alice3/tandem.conf" &&
	test_must_fail agent alice3 register --invitation "$inv" \
	    --anchor "$CR_ANCHOR" --timeout 10 2>err &&
	cat err &&
	test_grep "status=reject reason=\"5.7.1 registration: unknown, used or expired token for alice@a.example\"" "$TRASH/fg/milter.log" &&
	courier_fg_sql "SELECT count(*) FROM account_keys" >out &&
	echo 1 >expect && test_cmp expect out
'

test_expect_success 'the daemons are still alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
