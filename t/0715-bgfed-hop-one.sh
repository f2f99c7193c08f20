test_description='policyd: at hop 1 a background introduces itself back to a subordinate that deferred to it, never to an introduced peer'
. "$TANDEM_SRC/t/test-lib.sh"
BF_TREE="g:gateway:root b:private:g c:private:g"
. "$TANDEM_SRC/t/lib-bgfed.sh"

# Gateway g with private b and c below it. bob@b.example writes to
# gina@g.example: b has no route, defers to g (hop 1); g delivers, and
# since b is its subordinate it introduces itself back (Address: gina),
# as the foreground does. Inside its segment g speaks for itself only:
# its segment's domains would cover b's own. carol@c.example, whose
# background the operator introduced to b's, writes to bob directly
# (hop 1 from a courier that is not b's subordinate): b records c but
# introduces nothing back.

test_have_prog curl || test_skip_all 'curl not found'

test_expect_success_here 'gateway g, private b and c below it; gina at g, bob at b, carol at c' '
	bf_setup >setup.log 2>&1 &&
	bf_account g gina active && bf_account b bob active &&
	bf_account c carol active &&
	for x in g b c; do bf_wait $x "SELECT count(*) FROM accounts" 1 || return 1; done &&
	for p in g:b g:c b:g c:g c:b; do
		bf_intro ${p%:*} ${p#*:} >>intro.out || return 1
	done &&
	for x in g b c; do bf_start $x || return 1; done
'

test_expect_success 'b defers bob'"'"'s first ARM for gina to g' '
	bf_post 201 b bob m1 gina@g.example &&
	test_grep "courier msgid=m1@b.example rcpt=gina@g.example action=forward courier=g.example hops=1 origin=b.example route=defer-to-superior" b.log &&
	bf_wait g "SELECT message_id FROM agent_mailbox" m1@b.example &&
	test_grep "courier msgid=m1@b.example rcpt=gina@g.example action=deliver hops=1 origin=b.example" g.log
'

test_expect_success 'g introduces itself back to b at hop 1, without its segment'"'"'s domains' '
	test_grep "courier introduce courier=b.example url=$(bf_url b) addresses=1" g.log &&
	bf_wait b "SELECT address || \$\$ \$\$ || courier || \$\$ \$\$ || reason FROM address_routes" "gina@g.example g.example introduced" &&
	test_grep "courier learned address=gina@g.example courier=g.example reason=introduced" b.log &&
	test "$(bf_psql b "SELECT courier, domains, role FROM introductions WHERE courier = \$\$g.example\$\$")" = "g.example|{}|gateway"
'

test_expect_success 'bob'"'"'s next ARM for gina goes by the learned route' '
	bf_post 201 b bob m2 gina@g.example &&
	test_grep "courier msgid=m2@b.example rcpt=gina@g.example action=forward courier=g.example hops=1 origin=b.example route=to-learned-courier" b.log &&
	bf_wait g "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m2@b.example\$\$" 1
'

test_expect_success 'b still holds for an unregistered address of its own domain' '
	bf_post 201 b bob m3 nora@b.example &&
	test_grep "arm msgid=m3@b.example rcpt=nora@b.example action=hold route=hold-and-invite" b.log &&
	test "$(bf_psql b "SELECT recipient FROM held_arms WHERE released_at IS NULL")" = nora@b.example
'

test_expect_success 'carol at c writes to bob directly (hop 1, c is no subordinate of b)' '
	bf_post 201 c carol m4 bob@b.example &&
	test_grep "courier msgid=m4@c.example rcpt=bob@b.example action=forward courier=b.example hops=1 origin=c.example route=to-introduced-courier" c.log &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m4@c.example\$\$" 1 &&
	test_grep "courier msgid=m4@c.example rcpt=bob@b.example action=deliver hops=1 origin=c.example" b.log
'

test_expect_success 'b records c, introduces nothing back, and c learns no address' '
	test "$(bf_psql b "SELECT string_agg(courier, \$\$ \$\$ ORDER BY courier) FROM introductions")" = "c.example g.example" &&
	test_grep_not "courier introduce" b.log &&
	test "$(bf_psql b "SELECT count(*) FROM bg_outbox WHERE kind = \$\$introduction\$\$")" = 0 &&
	test "$(bf_psql c "SELECT count(*) FROM address_routes")" = 0
'

test_expect_success 'SIGTERM stops them all cleanly' '
	for x in g b c; do bf_stop $x || return 1; done
'

test_done
