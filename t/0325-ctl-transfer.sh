#!/bin/sh
test_description='tandemctl transfer: the operators'"'"' half of a registration transfer, bound to the other courier'"'"'s CA key'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

SQLDIR=$TANDEM_SRC/sql

q() {
	pg_psql fg fg -c "$1"
}

# ca_key DIR: the SHA-256 of the SubjectPublicKeyInfo of DIR's CA, hex
ca_key() {
	openssl x509 -in "$1/ca.crt" -noout -pubkey |
		openssl pkey -pubin -outform DER | sha256sum | sed "s/ .*//"
}

test_expect_success_here 'a migrated foreground' '
	pg_start fg && pg_createdb fg fg &&
	FG=$(pg_conninfo fg fg) &&
	tandemctl db migrate --fg --db "$FG" --sqldir "$SQLDIR" >/dev/null
'

test_expect_success 'two couriers introduced, a third not' '
	tandem-ca root -d root --name "Tandem Root" &&
	tandem-ca courier -d isp --name isp.example --role public \
		--superior root &&
	tandem-ca courier -d corp --name example.org --role private \
		--domain example.org --superior root &&
	tandem-ca element -d isp --fg tandem@isp.example &&
	tandem-ca element -d corp --fg tandem@example.org &&
	tandemctl intro add --db "$FG" --cert isp/elements/fg.crt \
		--chain isp/chain.pem --anchors root/root.crt >/dev/null &&
	tandemctl intro add --db "$FG" --cert corp/elements/fg.crt \
		--chain corp/chain.pem --anchors root/root.crt >/dev/null
'

test_expect_success 'expect records an incoming transfer bound to the CA key' '
	tandemctl transfer expect --db "$FG" Alice@Example.net \
		--from isp.example >out &&
	echo "transfer alice@example.net incoming from isp.example recorded" >expect &&
	test_cmp expect out &&
	ca_key isp >key &&
	q "SELECT address, direction, other_courier, state, other_ca FROM transfers" >got &&
	echo "alice@example.net|incoming|isp.example|recorded|$(cat key)" >expect &&
	test_cmp expect got
'

test_expect_success 'refused: a courier whose foreground is not introduced' '
	test_expect_code 65 tandemctl transfer expect --db "$FG" \
		bob@example.net --from nobody.example 2>err &&
	test_grep "^tandemctl: bob@example.net: no introduction of the foreground of nobody.example" err &&
	test "$(q "SELECT count(*) FROM transfers WHERE address = \$\$bob@example.net\$\$")" = 0
'

test_expect_success 'refused: a second transfer of the same address' '
	test_expect_code 65 tandemctl transfer expect --db "$FG" \
		alice@example.net --from example.org 2>err &&
	test_grep "^tandemctl: alice@example.net: a transfer is already open (incoming, from isp.example)" err &&
	test "$(q "SELECT count(*) FROM transfers")" = 1
'

test_expect_success 'refused: expecting an address this courier serves' '
	q "INSERT INTO accounts (address, status) VALUES (\$\$bob@example.net\$\$, \$\$active\$\$)" &&
	test_expect_code 65 tandemctl transfer expect --db "$FG" \
		bob@example.net --from isp.example 2>err &&
	test_grep "^tandemctl: bob@example.net: this courier serves the address already (account active)" err
'

test_expect_success 'refused: starting a transfer of no active account with an agent certificate' '
	test_expect_code 65 tandemctl transfer start --db "$FG" \
		carol@example.net --to isp.example 2>err &&
	test_grep "^tandemctl: carol@example.net: no active account with an agent certificate" err &&
	test_expect_code 65 tandemctl transfer start --db "$FG" \
		bob@example.net --to isp.example 2>err &&
	test_grep "^tandemctl: bob@example.net: no active account with an agent certificate" err &&
	test "$(q "SELECT count(*) FROM transfers")" = 1
'

