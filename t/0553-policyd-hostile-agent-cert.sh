test_description='policyd: an agent certificate rewritten on the foreground is not believed'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# The attacker owns the foreground host, which holds the courier's CA
# key: it issues itself a valid agent certificate for alice@a.example
# and writes it into accounts.agent_cert, which replicates.

test_have_prog curl || test_skip_all 'curl not found'

bg_agent_cert() {
	pg_psql bg bg -c "SELECT agent_cert FROM accounts WHERE address = \$\$alice@a.example\$\$"
}

test_expect_success_here 'a courier, two active accounts, the daemon' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 2 &&
	pd_start
'

test_expect_success 'the attacker issues an agent certificate for alice with the CA' '
	cp -R "$PD_CA" evil-ca && rm -r evil-ca/accounts/alice@a.example &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout mallory.key -subj "/CN=mallory" -out mallory.csr 2>/dev/null &&
	tandem-ca account -d evil-ca --address alice@a.example \
		--csr mallory.csr >/dev/null &&
	cat evil-ca/accounts/alice@a.example/agent.crt "$PD_CA/chain.pem" >mallory.pem &&
	openssl verify -CAfile "$TRASH/pki/root/root.crt" \
		-untrusted "$PD_CA/chain.pem" evil-ca/accounts/alice@a.example/agent.crt &&
	test_must_fail cmp -s evil-ca/accounts/alice@a.example/agent.crt \
		"$PD_CA/accounts/alice@a.example/agent.crt"
'

test_expect_success 'the rewrite on the foreground replicates, replication goes on' '
	{
		printf "UPDATE accounts SET agent_cert = \$x\$" &&
		cat evil-ca/accounts/alice@a.example/agent.crt &&
		printf "\$x\$ WHERE address = \$\$alice@a.example\$\$;\n"
	} >upd.sql &&
	pg_psql fg fg -f upd.sql &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_cert_changes" 1 &&
	bg_agent_cert >got &&
	{ cat evil-ca/accounts/alice@a.example/agent.crt && echo; } >expect &&
	test_cmp expect got &&
	pd_account carol active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 3
'

test_expect_success 'the attacker cannot fetch alice'"'"'s mailbox; alice still can' '
	pd_status 403 mallory GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox
'

test_expect_success 'the change is logged once and shown to the help desk' '
	pd_status 403 mallory GET /v1/mailbox &&
	n=50 && while ! grep -q "address=alice@a.example status=agent-cert-refused" policyd.log &&
		[ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done &&
	grep "address=alice@a.example status=agent-cert-refused" policyd.log >log &&
	test $(wc -l <log) = 1 &&
	test_grep "agent certificate changed without proof; kept the pinned one" log &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT address, times, resolved_at IS NULL FROM helpdesk.agent_cert_changes" >got &&
	echo "alice@a.example|1|t" >expect &&
	test_cmp expect got
'

test_expect_success 'a new ARM for alice is wrapped to the real agent, not the attacker' '
	pd_arm m1.arm m1@a.example bob@a.example - alice@a.example &&
	pd_wrap bob m1.arm m1.p7m &&
	code=$(pd_curl bob POST /v1/arm m1.p7m) &&
	test "$code" = 201 &&
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$") &&
	pd_status 200 alice GET /v1/mailbox/$id &&
	cp out.body wrap.der &&
	openssl cms -decrypt -inform DER -in wrap.der -recip alice.pem \
		-inkey alice.key -out signed.der &&
	openssl cms -verify -inform DER -in signed.der -purpose any \
		-CAfile "$TRASH/pki/root/root.crt" -out got.arm 2>/dev/null &&
	test_cmp m1.arm got.arm &&
	test_must_fail openssl cms -decrypt -inform DER -in wrap.der \
		-recip mallory.pem -inkey mallory.key -out x 2>/dev/null
'

test_expect_success 'tandemctl account repin: the operator believes the change' '
	test_must_fail tandemctl account repin --db "$PD_BG" --address nobody@a.example 2>err &&
	test_grep "no active account with an agent certificate" err &&
	test_must_fail tandemctl account repin --db "$PD_FG" --address alice@a.example 2>err &&
	test_grep "background database" err &&
	tandemctl account repin --db "$PD_BG" --address alice@a.example >out &&
	test_grep "^account alice@a.example agent certificate pinned sha256=" out &&
	pd_status 200 mallory GET /v1/mailbox &&
	pd_status 403 alice GET /v1/mailbox &&
	pg_psql bg bg -c "SELECT count(*) FROM helpdesk.agent_cert_changes WHERE resolved_at IS NULL" >got &&
	echo 0 >expect && test_cmp expect got
'

test_done
