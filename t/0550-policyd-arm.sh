test_description='policyd: ARMs stored, fetched, acknowledged; bad requests refused'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

test_have_prog curl || test_skip_all 'curl not found'

test_expect_success_here 'a courier, two accounts, the daemon' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 2 &&
	pd_start &&
	test_grep "tandem-policyd: started listen=$PD_ADDR:$PD_PORT" policyd.log
'

test_expect_success '-n checks the configuration' '
	tandem-policyd -c "$PD_CONF" -n >out &&
	echo "configuration OK" >expect &&
	test_cmp expect out &&
	sed "s/role = public/role = sovereign/" "$PD_CONF" >bad.conf &&
	test_expect_code 78 tandem-policyd -c bad.conf -n 2>err &&
	test_grep "bad.conf:3: courier: role" err &&
	sed "s|elements/bg.crt|elements/nope.crt|" "$PD_CONF" >bad.conf &&
	test_expect_code 78 tandem-policyd -c bad.conf -n 2>err &&
	test_grep "nope.crt" err &&
	sed "s|elements/bg.crt|accounts/alice@a.example/agent.crt|" "$PD_CONF" >bad.conf &&
	test_expect_code 78 tandem-policyd -c bad.conf -n 2>err &&
	test_grep "not a background element certificate" err
'

test_expect_success 'alice posts an ARM for bob: 201, one mailbox row, seen once' '
	pd_arm m1.arm m1@a.example alice@a.example - bob@a.example &&
	pd_wrap alice m1.arm m1.p7m &&
	code=$(pd_curl alice POST /v1/arm m1.p7m) &&
	test "$code" = 201 &&
	echo stored >expect && test_cmp expect out.body &&
	test "$(pd_bg_count agent_mailbox "address = \$\$bob@a.example\$\$ AND message_id = \$\$m1@a.example\$\$")" = 1 &&
	test "$(pd_bg_count seen_messages)" = 1 &&
	test "$(pd_bg_count held_arms)" = 0 &&
	test_grep "arm msgid=m1@a.example sender=alice@a.example status=stored delivered=1 held=0" policyd.log
'

test_expect_success 'the same ARM again is a retry: 200, nothing new' '
	code=$(pd_curl alice POST /v1/arm m1.p7m) &&
	test "$code" = 200 &&
	echo "already stored" >expect && test_cmp expect out.body &&
	test "$(pd_bg_count agent_mailbox)" = 1 &&
	test "$(pd_bg_count seen_messages)" = 1
'

test_expect_success 'bob lists his mailbox, alice sees nothing of it' '
	pd_status 200 bob GET /v1/mailbox &&
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox") &&
	echo "$id m1@a.example" >expect && test_cmp expect out.body &&
	pd_status 200 alice GET /v1/mailbox &&
	test_must_fail test -s out.body &&
	pd_status 404 alice GET /v1/mailbox/$id &&
	pd_status 404 alice DELETE /v1/mailbox/$id &&
	test "$(pd_bg_count agent_mailbox)" = 1
'

test_expect_success 'bob fetches a wrap signed by the BG, enveloped to him, holding the ARM' '
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox") &&
	pd_status 200 bob GET /v1/mailbox/$id &&
	openssl cms -decrypt -inform DER -in out.body -recip bob.pem \
		-inkey bob.key -out signed.der &&
	openssl cms -verify -inform DER -in signed.der -purpose any \
		-CAfile "$TRASH/pki/root/root.crt" -signer signer.pem \
		-out got.arm 2>verify.err &&
	test_cmp m1.arm got.arm &&
	openssl x509 -in signer.pem -noout -fingerprint >a &&
	openssl x509 -in "$PD_CA/elements/bg.crt" -noout -fingerprint >b &&
	test_cmp a b &&
	test_must_fail openssl cms -decrypt -inform DER -in out.body \
		-recip alice.pem -inkey alice.key -out x 2>/dev/null
'

test_expect_success 'a client that sends only its own certificate is served' '
	cp "$PD_CA/accounts/bob@a.example/agent.crt" leaf.pem &&
	cp bob.key leaf.key &&
	pd_status 200 leaf GET /v1/mailbox &&
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox") &&
	echo "$id m1@a.example" >expect && test_cmp expect out.body
'

test_expect_success 'started as root, it runs as nobody' '
	test "$(id -u)" != 0 ||
	test "$(sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" /proc/$(cat policyd.pid)/status)" = "$(id -u nobody)"
'

test_expect_success 'bob acknowledges: 204, removed; again 404' '
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox") &&
	pd_status 204 bob DELETE /v1/mailbox/$id &&
	test "$(pd_bg_count agent_mailbox)" = 0 &&
	pd_status 404 bob DELETE /v1/mailbox/$id &&
	echo "no such entry" >expect && test_cmp expect out.body &&
	pd_status 404 bob GET /v1/mailbox/$id
'

test_expect_success 'an ARM for Bob@A.example (mixed case) reaches bob, filed under his address' '
	pd_arm m2.arm m2@a.example alice@a.example - Bob@A.example &&
	test_grep "^Recipient: Bob@A.example" m2.arm &&
	pd_wrap alice m2.arm m2.p7m &&
	code=$(pd_curl alice POST /v1/arm m2.p7m) &&
	test "$code" = 201 &&
	test_grep "arm msgid=m2@a.example sender=alice@a.example status=stored delivered=1 held=0" policyd.log &&
	test "$(pd_bg_count agent_mailbox "address = \$\$bob@a.example\$\$ AND message_id = \$\$m2@a.example\$\$")" = 1 &&
	test "$(pd_bg_count agent_mailbox)" = 1 &&
	pd_status 200 bob GET /v1/mailbox &&
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox") &&
	echo "$id m2@a.example" >expect && test_cmp expect out.body &&
	pd_status 200 bob GET /v1/mailbox/$id &&
	pd_status 204 bob DELETE /v1/mailbox/$id
'

test_expect_success_here 'without -f it detaches, serves, and stops on SIGTERM' '
	port2=$(pf_random_port) &&
	sed "s/:$PD_PORT\"/:$port2\"/" "$PD_CONF" >detached.conf &&
	test_grep ":$port2\"" detached.conf &&
	tandem-policyd -c detached.conf &&
	pf_wait_listen "$PD_ADDR" "$port2" 10 &&
	pid=$(ss -Hltnp "src = $PD_ADDR and sport = :$port2" |
		sed -n "s/.*pid=\([0-9]*\).*/\1/p") &&
	test -n "$pid" && test "$pid" != "$(cat policyd.pid)" &&
	test_atexit "kill $pid 2>/dev/null" &&
	code=$(curl -s -o out.body -w "%{http_code}" --cert bob.pem --key bob.key \
		--cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.a.example:$port2:$PD_ADDR" \
		"https://bg.a.example:$port2/v1/mailbox") &&
	test "$code" = 200 &&
	kill -TERM $pid &&
	n=50 && while kill -0 $pid 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1; n=$((n - 1)); done &&
	test_must_fail kill -0 $pid 2>/dev/null
'

test_done
