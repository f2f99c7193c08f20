test_description='db: migrations on fresh foreground and background clusters'
. "$TANDEM_SRC/t/test-lib.sh"

SQLDIR=$TANDEM_SRC/sql

test_expect_success_here 'start a foreground and a background cluster' '
	pg_start fg && pg_start bg &&
	pg_createdb fg fg && pg_createdb bg bg &&
	FG=$(pg_conninfo fg fg) && BG=$(pg_conninfo bg bg)
'

test_expect_success 'migrate the foreground' '
	tandemctl db migrate --fg --db "$FG" --sqldir "$SQLDIR" >out &&
	cat >expect <<-\EOF &&
	applied fg/001-schema.sql
	applied fg/002-helpdesk.sql
	applied fg/003-federation.sql
	applied fg/004-courier-claims.sql
	applied fg/005-helpdesk-history.sql
	applied fg/006-rekey.sql
	applied fg/007-transfer.sql
	applied fg/008-held-origin.sql
	applied fg/009-transfer-ca.sql
	applied fg/010-transfer-notice.sql
	applied fg/011-invitation-inviter.sql
	applied fg/012-account-notify.sql
	applied fg/013-invitation-decline.sql
	fg schema at version 013, 13 applied
	EOF
	test_cmp expect out &&
	pg_psql fg fg -c "SELECT version, element, name FROM schema_migrations ORDER BY 1" >got &&
	printf "1|fg|001-schema.sql\n2|fg|002-helpdesk.sql\n3|fg|003-federation.sql\n4|fg|004-courier-claims.sql\n5|fg|005-helpdesk-history.sql\n6|fg|006-rekey.sql\n7|fg|007-transfer.sql\n8|fg|008-held-origin.sql\n9|fg|009-transfer-ca.sql\n10|fg|010-transfer-notice.sql\n11|fg|011-invitation-inviter.sql\n12|fg|012-account-notify.sql\n13|fg|013-invitation-decline.sql\n" >expect &&
	test_cmp expect got
'

test_expect_success 'every foreground table is there' '
	pg_psql fg fg -c "SELECT string_agg(tablename, \$\$,\$\$ ORDER BY tablename) FROM pg_tables WHERE schemaname = \$\$public\$\$" >got &&
	echo "account_keys,accounts,address_routes,bg_relay,declined_addresses,heartbeat,heartbeat_log,held_messages,introductions,invitation_tokens,invitations,outbox,refusals,refused_claims,rekeys,route_tokens,schema_migrations,seen_messages,transfers" >expect &&
	test_cmp expect got
'

test_expect_success 'a second run applies nothing' '
	tandemctl db migrate --fg --db "$FG" --sqldir "$SQLDIR" >out &&
	echo "fg schema at version 013, 0 applied" >expect &&
	test_cmp expect out &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM schema_migrations")" = 13
'

test_expect_success 'migrate the background, twice' '
	tandemctl db migrate --bg --db "$BG" --sqldir "$SQLDIR" >out &&
	test_grep "^applied bg/001-schema.sql\$" out &&
	test_grep "^bg schema at version 015, 15 applied\$" out &&
	tandemctl db migrate --bg --db "$BG" --sqldir "$SQLDIR" >out &&
	echo "bg schema at version 015, 0 applied" >expect &&
	test_cmp expect out
'

test_expect_success 'the background triggers fire always' '
	pg_psql bg bg -c "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE \$\$%notify\$\$ OR tgname LIKE \$\$%pin\$\$ OR tgname = \$\$bg_relay_file\$\$ ORDER BY 1" >got &&
	printf "account_keys_notify|A\naccounts_agent_pin|A\naccounts_notify|A\naccounts_transfer_pin|A\nbg_relay_file|A\n" >expect &&
	test_cmp expect got
'

test_expect_success 'the other element'"'"'s migrations are refused' '
	test_expect_code 65 tandemctl db migrate --bg --db "$FG" \
		--sqldir "$SQLDIR" 2>err &&
	test_grep "this database holds fg migrations; refusing the bg ones" err &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM schema_migrations")" = 13
'

