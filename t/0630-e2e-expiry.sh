test_description='end to end: a restricted message expires at the agent and at the BG'
. "$TANDEM_SRC/t/test-lib.sh"

# Restricted messages carry an expiry in their ARM. The recipient's
# agent refuses to open one after it and deletes its key; the BG drops
# an expired ARM instead of delivering it (DESIGN.md section 2).

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

# arm_of USER MSGID: the ARM USER's agent keeps (sealed in its store)
arm_of() {
	agent "$1" arm "$2" 2>/dev/null || :
}

printf 'From: alice@a.example\r\nTo: bob@a.example\r\nSubject: soon gone\r\nMessage-ID: <soon@a.example>\r\n\r\nRead this within the minute.\r\n' >soon.eml

test_expect_success_here 'alice sends bob a message that expires in 20 seconds' '
	sent_at=$(date +%s) &&
	agent alice send --to bob@a.example --expires 20 --in soon.eml >out &&
	echo soon@a.example >expect && test_cmp expect out
'

test_expect_success 'before expiry bob fetches and reads it' '
	maildir_wait bob "^Message-ID: <soon@a.example>" 30 >/dev/null &&
	agent bob fetch >out &&
	echo soon@a.example >expect && test_cmp expect out &&
	arm_of bob soon@a.example >arm &&
	test_grep "^Content-Key: " arm &&
	test_grep "^Expires: " arm &&
	mkdir got && agent bob read --id soon@a.example --out-dir got >/dev/null &&
	cmp soon.eml got/soon@a.example.eml
'

test_expect_success 'after expiry bob'"'"'s agent refuses it and deletes its key' '
	while [ $(date +%s) -le $((sent_at + 21)) ]; do sleep 1; done &&
	mkdir late &&
	test_expect_code 14 agent bob read --id soon@a.example --out-dir late 2>err &&
	cat err &&
	test -z "$(ls late)" &&
	arm_of bob soon@a.example >arm &&
	test_grep_not "^Content-Key: " arm &&
	test_expect_code 14 agent bob read --id soon@a.example --out-dir late 2>err &&
	test -z "$(ls late)"
'

test_expect_success_here 'alice sends dave, not registered, a message that expires in 10 seconds' '
	printf "From: alice@a.example\r\nTo: dave@a.example\r\nSubject: too late\r\nMessage-ID: <late@a.example>\r\n\r\nYou will never read this.\r\n" >late.eml &&
	printf "From: alice@a.example\r\nTo: dave@a.example\r\nSubject: in time\r\nMessage-ID: <keep@a.example>\r\n\r\nThis one waits for you.\r\n" >keep.eml &&
	late_at=$(date +%s) &&
	agent alice send --to dave@a.example --expires 10 --in late.eml >/dev/null &&
	agent alice send --to dave@a.example --in keep.eml >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$" 2 30
'

test_expect_success 'the BG keeps the expiry of the held ARM' '
	courier_bg_sql "SELECT message_id FROM held_arms WHERE expires_at IS NOT NULL" >out &&
	echo late@a.example >expect && test_cmp expect out
'

test_expect_success_here 'dave registers after the expiry' '
	while [ $(date +%s) -le $((late_at + 11)) ]; do sleep 1; done &&
	agent_register dave
'

test_expect_success 'the BG delivered only the ARM that had not expired' '
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE message_id = \$\$keep@a.example\$\$ AND released_at IS NOT NULL" 1 30 &&
	courier_bg_sql "SELECT message_id FROM agent_mailbox WHERE address = \$\$dave@a.example\$\$" >out &&
	echo keep@a.example >expect && test_cmp expect out &&
	agent dave fetch >out &&
	test_cmp expect out &&
	test -z "$(arm_of dave late@a.example)"
'

test_expect_success 'dave reads the one in time; the expired one has no key anywhere' '
	maildir_wait dave "^Message-ID: <keep@a.example>" 30 >/dev/null &&
	maildir_wait dave "^Message-ID: <late@a.example>" 30 >/dev/null &&
	mkdir dave-got &&
	agent dave read --id keep@a.example --out-dir dave-got >/dev/null &&
	cmp keep.eml dave-got/keep@a.example.eml &&
	test_expect_code 16 agent dave read --id late@a.example --out-dir dave-got 2>err &&
	cat err &&
	test "$(ls dave-got)" = keep@a.example.eml
'

test_expect_success 'an ARM that expires while it waits at the BG is dropped at fetch' '
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: brief\r\nMessage-ID: <brief@a.example>\r\n\r\nbrief\r\n" >brief.eml &&
	t0=$(date +%s) &&
	agent alice send --to bob@a.example --expires 5 --in brief.eml >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$brief@a.example\$\$" 1 30 &&
	while [ $(date +%s) -le $((t0 + 6)) ]; do sleep 1; done &&
	agent bob fetch >out &&
	test_must_fail test -s out &&
	test -z "$(arm_of bob brief@a.example)" &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$brief@a.example\$\$ AND fetched_at IS NULL" 0 10
'

test_expect_success 'the daemons are alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
