test_description='policyd: deferral to the superior, then the introduction back makes the next ARM go direct (figure 8)'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

test_have_prog curl || test_skip_all 'curl not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

test_expect_success_here 'private couriers b and c under public a; carol at c, bob at b' '
	bf_setup >setup.log 2>&1 &&
	bf_account c carol active && bf_agent b bob &&
	pg_wait_for bg bgc "SELECT count(*) FROM accounts" 1 &&
	pg_wait_for bg bgb "SELECT count(*) FROM accounts" 1 &&
	bf_intro c a >intro.out && bf_intro a b >>intro.out &&
	bf_intro a c >>intro.out &&
	bf_start a && bf_start b && bf_start c
'

test_expect_success 'c knows only its superior: bob@b.example is deferred to a' '
	test "$(bf_psql c "SELECT courier FROM introductions")" = a.example &&
	bf_post 201 c carol m1 bob@b.example &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=forward courier=a.example hops=1 origin=c.example" c.log
'

test_expect_success 'a routes it down to b (rule 4), hop 2, origin still c' '
	pg_wait_for bg bga "SELECT count(*) FROM bg_outbox WHERE sent_at IS NOT NULL" 1 &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=forward courier=b.example hops=2 origin=c.example" a.log &&
	test "$(bf_psql a "SELECT count(*) FROM introductions WHERE courier = \$\$c.example\$\$ AND learned_at > now() - interval \$\$1 hour\$\$")" = 1
'

test_expect_success 'b delivers it to bob, and introduces itself to c directly' '
	pg_wait_for bg bgb "SELECT count(*) FROM agent_mailbox" 1 &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=deliver hops=2 origin=c.example" b.log &&
	test_grep "courier introduce courier=c.example url=$(bf_url c) addresses=1" b.log &&
	test "$(bf_psql b "SELECT courier, endpoint, domains, role FROM introductions")" = "c.example|$(bf_url c)|{c.example}|private" &&
	pg_wait_for bg bgb "SELECT count(*) FROM bg_outbox WHERE sent_at IS NOT NULL AND kind = \$\$introduction\$\$" 1 &&
	tandem fetch -d b-bob.d $(bf_net b) >fetched &&
	echo m1@c.example >fetched.want && test_cmp fetched.want fetched
'

test_expect_success 'c records b and learns bob@b.example' '
	test_grep "courier introduction courier=b.example url=$(bf_url b) status=recorded" c.log &&
	test_grep "courier learned address=bob@b.example courier=b.example reason=introduced" c.log &&
	test "$(bf_psql c "SELECT courier, domains, role FROM introductions WHERE courier = \$\$b.example\$\$")" = "b.example|{b.example}|private" &&
	test "$(bf_psql c "SELECT address, courier, reason FROM address_routes")" = "bob@b.example|b.example|introduced"
'

test_expect_success 'the next ARM from c to bob goes direct, hop 1' '
	bf_post 201 c carol m2 bob@b.example &&
	test_grep "courier msgid=m2@c.example rcpt=bob@b.example action=forward courier=b.example hops=1 origin=c.example" c.log &&
	pg_wait_for bg bgb "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m2@c.example\$\$" 1 &&
	test_grep "courier msgid=m2@c.example rcpt=bob@b.example action=deliver hops=1 origin=c.example" b.log &&
	test_grep_not "msgid=m2@c.example" a.log &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox WHERE kind = \$\$introduction\$\$")" = 1
'

test_expect_success 'the same introduction again is a duplicate: 200, nothing new' '
	bf_psql b "UPDATE bg_outbox SET sent_at = NULL, next_attempt_at = now() WHERE kind = \$\$introduction\$\$" >/dev/null &&
	pg_wait_for bg bgb "SELECT count(*) FROM bg_outbox WHERE sent_at IS NULL" 0 &&
	test_grep "courier-send id=1 url=$(bf_url c) status=sent code=200" b.log &&
	test "$(bf_psql c "SELECT count(*) FROM seen_messages WHERE kind = \$\$introduction\$\$")" = 1
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b && bf_stop c
'

test_done