test_expect_success 'a failing migration leaves nothing behind' '
	mkdir -p bad/fg &&
	cp "$SQLDIR"/fg/*.sql bad/fg/ &&
	printf "CREATE TABLE half_done (x int);\nSELECT no_such_column FROM accounts;\n" >bad/fg/999-broken.sql &&
	test_expect_code 70 tandemctl db migrate --fg --db "$FG" --sqldir bad 2>err &&
	test_grep "999-broken.sql: column \"no_such_column\" does not exist" err &&
	test "$(pg_psql fg fg -c "SELECT to_regclass(\$\$half_done\$\$) IS NULL")" = t &&
	test "$(pg_psql fg fg -c "SELECT max(version) FROM schema_migrations")" = 13
'

test_expect_success 'invitation_tokens follows the pending and rejected invitations' '
	hex=$(printf %064d 1) &&
	pg_psql_as tandem_fg fg fg -c "INSERT INTO invitations (address, message_id, token_hash, expires_at) VALUES (\$\$dave@d.example\$\$, \$\$i1@a.example\$\$, decode(\$\$$hex\$\$, \$\$hex\$\$), \$\$2030-01-01Z\$\$)" &&
	pg_psql fg fg -c "SELECT address, encode(token_hash, \$\$hex\$\$), expires_at = \$\$2030-01-01Z\$\$ FROM invitation_tokens" >got &&
	echo "dave@d.example|$hex|t" >expect &&
	test_cmp expect got &&
	pg_psql_as tandem_fg fg fg -c "UPDATE invitations SET status = \$\$rejected\$\$" &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM invitation_tokens")" = 1 &&
	pg_psql_as tandem_fg fg fg -c "UPDATE invitations SET status = \$\$accepted\$\$" &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM invitation_tokens")" = 0 &&
	pg_psql fg fg -c "UPDATE invitations SET status = \$\$pending\$\$" &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM invitation_tokens")" = 1 &&
	pg_psql fg fg -c "DELETE FROM invitations" &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM invitation_tokens")" = 0
'

test_expect_success 'an open transfer names the other courier'"'"'s CA key; a closed one need not' '
	test_must_fail pg_psql fg fg -c "INSERT INTO transfers (address, direction, other_courier, state) VALUES (\$\$erin@e.example\$\$, \$\$incoming\$\$, \$\$isp.example\$\$, \$\$recorded\$\$)" 2>err &&
	test_grep "violates check constraint \"transfers_open_other_ca\"" err &&
	pg_psql fg fg -c "INSERT INTO transfers (address, direction, other_courier, state) VALUES (\$\$erin@e.example\$\$, \$\$incoming\$\$, \$\$isp.example\$\$, \$\$cancelled\$\$)" &&
	test_must_fail pg_psql fg fg -c "UPDATE transfers SET state = \$\$subscribed\$\$" 2>err &&
	test_grep "transfers_open_other_ca" err &&
	pg_psql fg fg -c "DELETE FROM transfers"
'

test_expect_success 'bad command lines fail with a reason' '
	test_expect_code 64 tandemctl db migrate --db "$FG" 2>err &&
	test_grep "give --fg or --bg" err &&
	test_expect_code 64 tandemctl db migrate --fg 2>err &&
	test_grep "\-\-db CONNINFO is required" err &&
	test_expect_code 64 tandemctl db frobnicate --db "$FG" 2>err &&
	test_grep "unknown command" err &&
	test_expect_code 66 tandemctl db migrate --fg --db "$FG" --sqldir nowhere 2>err &&
	test_grep "nowhere/fg: cannot read the migrations folder" err &&
	test_expect_code 69 tandemctl db status --db "host=127.0.0.1 port=1 dbname=x connect_timeout=2" 2>err &&
	test_grep "cannot connect to the database" err &&
	test_expect_code 64 tandemctl db subscribe --db "$BG" --publisher "nonsense" 2>err &&
	test_grep "\-\-publisher" err
'

test_expect_success 'publish needs a migrated foreground' '
	test_expect_code 65 tandemctl db publish --db "$BG" 2>err &&
	test_grep "migrated as \"bg\", not fg" err &&
	test_expect_code 65 tandemctl db publish --db "$(pg_conninfo fg postgres)" 2>err &&
	test_grep "not migrated" err
'

test_expect_success 'publish and subscribe' '
	tandemctl db publish --db "$FG" >out &&
	echo "publication tandem_pub: accounts account_keys bg_relay invitation_tokens heartbeat" >expect &&
	test_cmp expect out &&
	pg_psql fg fg -c "SELECT string_agg(tablename, \$\$,\$\$ ORDER BY tablename) FROM pg_publication_tables WHERE pubname = \$\$tandem_pub\$\$" >got &&
	echo "account_keys,accounts,bg_relay,heartbeat,invitation_tokens" >expect &&
	test_cmp expect got &&
	tandemctl db publish --db "$FG" >out &&
	tandemctl db subscribe --db "$BG" --publisher "$FG" >out &&
	echo "subscription tandem_bg created" >expect &&
	test_cmp expect out &&
	tandemctl db subscribe --db "$BG" --publisher "$FG" >out &&
	echo "subscription tandem_bg updated" >expect &&
	test_cmp expect out
'

test_expect_success 'the replication role: its password from a private file, never printed' '
	(umask 022 && echo "s3cret-for-repl" >pw) &&
	test_expect_code 65 tandemctl db publish --db "$FG" --repl-password-file pw 2>err &&
	test_grep "pw: password file is accessible to others than its owner (mode 644); chmod 600" err &&
	chmod 600 pw &&
	tandemctl db publish --db "$FG" --repl-password-file pw >out 2>&1 &&
	test_grep "^role tandem_repl created: LOGIN REPLICATION, SELECT on the published tables\$" out &&
	tandemctl db publish --db "$FG" --repl-password-file pw >out 2>&1 &&
	test_grep "^role tandem_repl updated" out &&
	test_grep_not s3cret out &&
	pg_psql fg fg -c "SELECT rolreplication, rolsuper, left(rolpassword, 14) FROM pg_authid WHERE rolname = \$\$tandem_repl\$\$" >got &&
	echo "t|f|SCRAM-SHA-256\$" >expect && test_cmp expect got &&
	pg_psql fg fg -c "SELECT string_agg(table_name, \$\$,\$\$ ORDER BY table_name) FROM information_schema.role_table_grants WHERE grantee = \$\$tandem_repl\$\$ AND privilege_type = \$\$SELECT\$\$" >got &&
	echo "account_keys,accounts,bg_relay,heartbeat,invitation_tokens" >expect &&
	test_cmp expect got &&
	pg_psql fg fg -c "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = \$\$tandem_repl\$\$ AND privilege_type <> \$\$SELECT\$\$" >got &&
	echo 0 >expect && test_cmp expect got
'

test_expect_success 'subscribe --publisher-file: a private file, its text never echoed' '
	(umask 022 && echo "$(pg_conninfo fg fg tandem_repl) password=s3cret-for-repl" >pub) &&
	test_expect_code 65 tandemctl db subscribe --db "$BG" --publisher-file pub 2>err &&
	test_grep "chmod 600" err &&
	chmod 600 pub &&
	test_expect_code 64 tandemctl db subscribe --db "$BG" --publisher-file pub --publisher "$FG" 2>err &&
	test_grep "give one of --publisher FGCONNINFO, --publisher-file FILE" err &&
	(umask 077 && echo "s3cret-garbage" >notconn) &&
	test_expect_code 64 tandemctl db subscribe --db "$BG" --publisher-file notconn 2>err &&
	test_grep "notconn: not a connection string" err &&
	test_grep_not s3cret err &&
	tandemctl db subscribe --db "$BG" --publisher-file pub >out 2>&1 &&
	echo "subscription tandem_bg updated" >expect &&
	test_cmp expect out
'

bg_running() {
	tandemctl db status --db "$BG" | grep -q "^subscription=tandem_bg enabled=t running=t "
}

# The slot is active while a subscription worker streams from it.
fg_slot_active() {
	tandemctl db status --db "$FG" >out &&
	grep -q "^slot=tandem_bg active=t lag_bytes=[0-9]*\$" out
}

test_expect_success 'status on both ends' '
	# The worker that the ALTER SUBSCRIPTION above ends may still
	# show for a moment, then none until the next one starts; the
	# slot is inactive between the two.
	wait_until 30 bg_running &&
	wait_until 30 fg_slot_active &&
	test_grep "^element=fg schema_version=13 migrations=13\$" out &&
	test_grep "^publication=tandem_pub tables=5\$" out &&
	tandemctl db status --db "$BG" >out &&
	test_grep "^element=bg schema_version=15 migrations=15\$" out
'

test_done
