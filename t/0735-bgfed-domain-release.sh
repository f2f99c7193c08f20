test_description='policyd: an introduction releases the held ARMs of every address under its Domain, not only its Address fields'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

# Public a holds alice's ARMs for dave@b.example, erin@sales.b.example
# and carol@c.example: it has no introduction of b nor of c. Then b's
# background introduces itself to a (Domain: b.example, Address:
# bob@b.example only). Every held ARM under b.example goes on to b by
# rule 4 (the domain of an introduced private courier), dave's is
# delivered there and erin's held there; carol's stays at a.

test_have_prog curl || test_skip_all 'curl not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

test_expect_success_here 'public a, private b below it; alice at a, dave at b with his agent' '
	bf_setup >setup.log 2>&1 &&
	bf_account a alice active && bf_agent b dave &&
	bf_wait a "SELECT count(*) FROM accounts" 1 &&
	bf_wait b "SELECT count(*) FROM accounts" 1 &&
	bf_intro b a >intro.out &&
	bf_start a && bf_start b
'

test_expect_success 'a knows no b: its ARMs for b.example and c.example are held' '
	bf_post 201 a alice m1 dave@b.example erin@sales.b.example carol@c.example &&
	for r in dave@b.example erin@sales.b.example carol@c.example; do
		test_grep "arm msgid=m1@a.example rcpt=$r action=hold route=hold-and-invite" a.log || return 1
	done &&
	test "$(bf_psql a "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 3
'

test_expect_success 'b introduces itself to a with Domain b.example and Address bob only' '
	bf_intro_msg b.in n1@b.example b bob@b.example &&
	test_grep "^Domain: b.example" b.in &&
	test_grep_not "dave\|erin" b.in &&
	bf_send 201 b b a b.in &&
	test_grep "courier introduction courier=b.example url=$(bf_url b) status=recorded" a.log &&
	test "$(bf_psql a "SELECT address, courier, reason FROM address_routes")" = "bob@b.example|b.example|introduced"
'

test_expect_success 'a sends on the held ARMs under b.example by rule 4, keeps carol'"'"'s' '
	bf_wait a "SELECT string_agg(recipient, \$\$ \$\$ ORDER BY recipient) FROM held_arms WHERE released_at IS NOT NULL" "dave@b.example erin@sales.b.example" &&
	test_grep "courier msgid=m1@a.example rcpt=dave@b.example action=forward courier=b.example hops=1 origin=a.example route=to-introduced-courier" a.log &&
	test_grep "courier msgid=m1@a.example rcpt=erin@sales.b.example action=forward courier=b.example hops=1 origin=a.example route=to-introduced-courier" a.log &&
	test "$(bf_psql a "SELECT recipient FROM held_arms WHERE released_at IS NULL")" = carol@c.example &&
	test_grep_not "rcpt=carol@c.example action=forward" a.log
'

test_expect_success 'b delivers dave'"'"'s ARM and holds erin'"'"'s (its own domain)' '
	bf_wait b "SELECT message_id FROM agent_mailbox" m1@a.example &&
	test_grep "courier msgid=m1@a.example rcpt=dave@b.example action=deliver hops=1 origin=a.example" b.log &&
	bf_wait b "SELECT recipient FROM held_arms" erin@sales.b.example &&
	test_grep "courier msgid=m1@a.example rcpt=erin@sales.b.example action=hold hops=1 origin=a.example" b.log &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox WHERE sent_at IS NULL")" = 0
'

test_expect_success 'dave fetches the ARM alice made' '
	tandem fetch -d b-dave.d $(bf_net b) >fetched &&
	echo m1@a.example >fetched.want && test_cmp fetched.want fetched
'

test_expect_success 'each held ARM went once: the next passes send nothing more' '
	sleep 3 &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox WHERE kind = \$\$inter-courier\$\$")" = 2 &&
	test "$(grep -c "courier msgid=m1@a.example rcpt=.* action=forward" a.log)" = 2
'

# fgq X SQL: on X's foreground database (its accounts replicate).
fgq() {
	pg_psql fg$(bf_cl $1) fg$1 -At -c "$2"
}

test_expect_success 'erin moves from b to a: b hands her held ARM over under its origin a, one hop more' '
	fgq a "INSERT INTO accounts (address, status, transferred_from) VALUES (\$\$erin@sales.b.example\$\$, \$\$active\$\$, \$\$b.example\$\$)" &&
	bf_wait a "SELECT status FROM accounts WHERE address = \$\$erin@sales.b.example\$\$" active &&
	fgq b "INSERT INTO accounts (address, status, redirect_to) VALUES (\$\$erin@sales.b.example\$\$, \$\$transferred\$\$, \$\$a.example\$\$)" &&
	bf_wait b "SELECT count(*) FROM held_arms WHERE recipient = \$\$erin@sales.b.example\$\$ AND released_at IS NOT NULL" 1 &&
	test_grep "account address=erin@sales.b.example status=notified" b.log &&
	test_grep "courier msgid=m1@a.example rcpt=erin@sales.b.example action=forward courier=a.example hops=2 origin=a.example route=to-new-courier" b.log &&
	bf_wait a "SELECT count(*) FROM held_arms WHERE recipient = \$\$erin@sales.b.example\$\$ AND hops = 2" 1 &&
	test_grep "courier msgid=m1@a.example rcpt=erin@sales.b.example action=hold hops=2 origin=a.example" a.log &&
	test_grep_not "claims a sender outside its name constraints" a.log
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b
'

test_done
