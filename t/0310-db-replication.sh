test_description='db: accounts replicate one way, keys only sealed, roles hold'
. "$TANDEM_SRC/t/test-lib.sh"

SQLDIR=$TANDEM_SRC/sql

# cert NAME ADDRESS: NAME.key and a self-signed NAME.crt for ADDRESS.
cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1.key" -out "$1.crt" -days 30 \
		-subj "/CN=$2" -addext "subjectAltName=email:$2" 2>/dev/null
}

test_expect_success_here 'two clusters, migrated, published, subscribed' '
	pg_start fg && pg_start bg &&
	pg_createdb fg fg && pg_createdb bg bg &&
	FG=$(pg_conninfo fg fg) && BG=$(pg_conninfo bg bg) &&
	tandemctl db migrate --fg --db "$FG" --sqldir "$SQLDIR" >/dev/null &&
	tandemctl db migrate --bg --db "$BG" --sqldir "$SQLDIR" >/dev/null &&
	pg_publish fg fg >/dev/null &&
	pg_subscribe bg bg fg fg >/dev/null
'

test_expect_success 'the background replicates as tandem_repl, by password, with SELECT only' '
	pg_wait_for fg fg "SELECT string_agg(usename, \$\$,\$\$) FROM pg_stat_replication" tandem_repl &&
	test_must_fail psql -X -At -d "$(pg_conninfo fg fg tandem_repl) password=wrong" \
		-c "SELECT 1" 2>err &&
	test_grep "password authentication failed" err &&
	pw=$(cat "$(pg_dir_of fg)/repl.pw") &&
	test_must_fail psql -X -At -d "$(pg_conninfo fg fg tandem_repl) password=$pw" \
		-c "SELECT count(*) FROM held_messages" 2>err &&
	test_grep "permission denied" err &&
	test_must_fail psql -X -At -d "$(pg_conninfo fg fg tandem_repl) password=$pw" \
		-c "INSERT INTO accounts (address, status) VALUES (\$\$x@a.example\$\$, \$\$invited\$\$)" 2>err &&
	test_grep "permission denied" err
'

test_expect_success 'tandemctl keybox new writes a private key file once' '
	tandemctl keybox new kb.key &&
	test "$(stat -c %a kb.key)" = 600 &&
	grep -q "^[0-9a-f]\{64\}\$" kb.key &&
	test "$(wc -c <kb.key)" = 65 &&
	cp kb.key before &&
	test_expect_code 73 tandemctl keybox new kb.key 2>err &&
	test_grep "kb.key: File exists" err &&
	test_cmp before kb.key
'

test_expect_success 'certificates for two accounts' '
	cert ann ann@a.example && cert ann-agent ann@a.example &&
	cert bob bob@a.example && cert other ann@a.example &&
	test_grep "BEGIN PRIVATE KEY" ann.key
'

test_expect_success_here 'a background session listens' '
	( echo "LISTEN tandem_account;"; n=0
	  while [ ! -f "$TRASH/stop-listen" ] && [ $n -lt 900 ]; do
		echo "SELECT 1;"; sleep 0.1; n=$((n + 1))
	  done ) | pg_psql_as tandem_bg bg bg >listen.out 2>&1 &
	test_atexit "touch \"$TRASH/stop-listen\"" &&
	test_wait_log listen.out "^1\$" 20
'

test_expect_success 'account add stores an account and its sealed key' '
	tandemctl account add --db "$FG" --address ann@a.example \
		--status active --courier-key ann.key --courier-cert ann.crt \
		--agent-cert ann-agent.crt --keybox-key kb.key >out &&
	serial=$(openssl x509 -in ann.crt -noout -serial | sed "s/^serial=//" | tr A-F a-f) &&
	echo "account ann@a.example added: status active, key generation 1, serial $serial" >expect &&
	test_cmp expect out
'

