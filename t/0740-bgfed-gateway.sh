test_description='policyd: deferral through two superiors; a gateway keeps its segment to itself, for ARMs, and will not carry a revocation across its border'
. "$TANDEM_SRC/t/test-lib.sh"
BF_TREE="a:public:root x:private:a g:gateway:root s:public:g c:private:s b:private:g"
. "$TANDEM_SRC/t/lib-bgfed.sh"

test_have_prog curl || test_skip_all 'curl not found'

sent() {
	bf_wait $1 "SELECT count(*) FROM bg_outbox WHERE sent_at IS NULL" 0 &&
	bf_wait $1 "SELECT count(*) > 0 FROM bg_outbox" t
}

test_expect_success_here 'gateway g with s (public) and b (private) below, c below s; x below public a' '
	bf_setup >setup.log 2>&1 &&
	bf_account c carol active && bf_account b bob active &&
	bf_account x xavier active &&
	for x in b c x; do bf_wait $x "SELECT count(*) FROM accounts" 1 || return 1; done &&
	for p in c:s s:g s:c g:s g:b b:g a:x x:a; do
		bf_intro ${p%:*} ${p#*:} >>intro.out || return 1
	done &&
	for x in a x g s c b; do bf_start $x || return 1; done
'

test_expect_success 'c defers to s, s (under a gateway) defers to g, g sends down to b' '
	bf_post 201 c carol m1 bob@b.example &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=forward courier=s.example hops=1 origin=c.example" c.log &&
	sent c &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=forward courier=g.example hops=2 origin=c.example" s.log &&
	sent s &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=forward courier=b.example hops=3 origin=c.example" g.log &&
	bf_wait b "SELECT message_id FROM agent_mailbox" m1@c.example &&
	test_grep "courier msgid=m1@c.example rcpt=bob@b.example action=deliver hops=3 origin=c.example" b.log
'

test_expect_success 'inside the segment b introduces itself to c; the next ARM goes direct' '
	test_grep "courier introduce courier=c.example url=$(bf_url c) addresses=1" b.log &&
	bf_wait c "SELECT courier || \$\$ \$\$ || reason FROM address_routes" "b.example introduced" &&
	bf_post 201 c carol m2 bob@b.example &&
	test_grep "courier msgid=m2@c.example rcpt=bob@b.example action=forward courier=b.example hops=1 origin=c.example" c.log &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m2@c.example\$\$" 1
'

test_expect_success 'x (outside) to bob: a sends to g by a learned route; g puts itself as origin into its segment' '
	bf_intro a g >>intro.out &&
	bf_psql a "INSERT INTO address_routes (address, courier, reason) VALUES (\$\$bob@b.example\$\$, \$\$g.example\$\$, \$\$rejected\$\$)" >/dev/null &&
	bf_post 201 x xavier m3 bob@b.example &&
	test_grep "courier msgid=m3@x.example rcpt=bob@b.example action=forward courier=a.example hops=1 origin=x.example" x.log &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m3@x.example\$\$" 1 &&
	test_grep "courier msgid=m3@x.example rcpt=bob@b.example action=forward courier=g.example hops=2 origin=x.example" a.log &&
	test_grep "courier msgid=m3@x.example rcpt=bob@b.example action=forward courier=b.example hops=3 origin=g.example" g.log &&
	test_grep "courier msgid=m3@x.example rcpt=bob@b.example action=deliver hops=3 origin=g.example" b.log
'

test_expect_success 'b learns nothing of x; g introduces itself to x for its segment' '
	test "$(bf_psql b "SELECT string_agg(courier, \$\$ \$\$ ORDER BY courier) FROM introductions")" = "c.example g.example" &&
	test_grep "courier introduce courier=x.example url=$(bf_url x) addresses=1" g.log &&
	bf_wait x "SELECT courier || \$\$ \$\$ || domains::text || \$\$ \$\$ || role FROM introductions WHERE courier = \$\$g.example\$\$" "g.example {b.example} gateway" &&
	test "$(bf_psql x "SELECT address, courier FROM address_routes")" = "bob@b.example|g.example"
'

test_expect_success 'the next ARM from x goes to g directly, and g still hides x from b' '
	bf_post 201 x xavier m4 bob@b.example &&
	test_grep "courier msgid=m4@x.example rcpt=bob@b.example action=forward courier=g.example hops=1 origin=x.example" x.log &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m4@x.example\$\$" 1 &&
	test_grep "courier msgid=m4@x.example rcpt=bob@b.example action=forward courier=b.example hops=2 origin=g.example" g.log &&
	test_grep_not "msgid=m4@x.example" a.log
'

test_expect_success 'xavier revokes m4: g will not sign the revoke as its own into its segment; b keeps the ARM' '
	bf_revoke 200 x xavier m4@x.example &&
	echo "revoked 0; 1 sent on to other couriers, their receipts follow" >expect &&
	test_cmp expect out.body &&
	test_grep "revoke msgid=m4@x.example rcpt=bob@b.example status=sent courier=g.example" x.log &&
	n=0 && until grep -q "m4@x.example rcpt=bob@b.example action=drop" g.log || test $n = 100; do
		n=$((n + 1)) && sleep 0.1
	done &&
	test_grep "courier msgid=m4@x.example rcpt=bob@b.example action=drop reason=\"a revoke or a receipt does not cross a gateway.s border\"" g.log &&
	test_grep_not "m4@x.example.*part=revoke" g.log &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m4@x.example\$\$")" = 1 &&
	test "$(bf_psql x "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$")" = 0
'

test_expect_success 'SIGTERM stops them all cleanly' '
	for x in a x g s c b; do bf_stop $x || return 1; done
'

test_done
