test_description='policyd: an ARM for an introduced courier goes BG to BG (figure 7), retried while that BG is down, given up when it refuses'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

test_have_prog curl || test_skip_all 'curl not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

test_expect_success_here 'couriers a and b, alice at a, bob at b with his agent' '
	bf_setup >setup.log 2>&1 &&
	bf_account a alice active && bf_agent b bob &&
	pg_wait_for bg bga "SELECT count(*) FROM accounts" 1 &&
	pg_wait_for bg bgb "SELECT count(*) FROM accounts" 1 &&
	bf_start a && bf_start b
'

test_expect_success 'a has no route to b.example yet: a public courier holds' '
	bf_post 201 a alice m0 bob@b.example &&
	test_grep "arm msgid=m0@a.example rcpt=bob@b.example action=hold route=hold-and-invite" a.log &&
	test "$(bf_psql a "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 1
'

test_expect_success 'the operator introduces b to a: the next hygiene pass forwards the held ARM' '
	bf_intro a b >intro.out &&
	pg_wait_for bg bga "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 1 &&
	test_grep "courier msgid=m0@a.example rcpt=bob@b.example action=forward courier=b.example hops=1 origin=a.example" a.log &&
	pg_wait_for bg bgb "SELECT message_id FROM agent_mailbox" m0@a.example &&
	tandem fetch -d b-bob.d $(bf_net b) >fetched &&
	echo m0@a.example >fetched.want && test_cmp fetched.want fetched
'

test_expect_success 'a knows b.example from the introduction of b' '
	test "$(bf_psql a "SELECT courier, endpoint, domains FROM introductions WHERE element = \$\$bg\$\$")" = "b.example|$(bf_url b)|{b.example}"
'

test_expect_success 'alice posts an ARM for bob: queued at a, POSTed to b, in bob'"'"'s mailbox' '
	bf_post 201 a alice m1 bob@b.example &&
	test_grep "courier msgid=m1@a.example rcpt=bob@b.example action=forward courier=b.example hops=1 origin=a.example" a.log &&
	pg_wait_for bg bga "SELECT count(*) FROM bg_outbox WHERE sent_at IS NOT NULL" 2 &&
	test_grep "courier-send id=2 url=$(bf_url b) status=sent code=201" a.log &&
	test_grep "courier msgid=m1@a.example rcpt=bob@b.example action=deliver hops=1 origin=a.example" b.log &&
	test "$(bf_psql b "SELECT address, message_id FROM agent_mailbox")" = "bob@b.example|m1@a.example" &&
	test "$(bf_psql a "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 0
'

test_expect_success 'bob fetches it with his agent: the ARM alice made' '
	tandem fetch -d b-bob.d $(bf_net b) >fetched &&
	echo m1@a.example >fetched.want && test_cmp fetched.want fetched &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox")" = 0
'

test_expect_success 'b took each message once: their Ids are seen; b recorded a, introduced nobody back' '
	test "$(bf_psql b "SELECT count(*) FROM seen_messages WHERE kind = \$\$inter-courier\$\$")" = 2 &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox")" = 0 &&
	test "$(bf_psql b "SELECT courier, endpoint, role FROM introductions")" = "a.example|$(bf_url a)|public" &&
	test_grep_not "courier introduce" b.log
'

test_expect_success_here 'b is down: a retries with backoff, delivers once b is back' '
	bf_stop b &&
	bf_post 201 a alice m2 bob@b.example &&
	pg_wait_for bg bga "SELECT attempts >= 2 FROM bg_outbox WHERE message_id = \$\$m2@a.example\$\$" t &&
	test "$(bf_psql a "SELECT sent_at IS NULL AND last_error IS NOT NULL FROM bg_outbox WHERE message_id = \$\$m2@a.example\$\$")" = t &&
	test_grep "courier-send id=3 url=$(bf_url b) status=retry" a.log &&
	bf_start b &&
	pg_wait_for bg bga "SELECT count(*) FROM bg_outbox WHERE sent_at IS NULL" 0 30 &&
	test "$(bf_psql b "SELECT message_id FROM agent_mailbox")" = m2@a.example
'

test_expect_success_here 'an introduction whose URL leads to another BG: it refuses (400), a gives up on the row' '
	bf_psql a "UPDATE introductions SET endpoint = \$\$$(bf_url c)\$\$ WHERE courier = \$\$b.example\$\$" >/dev/null &&
	bf_start c &&
	bf_post 201 a alice m3 bob@b.example &&
	pg_wait_for bg bga "SELECT attempts >= 1 FROM bg_outbox WHERE message_id = \$\$m3@a.example\$\$" t &&
	test_grep "courier-send id=4 url=$(bf_url c) status=failed code=400 reason=\"400 garbled wrap" a.log &&
	test "$(bf_psql a "SELECT sent_at IS NULL, next_attempt_at = \$\$infinity\$\$, last_error LIKE \$\$400 garbled wrap%\$\$ FROM bg_outbox WHERE id = 4")" = "t|t|t" &&
	sleep 4 &&
	test "$(bf_psql a "SELECT attempts FROM bg_outbox WHERE id = 4")" = 1 &&
	test_grep_not "courier-send id=4 .*status=retry" a.log &&
	test "$(bf_psql c "SELECT count(*) FROM seen_messages")" = 0
'

test_expect_success_here 'b answers 503 (no database for it): a keeps retrying, delivers once it is back' '
	bf_psql a "UPDATE introductions SET endpoint = \$\$$(bf_url b)\$\$ WHERE courier = \$\$b.example\$\$" >/dev/null &&
	bf_psql b "ALTER DATABASE bgb CONNECTION LIMIT 0" >/dev/null &&
	bf_psql b "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = \$\$bgb\$\$ AND usename = \$\$tandem_bg\$\$" >/dev/null &&
	bf_post 201 a alice m4 bob@b.example &&
	pg_wait_for bg bga "SELECT attempts >= 2 FROM bg_outbox WHERE message_id = \$\$m4@a.example\$\$" t &&
	test_grep "courier-send id=5 url=$(bf_url b) status=retry reason=\"503 database unavailable" a.log &&
	test "$(bf_psql a "SELECT next_attempt_at < \$\$infinity\$\$ FROM bg_outbox WHERE id = 5")" = t &&
	bf_psql b "ALTER DATABASE bgb CONNECTION LIMIT -1" >/dev/null &&
	pg_wait_for bg bga "SELECT sent_at IS NOT NULL FROM bg_outbox WHERE id = 5" t 30 &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m4@a.example\$\$")" = 1
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b && bf_stop c
'

test_done
