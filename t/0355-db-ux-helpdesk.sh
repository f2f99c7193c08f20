test_description='db: the help desk sees refusals, history, waiting keys, last fetches and the replication lag'
. "$TANDEM_SRC/t/test-lib.sh"

# Issue 16, section 3 (doc/helpdesk.md): everything below is read as
# role tandem_helpdesk, through the helpdesk views only.

test_have_prog swaks || test_skip_all 'swaks is missing'

CR_PURGE_INTERVAL=2s

hd_fg() { pg_psql_as tandem_helpdesk fg fg -c "$1"; }
hd_bg() { pg_psql_as tandem_helpdesk bg bg -c "$1"; }

# hd_is fg|bg SQL WANT: the one value SQL gives is WANT (else says it)
hd_is() {
	_hd_got=$(hd_$1 "$2") &&
	[ "$_hd_got" = "$3" ] || { echo "$1: $2: got $_hd_got, want $3"; return 1; }
}

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

test_expect_success_here 'Postfix gives the milter the client address' '
	pd=$(postfix_dir fg) &&
	postconf -c "$pd" -e "milter_mail_macros = i {mail_addr} {client_addr}" &&
	pf_pty "postfix -c $pd reload"
'

printf 'From: alice@a.example\r\nTo: bob@a.example\r\nSubject: forged\r\nMessage-ID: <forged@a.example>\r\nMIME-Version: 1.0\r\nTandem-Kind: content\r\nContent-Type: text/plain\r\n\r\nnot a wrap at all\r\n' >forged.eml

test_expect_success 'a refused message through Postfix: one row, without content' '
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" \
		--from alice@a.example --to bob@a.example,carol@a.example \
		--data @forged.eml >swaks.out 2>&1 &&
	grep "<\*\* *550" swaks.out | sed "s/^<\*\* *550[ -]//" >reply &&
	hd_fg "SELECT status, queue_id ~ \$\$^[0-9A-F]+\$\$, client, sender, recipients, message_id FROM helpdesk.refusals" >got &&
	echo "reject|t|127.0.0.1|alice@a.example|bob@a.example,carol@a.example|forged@a.example" >expect &&
	test_cmp expect got &&
	hd_fg "SELECT reply FROM helpdesk.refusals" >got &&
	test_cmp reply got &&
	test_grep "status=reject" "$TRASH/fg/milter.log" &&
	test "$(courier_fg_sql "SELECT count(*) FROM refusals WHERE reply LIKE \$\$%not a wrap%\$\$")" = 0
'

test_expect_success 'a refusal that cannot be recorded is answered all the same, and logged' '
	courier_fg_sql "REVOKE INSERT ON refusals FROM tandem_fg" &&
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" \
		--from alice@a.example --to bob@a.example \
		--data @forged.eml >swaks2.out 2>&1 &&
	grep "<\*\* *550" swaks2.out | sed "s/^<\*\* *550[ -]//" >reply2 &&
	test_cmp reply reply2 &&
	wait_until 10 grep -q "status=unrecorded" "$TRASH/fg/milter.log" &&
	courier_fg_sql "GRANT INSERT ON refusals TO tandem_fg" &&
	test "$(hd_fg "SELECT count(*) FROM helpdesk.refusals")" = 1
'

printf 'From: alice@a.example\r\nTo: dave@a.example\r\nSubject: plans\r\nMessage-ID: <plans@a.example>\r\n\r\nDave: the plan is on.\r\n' >plans.eml

test_expect_success_here 'alice writes to dave, who has no account: his key waits, held' '
	agent alice send --to dave@a.example --in plans.eml >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms" 1 30 &&
	hd_bg "SELECT address, message_id, kind, since IS NOT NULL FROM helpdesk.waiting_keys WHERE address = \$\$dave@a.example\$\$" >got &&
	echo "dave@a.example|plans@a.example|held|t" >expect &&
	test_cmp expect got &&
	test "$(hd_fg "SELECT count(*) FROM helpdesk.held_messages_history")" = 0
'

test_expect_success_here 'dave registers: the release stays in the history views' '
	agent_register dave &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE released_at IS NOT NULL" 1 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 1 30 &&
	hd_fg "SELECT message_id, sender, recipient, outcome, ended_at >= held_at FROM helpdesk.held_messages_history" >got &&
	echo "plans@a.example|alice@a.example|dave@a.example|released|t" >expect &&
	test_cmp expect got &&
	hd_fg "SELECT address, status, answered_at IS NOT NULL FROM helpdesk.invitation_history WHERE address = \$\$dave@a.example\$\$" >got &&
	echo "dave@a.example|accepted|t" >expect &&
	test_cmp expect got &&
	hd_bg "SELECT message_id, sender, recipient, outcome FROM helpdesk.held_arms_history" >got &&
	echo "plans@a.example|alice@a.example|dave@a.example|released" >expect &&
	test_cmp expect got
'

test_expect_success 'his key now waits in his mailbox; he has never fetched' '
	hd_bg "SELECT address, message_id, kind FROM helpdesk.waiting_keys WHERE address = \$\$dave@a.example\$\$" >got &&
	echo "dave@a.example|plans@a.example|arm" >expect &&
	test_cmp expect got &&
	hd_bg "SELECT address, last_fetch_at IS NULL, waiting, oldest_waiting IS NOT NULL FROM helpdesk.last_fetch WHERE address = \$\$dave@a.example\$\$" >got &&
	echo "dave@a.example|t|1|t" >expect &&
	test_cmp expect got
'

