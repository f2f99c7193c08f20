test_description='end to end: hygiene purges held mail, ARMs and invitations; the sender is told'
. "$TANDEM_SRC/t/test-lib.sh"

# DESIGN.md section 4, hygiene: what waits longer than hold_limit for a
# recipient who never registers is purged on both elements, the
# invitation dies with it, and the sender's agent gets a receipt.
# Short limits here (tandem.conf(5) allows them for tests).

CR_HOLD_LIMIT=20s
CR_PURGE_INTERVAL=2s

test_expect_success_here 'a courier with a 20 s hold limit; alice registers' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	test_grep "hold_limit = 20s" "$CR_FG_CONF" &&
	agent_register alice
'

printf 'From: alice@a.example\r\nTo: dave@a.example\r\nSubject: waiting\r\nMessage-ID: <waiting@a.example>\r\n\r\nDave never comes.\r\n' >waiting.eml
printf 'From: alice@a.example\r\nTo: erin@a.example\r\nSubject: in time\r\nMessage-ID: <intime@a.example>\r\n\r\nErin comes quickly.\r\n' >intime.eml

test_expect_success_here 'alice writes to dave and erin, neither registered' '
	agent alice send --to dave@a.example --in waiting.eml >/dev/null &&
	agent alice send --to erin@a.example --in intime.eml >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE purged_at IS NULL" 2 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE purged_at IS NULL" 2 30 &&
	inv=$(maildir_wait dave "^Tandem-Kind: invitation" 30)
'

test_expect_success_here 'erin registers in time' '
	maildir_wait erin "^Tandem-Kind: invitation" 30 >/dev/null &&
	agent_register erin &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE recipient = \$\$erin@a.example\$\$ AND released_at IS NOT NULL" 1 30
'

test_expect_success 'after the hold limit the FG purges dave'"'"'s copy and drops the content' '
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$ AND purged_at IS NOT NULL" 1 60 &&
	courier_fg_sql "SELECT octet_length(body) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$" >out &&
	echo 0 >expect && test_cmp expect out &&
	test_grep "hygiene msgid=waiting@a.example sender=alice@a.example rcpt=dave@a.example status=purged" "$TRASH/fg/milter.log"
'

test_expect_success 'the invitation expired with it' '
	pg_wait_for fg fg "SELECT status FROM invitations WHERE address = \$\$dave@a.example\$\$" expired 30
'

test_expect_success 'the BG purges the held ARM' '
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$ AND purged_at IS NOT NULL" 1 60
'

test_expect_success 'what was released in time stays released, not purged' '
	courier_fg_sql "SELECT released_at IS NOT NULL, purged_at IS NULL FROM held_messages WHERE recipient = \$\$erin@a.example\$\$" >out &&
	echo "t|t" >expect && test_cmp expect out &&
	courier_bg_sql "SELECT released_at IS NOT NULL, purged_at IS NULL FROM held_arms WHERE recipient = \$\$erin@a.example\$\$" >out &&
	test_cmp expect out &&
	agent erin fetch >/dev/null &&
	mkdir erin-got &&
	agent erin read --id intime@a.example --out-dir erin-got >/dev/null &&
	cmp intime.eml erin-got/intime@a.example.eml
'

test_expect_success 'alice is told: a service mail from her courier' '
	f=$(maildir_wait alice "^Tandem-Kind: service" 30 | tail -n 1) &&
	test "$(cr_maildir_match alice "^Tandem-Kind: service" | wc -l)" -ge 2 &&
	test_grep "^From: tandem@a.example" "$f" &&
	test_grep "hygiene msgid=waiting@a.example sender=alice@a.example rcpt=dave@a.example status=purged receipt=queued" "$TRASH/fg/milter.log" &&
	agent alice read >read.out 2>read.err ;
	cat read.out read.err &&
	test_grep "receipt from the courier" read.err
'

test_expect_success 'dave, too late, cannot register with the dead invitation' '
	agent_conf dave &&
	test_must_fail agent dave register --invitation "$inv" \
	    --anchor "$CR_ANCHOR" --timeout 10 2>err &&
	cat err &&
	test_grep "the invitation expired at" err &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts WHERE address = \$\$dave@a.example\$\$")" = 0
'

test_expect_success 'the BG erased the purged ARM'"'"'s wrap' '
	courier_bg_sql "SELECT coalesce(octet_length(arm), 0) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$" >out &&
	echo 0 >expect && test_cmp expect out
'

test_done