test_expect_success 'the account and its key arrive on the background' '
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$ann@a.example\$\$" active &&
	pg_wait_for bg bg "SELECT generation FROM account_keys WHERE address = \$\$ann@a.example\$\$" 1 &&
	q="SELECT md5(sealed_key), octet_length(sealed_key) FROM account_keys" &&
	pg_psql fg fg -c "$q" >fg.sum && pg_psql bg bg -c "$q" >bg.sum &&
	test_cmp fg.sum bg.sum &&
	openssl pkey -in ann.key >ann.pk8 &&
	echo "$(( $(wc -c <ann.pk8) + 29 ))" >expect &&
	cut -d"|" -f2 bg.sum >got &&
	test_cmp expect got &&
	pg_psql bg bg -c "SELECT agent_cert FROM accounts" >agent.pem &&
	{ openssl x509 -in ann-agent.crt && echo; } >expect &&
	test_cmp expect agent.pem
'

test_expect_success 'the trigger notifies the background' '
	test_wait_log listen.out "notification \"tandem_account\" with payload \"ann@a.example\" received" 20
'

test_expect_success 'a pending account arrives silently, then notifies once active' '
	tandemctl account add --db "$FG" --address bob@a.example \
		--status pending --courier-key bob.key --courier-cert bob.crt \
		--keybox-key kb.key >/dev/null &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$bob@a.example\$\$" pending &&
	sleep 0.5 &&
	test_grep_not "payload \"bob@a.example\"" listen.out &&
	pg_psql fg fg -c "UPDATE accounts SET status = \$\$active\$\$ WHERE address = \$\$bob@a.example\$\$" &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$bob@a.example\$\$" active &&
	test_wait_log listen.out "payload \"bob@a.example\"" 20
'

test_expect_success 'the background role cannot write the replicated tables' '
	for sql in \
	    "INSERT INTO accounts (address, status, created_at, updated_at) VALUES (\$\$eve@a.example\$\$, \$\$active\$\$, now(), now())" \
	    "UPDATE accounts SET status = \$\$closed\$\$" \
	    "DELETE FROM account_keys" \
	    "INSERT INTO bg_relay VALUES (1, \$\$x\$\$, \$\$y\$\$, \$\$z\$\$, \$\$\\\\x00\$\$, now(), NULL)"
	do
		test_must_fail pg_psql_as tandem_bg bg bg -c "$sql" 2>err &&
		test_grep "permission denied for table" err || return 1
	done &&
	test "$(pg_psql bg bg -c "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$")" = 2
'

test_expect_success 'the background role writes its own tables and reads the copies' '
	pg_psql_as tandem_bg bg bg -c "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$ann@a.example\$\$, \$\$arm\$\$, \$\$m1@a.example\$\$, \$\$\\\\x01\$\$)" &&
	test "$(pg_psql_as tandem_bg bg bg -c "SELECT count(*) FROM accounts")" = 2
'

test_expect_success 'replication still applies after the refused writes' '
	cert carol carol@a.example &&
	tandemctl account add --db "$FG" --address carol@a.example \
		--status active --courier-key carol.key --courier-cert carol.crt \
		--keybox-key kb.key >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts" 3 &&
	test "$(pg_psql bg bg -c "SELECT coalesce(sum(apply_error_count), 0) FROM pg_stat_subscription_stats")" = 0
'

test_expect_success 'the background never writes back' '
	pg_psql bg bg -c "INSERT INTO address_routes (address, courier, reason) VALUES (\$\$zed@b.example\$\$, \$\$b\$\$, \$\$rejected\$\$)" &&
	sleep 1 &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM address_routes")" = 0 &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM pg_subscription")" = 0
'

test_expect_success 'no private key in plaintext in either database' '
	pg_dump -d "$FG" >fg.dump && pg_dump -d "$BG" >bg.dump &&
	test_grep "BEGIN CERTIFICATE" fg.dump &&
	test_grep "BEGIN CERTIFICATE" bg.dump &&
	test_grep "ann@a.example" bg.dump &&
	key_line=$(sed -n 2p ann.key) && test -n "$key_line" &&
	key_hex=$(printf "PRIVATE KEY" | od -An -tx1 | tr -d " \n") &&
	for f in fg.dump bg.dump; do
		test_grep_not "PRIVATE KEY" $f &&
		test_grep_not "$key_hex" $f &&
		test_grep_not "$key_line" $f || return 1
	done