test_expect_success 'tandem fetch: the last fetch is recorded, nothing waits' '
	agent dave fetch >out &&
	echo plans@a.example >expect && test_cmp expect out &&
	hd_bg "SELECT address, last_fetch_at > now() - interval \$\$1 minute\$\$, since_fetch < interval \$\$1 minute\$\$, waiting FROM helpdesk.last_fetch WHERE address = \$\$dave@a.example\$\$" >got &&
	echo "dave@a.example|t|t|0" >expect &&
	test_cmp expect got &&
	test "$(hd_bg "SELECT count(*) FROM helpdesk.waiting_keys WHERE address = \$\$dave@a.example\$\$")" = 0
'

test_expect_success 'bob'"'"'s account is closed: his fetch gets a 403, recorded' '
	courier_fg_sql "UPDATE accounts SET status = \$\$closed\$\$ WHERE address = \$\$bob@a.example\$\$" &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$bob@a.example\$\$" closed 30 &&
	test_must_fail agent bob fetch 2>err &&
	test_grep "client is not an active account here" err &&
	hd_bg "SELECT code, client LIKE \$\$127.%\$\$, who, path, message_id IS NULL, reply FROM helpdesk.refusals" >got &&
	echo "403|t|bob@a.example|/v1/mailbox|t|client is not an active account here" >expect &&
	test_cmp expect got
'

test_expect_success 'a 403 that cannot be recorded is answered all the same, and logged' '
	courier_bg_sql "REVOKE INSERT ON refusals FROM tandem_bg" &&
	test_must_fail agent bob fetch 2>err &&
	test_grep "client is not an active account here" err &&
	test_grep "refusal status=unrecorded" "$TRASH/bg/policyd.log" &&
	courier_bg_sql "GRANT INSERT ON refusals TO tandem_bg" &&
	test "$(hd_bg "SELECT count(*) FROM helpdesk.refusals")" = 1
'

hd_bg_lag_at_least() { hd_is bg "SELECT lag_seconds >= $1 FROM helpdesk.replication_lag" t; }
hd_fg_lag_at_least() { hd_is fg "SELECT lag_seconds >= $1 FROM helpdesk.replication_lag" t; }
hd_fg_lag_below() { hd_is fg "SELECT lag_seconds < $1 FROM helpdesk.replication_lag" t; }

test_expect_success 'the heartbeat replicates: both sides say running, a small lag' '
	wait_until 30 hd_is bg "SELECT state FROM helpdesk.replication_lag" running &&
	hd_bg "SELECT subname, state, last_heartbeat IS NOT NULL, lag_seconds BETWEEN 0 AND 25 FROM helpdesk.replication_lag" >got &&
	echo "tandem_bg|running|t|t" >expect &&
	test_cmp expect got &&
	hd_fg "SELECT slot_name, state, lag_seconds BETWEEN 0 AND 25, last_heartbeat > now() - interval \$\$30 seconds\$\$ FROM helpdesk.replication_lag" >got &&
	echo "tandem_bg|streaming|t|t" >expect &&
	test_cmp expect got
'

test_expect_success 'a stopped subscription shows as stopped on both sides, its lag growing' '
	courier_bg_sql "ALTER SUBSCRIPTION tandem_bg DISABLE" &&
	wait_until 30 hd_is bg "SELECT state FROM helpdesk.replication_lag" stopped &&
	wait_until 30 hd_is fg "SELECT state FROM helpdesk.replication_lag" stopped &&
	wait_until 40 hd_bg_lag_at_least 15 &&
	wait_until 40 hd_fg_lag_at_least 5 &&
	hd_bg "SELECT subname, state, lag_seconds IS NOT NULL FROM helpdesk.replication_lag" >got &&
	echo "tandem_bg|stopped|t" >expect &&
	test_cmp expect got
'

test_expect_success 'enabled again, it catches up' '
	courier_bg_sql "ALTER SUBSCRIPTION tandem_bg ENABLE" &&
	wait_until 30 hd_is bg "SELECT state FROM helpdesk.replication_lag" running &&
	wait_until 30 hd_is fg "SELECT state FROM helpdesk.replication_lag" streaming &&
	wait_until 30 hd_fg_lag_below 5 &&
	wait_until 30 hd_is bg "SELECT lag_seconds < 15 FROM helpdesk.replication_lag" t
'

test_expect_success_here 'with a 1 s history limit, the hygiene deletes the history' '
	courier_milter_stop && courier_policyd_stop &&
	CR_HISTORY_LIMIT=1s &&
	cr_conf "$CR_FG_CONF" fg "$(pg_conninfo fg fg tandem_fg)" &&
	cr_conf "$CR_BG_CONF" bg "$(pg_conninfo bg bg tandem_bg)" &&
	courier_milter_start && courier_policyd_start
'

hd_empty() {
	_hd_n=$(hd_$1 "SELECT count(*) FROM helpdesk.$2") &&
	[ "$_hd_n" = 0 ] || { echo "helpdesk.$2 on $1: $_hd_n rows"; return 1; }
}

test_expect_success 'the hygiene then deletes the history older than that' '
	wait_until 30 hd_empty fg held_messages_history &&
	wait_until 30 hd_empty fg refusals &&
	wait_until 30 hd_empty fg invitation_history &&
	wait_until 30 hd_empty bg held_arms_history &&
	wait_until 30 hd_empty bg refusals &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages")" = 0 &&
	test_grep "hygiene refusals purged=1" "$TRASH/fg/milter.log" &&
	test_grep "hygiene refusals purged=" "$TRASH/bg/policyd.log"
'

test_expect_success 'the help-desk role still sees no table' '
	for t in refusals heartbeat heartbeat_log; do
		test_must_fail hd_fg "SELECT * FROM public.$t" 2>err &&
		test_grep "permission denied" err || exit 1
	done &&
	for t in refusals agent_fetches heartbeat; do
		test_must_fail hd_bg "SELECT * FROM public.$t" 2>err &&
		test_grep "permission denied" err || exit 1
	done
'

test_done
