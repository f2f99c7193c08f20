test_description='federation: a first message deferred through two superiors, the introduction back, the next one direct (figure 8)'
. "$TANDEM_SRC/t/test-lib.sh"

# A private courier may not sign couriers, so the chain of two
# deferring couriers sits in the gateway's segment: dept (private)
# under hub (public, under gateway gw: it defers too), and sub
# (private) under gw. bob@dept.example writes to erin@sub.example:
# dept defers to hub, hub to gw, gw sends down to sub (hops 3) on both
# paths; sub delivers and introduces itself back to dept directly; the
# second message goes from dept to sub directly (hops 1).

test_expect_success_here 'gw, hub, dept and sub run; bob at dept, erin at sub' '
	fed_pki gw hub dept sub && fed_start gw hub dept sub &&
	fed_register dept bob && fed_register sub erin
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
printf "From: bob@dept.example\r\nTo: erin@sub.example\r\nSubject: first\r\nMessage-ID: <t1@dept.example>\r\n\r\nFirst contact, two superiors up: %s\r\n" "$secret" >m1.eml
printf "From: bob@dept.example\r\nTo: erin@sub.example\r\nSubject: second\r\nMessage-ID: <t2@dept.example>\r\n\r\nAgain, directly: %s\r\n" "$secret" >m2.eml

test_expect_success 'dept knows no route to erin, and only its superior hub' '
	for k in fg bg; do
		fed_${k}_sql dept "SELECT count(*) FROM address_routes" >got &&
		echo 0 >want && test_cmp want got &&
		fed_${k}_sql dept "SELECT courier FROM introductions" >got &&
		echo hub.example >want && test_cmp want got || return 1
	done
'

test_expect_success 'the first message goes dept -> hub -> gw -> sub on both paths, and erin reads it' '
	fed_agent dept bob send --to erin@sub.example --in m1.eml >/dev/null &&
	fed_in sub maildir_wait erin "^Message-ID: <t1@dept.example>" 90 >/dev/null &&
	fed_wait_bg sub "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$t1@dept.example\$\$" 1 90 &&
	test_grep "msgid=t1@dept.example rcpt=erin@sub.example route=defer-to-superior to=hub.example" "$(fed_log dept fg)" &&
	test_grep "peer=dept.example .* msgid=t1@dept.example origin=dept.example hops=1 rcpt=erin@sub.example route=defer-to-superior forwarded=gw.example" "$(fed_log hub fg)" &&
	test_grep "peer=hub.example .* msgid=t1@dept.example origin=dept.example hops=2 rcpt=erin@sub.example route=to-introduced-courier forwarded=sub.example" "$(fed_log gw fg)" &&
	test_grep "peer=gw.example .* msgid=t1@dept.example origin=dept.example hops=3 rcpt=erin@sub.example route=deliver-local" "$(fed_log sub fg)" &&
	test_grep "courier msgid=t1@dept.example rcpt=erin@sub.example action=forward courier=hub.example hops=1 origin=dept.example" "$(fed_log dept bg)" &&
	test_grep "courier msgid=t1@dept.example rcpt=erin@sub.example action=forward courier=gw.example hops=2 origin=dept.example" "$(fed_log hub bg)" &&
	test_grep "courier msgid=t1@dept.example rcpt=erin@sub.example action=forward courier=sub.example hops=3 origin=dept.example" "$(fed_log gw bg)" &&
	test_grep "courier msgid=t1@dept.example rcpt=erin@sub.example action=deliver hops=3 origin=dept.example" "$(fed_log sub bg)" &&
	fed_agent sub erin fetch >/dev/null &&
	fed_agent sub erin read --id t1@dept.example >got && test_cmp m1.eml got
'

test_expect_success 'sub introduces itself back to dept directly, on both paths' '
	for k in fg bg; do
		fed_wait_$k dept "SELECT address || \$\$ \$\$ || courier || \$\$ \$\$ || reason FROM address_routes" "erin@sub.example sub.example introduced" 90 &&
		fed_${k}_sql dept "SELECT courier || \$\$ \$\$ || domains::text FROM introductions ORDER BY 1" >got &&
		printf "hub.example {}\nsub.example {sub.example}\n" >want &&
		test_cmp want got &&
		fed_${k}_sql sub "SELECT courier FROM introductions ORDER BY 1" >got &&
		printf "dept.example\ngw.example\n" >want &&
		test_cmp want got || return 1
	done &&
	test_grep "courier introduce courier=dept.example url=$(fed_var dept CR_BG_URL) addresses=1" "$(fed_log sub bg)" &&
	test_grep "peer=sub.example introduction=sub.example addresses=1" "$(fed_log dept fg)"
'

test_expect_success 'the second message goes dept -> sub directly on both paths, and erin reads it' '
	fed_agent dept bob send --to erin@sub.example --in m2.eml >/dev/null &&
	fed_in sub maildir_wait erin "^Message-ID: <t2@dept.example>" 90 >/dev/null &&
	fed_wait_bg sub "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$t2@dept.example\$\$" 1 90 &&
	test_grep "msgid=t2@dept.example rcpt=erin@sub.example route=to-learned-courier to=sub.example" "$(fed_log dept fg)" &&
	test_grep "peer=dept.example .* msgid=t2@dept.example origin=dept.example hops=1 rcpt=erin@sub.example route=deliver-local" "$(fed_log sub fg)" &&
	test_grep "courier msgid=t2@dept.example rcpt=erin@sub.example action=forward courier=sub.example hops=1 origin=dept.example" "$(fed_log dept bg)" &&
	test_grep "courier msgid=t2@dept.example rcpt=erin@sub.example action=deliver hops=1 origin=dept.example" "$(fed_log sub bg)" &&
	for x in hub gw; do
		for k in fg bg; do
			test_grep_not "msgid=t2@dept.example" "$(fed_log $x $k)" ||
			return 1
		done
	done &&
	fed_agent sub erin fetch >/dev/null &&
	fed_agent sub erin read --id t2@dept.example >got && test_cmp m2.eml got
'

test_expect_success 'each message was delivered once' '
	for m in t1 t2; do
		grep -ril "^Message-ID: <$m@dept.example>" "$(fed_maildir sub erin)" >files &&
		wc -l <files >n &&
		echo 1 >want && test_cmp want n &&
		grep -c "courier msgid=$m@dept.example rcpt=erin@sub.example action=deliver" "$(fed_log sub bg)" >n &&
		test_cmp want n || return 1
	done
'

test_expect_success 'split trust holds on the four couriers' '
	for m in t1 t2; do
		key=$(fed_content_key sub erin $m@dept.example) &&
		test ${#key} = 64 &&
		for x in dept hub gw sub; do
			fed_split_trust $x "$secret" "$key" || return 1
		done || return 1
	done
'

test_done
