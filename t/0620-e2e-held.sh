test_description='end to end: one message to a registered and an unregistered recipient; held, invited, released'
. "$TANDEM_SRC/t/test-lib.sh"

# Seed figure 6 with a recipient that has no account: the FG holds the
# sealed content and invites; the BG holds the ARM; both release when
# the recipient registers (doc/flows.md sections 3 and 4).

test_expect_success_here 'a courier; alice and bob register, dave does not' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

printf 'From: alice@a.example\r\nTo: bob@a.example, dave@a.example\r\nSubject: plans\r\nMessage-ID: <plans@a.example>\r\n\r\nDave, Bob: the plan is on.\r\n' >plans.eml

test_expect_success 'alice sends one message to bob and dave' '
	agent alice send --to bob@a.example --to dave@a.example --in plans.eml >out &&
	echo plans@a.example >expect && test_cmp expect out
'

test_expect_success 'bob gets it at once and reads it' '
	maildir_wait bob "^Message-ID: <plans@a.example>" 30 >/dev/null &&
	agent bob fetch >/dev/null &&
	mkdir bob-got && agent bob read --id plans@a.example --out-dir bob-got >/dev/null &&
	cmp plans.eml bob-got/plans@a.example.eml
'

test_expect_success 'the FG holds the sealed content for dave and invites him' '
	courier_fg_sql "SELECT message_id, sender, recipient, released_at IS NULL FROM held_messages" >out &&
	echo "plans@a.example|alice@a.example|dave@a.example|t" >expect &&
	test_cmp expect out &&
	inv=$(maildir_wait dave "^Tandem-Kind: invitation" 30) &&
	test_grep "^Subject: alice@a.example sent you a private message" $inv &&
	test_must_fail cr_maildir_match dave "^Tandem-Kind: content" &&
	courier_fg_sql "SELECT status FROM invitations WHERE address = \$\$dave@a.example\$\$" >out &&
	echo pending >expect && test_cmp expect out
'

test_expect_success 'the BG holds the ARM for dave, and gave bob his' '
	courier_bg_sql "SELECT message_id, recipient, released_at IS NULL FROM held_arms" >out &&
	echo "plans@a.example|dave@a.example|t" >expect &&
	test_cmp expect out &&
	courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = \$\$dave@a.example\$\$" >out &&
	echo 0 >expect && test_cmp expect out
'

test_expect_success 'a second message to dave does not invite him twice' '
	printf "From: alice@a.example\r\nTo: dave@a.example\r\nSubject: again\r\nMessage-ID: <again@a.example>\r\n\r\nAnd one more.\r\n" >again.eml &&
	agent alice send --to dave@a.example --in again.eml >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$" 2 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$" 2 30 &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations WHERE address = \$\$dave@a.example\$\$")" = 1 &&
	postfix_wait_queue_empty fg 30 &&
	test "$(cr_maildir_match dave "^Tandem-Kind: invitation" | wc -l)" = 1
'

test_expect_success 'tandemctl status on each element says what it holds and owes' '
	tandemctl status --conf "$CR_FG_CONF" >fg.out &&
	test_grep "^accounts active=2\$" fg.out &&
	test_grep "^invitations pending=1\$" fg.out &&
	test_grep "^held messages=2\$" fg.out &&
	test_grep "^outbox waiting=[0-9]* oldest_seconds=[0-9]*\$" fg.out &&
	test_grep "^replication slot=[a-z_0-9]* active=yes lag_bytes=[0-9]*\$" fg.out &&
	test_grep "^refusals last_24h=0\$" fg.out &&
	tandemctl status --conf "$CR_BG_CONF" >bg.out &&
	test_grep "^accounts active=2\$" bg.out &&
	test_grep "^held arms=2\$" bg.out &&
	test_grep "^outbox waiting=0 oldest_seconds=0\$" bg.out &&
	test_grep "^replication subscription=tandem_bg heartbeat_age_seconds=[0-9]*\$" bg.out &&
	test_grep_not "^held messages" bg.out && test_grep_not "^held arms" fg.out
'

test_expect_success_here 'dave registers from the invitation' '
	agent_conf dave &&
	agent_register dave
'

test_expect_success 'the FG released both held contents to dave by mail' '
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE released_at IS NOT NULL" 2 30 &&
	maildir_wait dave "^Message-ID: <plans@a.example>" 30 >/dev/null &&
	maildir_wait dave "^Message-ID: <again@a.example>" 30 >/dev/null
'

test_expect_success 'the BG released both ARMs to dave'"'"'s mailbox' '
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 2 30 &&
	agent dave fetch | sort >out &&
	printf "again@a.example\nplans@a.example\n" >expect &&
	test_cmp expect out
'

test_expect_success 'dave reads both, exactly as alice wrote them' '
	mkdir dave-got &&
	agent dave read --out-dir dave-got >/dev/null &&
	cmp plans.eml dave-got/plans@a.example.eml &&
	cmp again.eml dave-got/again@a.example.eml &&
	test "$(ls dave-got | wc -l)" = 2
'

test_expect_success 'nothing is held any more, nothing is left in the queue' '
	tandemctl status --conf "$CR_FG_CONF" >fg.out &&
	test_grep "^held messages=0\$" fg.out &&
	tandemctl status --conf "$CR_BG_CONF" >bg.out &&
	test_grep "^held arms=0\$" bg.out &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE released_at IS NULL")" = 0 &&
	test "$(courier_bg_sql "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 0 &&
	test "$(courier_fg_sql "SELECT count(*) FROM outbox WHERE sent_at IS NULL")" = 0 &&
	postfix_wait_queue_empty fg 30
'

test_expect_success 'one log line per message per element, found by its Message-ID' '
	grep "status=accepted msgid=plans@a.example " "$TRASH/fg/milter.log" >fg.line &&
	test "$(wc -l <fg.line)" = 1 &&
	test_grep "^tandem-milter: [0-9A-F][0-9A-F]* from=alice@a.example status=accepted msgid=plans@a.example rcpt=bob@a.example route=deliver-local rcpt=dave@a.example route=hold-and-invite rewrapped=1\$" fg.line &&
	grep "arm msgid=plans@a.example sender=" "$TRASH/bg/policyd.log" >bg.line &&
	test "$(wc -l <bg.line)" = 1 &&
	test_grep "^tandem-policyd: arm msgid=plans@a.example sender=alice@a.example status=stored delivered=1 held=1\$" bg.line
'

test_expect_success 'each message reached dave exactly once' '
	test "$(cr_maildir_match dave "^Message-ID: <plans@a.example>" | wc -l)" = 1 &&
	test "$(cr_maildir_match dave "^Message-ID: <again@a.example>" | wc -l)" = 1 &&
	test "$(cr_maildir_match bob "^Message-ID: <plans@a.example>" | wc -l)" = 1
'

test_done