'

test_expect_success 'the background opens the replicated key with the shared keybox key' '
	tandemctl account check-key --db "$BG" --address ann@a.example \
		--keybox-key kb.key >out &&
	echo "account ann@a.example key generation 1 opens and matches its certificate" >expect &&
	test_cmp expect out &&
	tandemctl keybox new wrong.key &&
	test_expect_code 65 tandemctl account check-key --db "$BG" \
		--address ann@a.example --keybox-key wrong.key 2>err &&
	test_grep "ann@a.example: keybox: cannot open sealed key" err &&
	test_expect_code 65 tandemctl account check-key --db "$BG" \
		--address nobody@a.example --keybox-key kb.key 2>err &&
	test_grep "nobody@a.example: no current key" err
'

test_expect_success 'a sealed key moved to another account does not open' '
	pg_psql fg fg -c "UPDATE account_keys SET sealed_key = (SELECT sealed_key FROM account_keys WHERE address = \$\$ann@a.example\$\$) WHERE address = \$\$carol@a.example\$\$" &&
	q="SELECT count(DISTINCT sealed_key) FROM account_keys WHERE address IN (\$\$ann@a.example\$\$, \$\$carol@a.example\$\$)" &&
	pg_wait_for bg bg "$q" 1 &&
	test_expect_code 65 tandemctl account check-key --db "$BG" \
		--address carol@a.example --keybox-key kb.key 2>err &&
	test_grep "carol@a.example: keybox: cannot open sealed key" err
'

test_expect_success 'account add refuses bad input' '
	test_expect_code 70 tandemctl account add --db "$FG" --address ann@a.example \
		--status active --courier-key ann.key --courier-cert ann.crt \
		--keybox-key kb.key 2>err &&
	test_grep "duplicate key" err &&
	test_expect_code 65 tandemctl account add --db "$FG" --address dan@a.example \
		--status active --courier-key other.key --courier-cert ann.crt \
		--keybox-key kb.key 2>err &&
	test_grep "other.key: does not match ann.crt" err &&
	test_expect_code 64 tandemctl account add --db "$FG" --address "Dan@a.example" \
		--status active --courier-key ann.key --courier-cert ann.crt \
		--keybox-key kb.key 2>err &&
	test_grep "use lower case" err &&
	test_expect_code 64 tandemctl account add --db "$FG" --address dan@a.example \
		--status happy --courier-key ann.key --courier-cert ann.crt \
		--keybox-key kb.key 2>err &&
	test_grep "status \"happy\"" err &&
	test_expect_code 64 tandemctl account add --db "$FG" --address dan@a.example 2>err &&
	test_grep "needs --db, --address" err &&
	test_expect_code 65 tandemctl account add --db "$FG" --address dan@a.example \
		--status active --courier-key ann.crt --courier-cert ann.crt \
		--keybox-key kb.key 2>err &&
	test_grep "not an unencrypted PEM private key" err &&
	test_expect_code 65 tandemctl account add --db "$FG" --address dan@a.example \
		--status active --courier-key ann.key --courier-cert ann.key \
		--keybox-key kb.key 2>err &&
	test_grep "not a PEM certificate" err &&
	cp kb.key open.key && chmod 644 open.key &&
	test_expect_code 65 tandemctl account add --db "$FG" --address dan@a.example \
		--status active --courier-key ann.key --courier-cert ann.crt \
		--keybox-key open.key 2>err &&
	test_grep "accessible to others" err &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM accounts")" = 3
'