test_expect_success 'start records an outgoing transfer of an active account' '
	q "UPDATE accounts SET agent_cert = \$\$pem\$\$ WHERE address = \$\$bob@example.net\$\$" &&
	tandemctl transfer start --db "$FG" --address bob@example.net \
		--to example.org >out &&
	echo "transfer bob@example.net outgoing to example.org started" >expect &&
	test_cmp expect out &&
	ca_key corp >key &&
	q "SELECT state, other_ca FROM transfers WHERE address = \$\$bob@example.net\$\$" >got &&
	echo "started|$(cat key)" >expect &&
	test_cmp expect got
'

test_expect_success 'list: the open transfers, oldest first' '
	tandemctl transfer list --db "$FG" >out &&
	sed "s/ [0-9-]*T[0-9:]*Z\$//" out >got &&
	printf "%s\n" "alice@example.net incoming isp.example recorded" \
		"bob@example.net outgoing example.org started" >expect &&
	test_cmp expect got &&
	test "$(grep -c " 20[0-9-]*T[0-9:]*Z\$" out)" = 2 &&
	q "SELECT address, state FROM helpdesk.transfers_in_flight" >got &&
	printf "%s\n" "alice@example.net|recorded" "bob@example.net|started" >expect &&
	test_cmp expect got
'

test_expect_success 'cancel at the old courier: the account stays as it is' '
	tandemctl transfer cancel --db "$FG" bob@example.net >out &&
	echo "transfer bob@example.net cancelled" >expect &&
	test_cmp expect out &&
	test "$(q "SELECT state FROM transfers WHERE address = \$\$bob@example.net\$\$")" = cancelled &&
	test "$(q "SELECT status FROM accounts WHERE address = \$\$bob@example.net\$\$")" = active
'

test_expect_success 'cancel at the new courier closes the pending account the transfer made' '
	q "UPDATE transfers SET made_account = true, state = \$\$subscribed\$\$ WHERE address = \$\$alice@example.net\$\$" &&
	q "INSERT INTO accounts (address, status, agent_cert, transferred_from) VALUES (\$\$alice@example.net\$\$, \$\$pending\$\$, \$\$pem\$\$, \$\$isp.example\$\$)" &&
	q "INSERT INTO account_keys (address, generation, key_serial, sealed_key) VALUES (\$\$alice@example.net\$\$, 1, \$\$01\$\$, \$\$\\\\x00\$\$)" &&
	q "INSERT INTO rekeys (address, generation, requested_by, state) VALUES (\$\$alice@example.net\$\$, 2, \$\$transfer\$\$, \$\$noticed\$\$)" &&
	q "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$alice@example.net\$\$, \$\$exchange-keys\$\$, \$\$m1\$\$, \$\$\\\\x00\$\$)" &&
	tandemctl transfer cancel --db "$FG" alice@example.net >out &&
	echo "transfer alice@example.net cancelled" >expect &&
	test_cmp expect out &&
	q "SELECT a.status, r.state, k.retired_at IS NOT NULL, (SELECT count(*) FROM bg_relay) FROM accounts a JOIN rekeys r USING (address) JOIN account_keys k USING (address) WHERE a.address = \$\$alice@example.net\$\$" >got &&
	echo "closed|cancelled|t|0" >expect &&
	test_cmp expect got &&
	tandemctl transfer list --db "$FG" >out &&
	test ! -s out
'

test_expect_success 'refused: cancelling what is not open; a new transfer after a cancel' '
	test_expect_code 65 tandemctl transfer cancel --db "$FG" \
		alice@example.net 2>err &&
	test_grep "^tandemctl: alice@example.net: no open transfer" err &&
	tandemctl transfer start --db "$FG" bob@example.net \
		--to isp.example >out &&
	test_grep "^transfer bob@example.net outgoing to isp.example started\$" out
'