test_expect_success 'help desk reads the views on the foreground, nothing else' '
	pg_psql_as tandem_helpdesk fg fg -c "SELECT address, status, key_generation FROM helpdesk.account_status ORDER BY 1" >got &&
	printf "ann@a.example|active|1\nbob@a.example|active|1\ncarol@a.example|active|1\n" >expect &&
	test_cmp expect got &&
	pg_psql_as tandem_helpdesk fg fg -c "SELECT slot_name, active FROM helpdesk.replication" >got &&
	echo "tandem_bg|t" >expect &&
	test_cmp expect got &&
	for v in pending_invitations held_messages transfers_in_flight introductions outbox_waiting; do
		pg_psql_as tandem_helpdesk fg fg -c "SELECT count(*) FROM helpdesk.$v" >/dev/null || return 1
	done &&
	for t in accounts account_keys bg_relay held_messages outbox schema_migrations; do
		test_must_fail pg_psql_as tandem_helpdesk fg fg -c "SELECT * FROM public.$t" 2>err &&
		test_grep "permission denied" err || return 1
	done &&
	test_must_fail pg_psql_as tandem_helpdesk fg fg -c "CREATE VIEW helpdesk.mine AS SELECT 1" 2>err &&
	test_grep "permission denied" err
'

test_expect_success 'help desk reads the views on the background, nothing else' '
	pg_psql_as tandem_helpdesk bg bg -c "SELECT count(*) FROM helpdesk.account_status WHERE status = \$\$active\$\$" >got &&
	echo 3 >expect && test_cmp expect got &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT subname, running FROM helpdesk.replication" >got &&
	echo "tandem_bg|t" >expect && test_cmp expect got &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT address, waiting FROM helpdesk.agent_mailbox" >got &&
	echo "ann@a.example|1" >expect && test_cmp expect got &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT count(*) FROM helpdesk.held_arms" >/dev/null &&
	for t in accounts account_keys agent_mailbox held_arms; do
		test_must_fail pg_psql_as tandem_helpdesk bg bg -c "SELECT * FROM public.$t" 2>err &&
		test_grep "permission denied" err || return 1
	done
'

test_expect_success 'a pending invitation token reaches the background, read-only' '
	hex=$(printf %064d 7) &&
	pg_psql fg fg -c "INSERT INTO invitations (address, message_id, token_hash, expires_at) VALUES (\$\$eve@e.example\$\$, \$\$i7@a.example\$\$, decode(\$\$$hex\$\$, \$\$hex\$\$), now() + interval \$\$1 day\$\$)" &&
	pg_wait_for bg bg "SELECT address FROM invitation_tokens WHERE token_hash = decode(\$\$$hex\$\$, \$\$hex\$\$)" eve@e.example &&
	test_must_fail pg_psql_as tandem_bg bg bg -c "DELETE FROM invitation_tokens" 2>err &&
	test_grep "permission denied for table invitation_tokens" err &&
	pg_psql fg fg -c "UPDATE invitations SET status = \$\$accepted\$\$ WHERE message_id = \$\$i7@a.example\$\$" &&
	pg_wait_for bg bg "SELECT count(*) FROM invitation_tokens" 0
'

test_expect_success 'the background may queue POSTs to other backgrounds' '
	pg_psql_as tandem_bg bg bg -c "INSERT INTO bg_outbox (url, kind, body) VALUES (\$\$https://bg.b.example/v1/courier\$\$, \$\$inter-courier\$\$, \$\$\\\\x01\$\$) RETURNING attempts, sent_at IS NULL" >got &&
	echo "0|t" >expect &&
	test_cmp expect got &&
	test_must_fail pg_psql_as tandem_bg bg bg -c "INSERT INTO bg_outbox (url, kind, body) VALUES (\$\$http://x\$\$, \$\$k\$\$, \$\$\\\\x01\$\$)" 2>err &&
	test_grep "bg_outbox_url_check" err
'

test_expect_success 'a subscription as a dump restores it (disabled, no slot): subscribe says what to do' '
	sub=$(pg_psql bg bg -c "SELECT subname FROM pg_subscription") &&
	test -n "$sub" &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub DISABLE" >/dev/null &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub SET (slot_name = NONE)" >/dev/null &&
	test_expect_code 65 pg_subscribe bg bg fg fg 2>err &&
	test_grep "subscription $sub is disabled and has no replication slot (restored from a dump?): restore with pg_restore --no-subscriptions, or DROP SUBSCRIPTION $sub, then subscribe again (doc/install.md)" err &&
	test "$(pg_psql bg bg -c "SELECT subenabled FROM pg_subscription")" = f
'

test_done