test_expect_success 'cancel at the old courier once the notice went: only with --force, its notice withdrawn, not a rekey.s' '
	q "UPDATE transfers SET state = \$\$rekeying\$\$, notice_id = \$\$n1\$\$ WHERE address = \$\$bob@example.net\$\$ AND state = \$\$started\$\$" &&
	q "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$bob@example.net\$\$, \$\$notice-to-rekey\$\$, \$\$n1\$\$, \$\$\\\\x00\$\$)" &&
	q "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$bob@example.net\$\$, \$\$notice-to-rekey\$\$, \$\$n0\$\$, \$\$\\\\x00\$\$)" &&
	test_expect_code 65 tandemctl transfer cancel --db "$FG" \
		bob@example.net 2>err &&
	test_grep "^tandemctl: bob@example.net: the notice naming isp.example went to the agent already; cancel the transfer at isp.example too, then here with --force" err &&
	test "$(q "SELECT state || count(*) OVER () FROM transfers WHERE address = \$\$bob@example.net\$\$ AND state = \$\$rekeying\$\$")" = rekeying1 &&
	test "$(q "SELECT count(*) FROM bg_relay")" = 2 &&
	tandemctl transfer cancel --db "$FG" bob@example.net --force >out &&
	echo "transfer bob@example.net cancelled" >expect &&
	test_cmp expect out &&
	test "$(q "SELECT string_agg(message_id, \$\$,\$\$) FROM bg_relay")" = n0 &&
	test "$(q "SELECT status FROM accounts WHERE address = \$\$bob@example.net\$\$")" = active
'

# hold_intro: introductions locked until two sessions wait for it (at
# most 20 s, then it fails).
hold_intro() {
	pg_psql fg fg -c "BEGIN" \
	    -c "LOCK TABLE introductions IN ACCESS EXCLUSIVE MODE" \
	    -c "DO \$w\$ BEGIN
		FOR i IN 1..400 LOOP
			IF (SELECT count(*) FROM pg_locks WHERE NOT granted AND
			    relation = 'introductions'::regclass) >= 2 THEN
				RETURN;
			END IF;
			PERFORM pg_sleep(0.05);
		END LOOP;
		RAISE EXCEPTION 'nobody waits for introductions';
	    END \$w\$" -c "COMMIT"
}

# Both commands find no open transfer, then wait for introductions, read
# after that check; released, both insert: a race, made sure of.
test_expect_success 'two expects at once: one records, the other is refused as the second' '
	{ hold_intro; echo $? >rc0; } &
	pg_wait_for fg fg "SELECT count(*) FROM pg_locks WHERE granted AND mode = \$\$AccessExclusiveLock\$\$ AND relation = \$\$introductions\$\$::regclass" 1 &&
	for i in 1 2; do
		{ tandemctl transfer expect --db "$FG" erin@example.net \
			--from isp.example >out$i 2>err$i; echo $? >rc$i; } &
	done &&
	wait &&
	test "$(cat rc0)" = 0 &&
	test "$(sort -n rc1 rc2 | xargs)" = "0 65" &&
	cat out1 out2 >out &&
	echo "transfer erin@example.net incoming from isp.example recorded" >expect &&
	test_cmp expect out &&
	cat err1 err2 >err &&
	echo "tandemctl: erin@example.net: a transfer is already open (incoming, from isp.example)" >expect &&
	test_cmp expect err &&
	test "$(q "SELECT count(*) FROM transfers WHERE address = \$\$erin@example.net\$\$")" = 1
'

test_expect_success 'usage: what each command needs' '
	test_expect_code 64 tandemctl transfer expect --db "$FG" \
		dave@example.net 2>err &&
	test_grep "transfer expect needs --from COURIER" err &&
	test_expect_code 64 tandemctl transfer start --db "$FG" \
		dave@example.net --from isp.example 2>err &&
	test_grep "transfer start takes no --from" err &&
	test_expect_code 64 tandemctl transfer cancel --db "$FG" dave 2>err &&
	test_grep "transfer cancel needs an address" err &&
	test_expect_code 64 tandemctl transfer move 2>err &&
	test_grep "transfer: give expect, start, cancel or list" err
'

test_done
