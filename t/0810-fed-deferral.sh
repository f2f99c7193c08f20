test_description='federation: a first message deferred to the superior, the introduction back, the next one direct (figure 8)'
. "$TANDEM_SRC/t/test-lib.sh"

# Private corp has no route to carol@isp.example (isp is public: its
# introduction names no domain), so bob's first message to her is
# deferred to corp's superior, isp, on both paths; isp delivers it and
# introduces itself back with Address: carol; the second goes by the
# learned route, on both paths: isp's BG, too, introduces itself back
# to its subordinate at hop 1. (Deferral through two superiors needs a
# courier under a gateway segment: t/0740 covers it on the background
# path.)

test_expect_success_here 'isp and corp run; carol at isp, bob at corp' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register isp carol && fed_register corp bob
'

printf "From: bob@corp.example\r\nTo: carol@isp.example\r\nSubject: first\r\nMessage-ID: <d1@corp.example>\r\n\r\nFirst contact.\r\n" >m1.eml
printf "From: bob@corp.example\r\nTo: carol@isp.example\r\nSubject: second\r\nMessage-ID: <d2@corp.example>\r\n\r\nAgain.\r\n" >m2.eml

test_expect_success 'corp knows no route to carol' '
	test "$(fed_fg_sql corp "SELECT count(*) FROM address_routes")" = 0 &&
	test "$(fed_bg_sql corp "SELECT count(*) FROM address_routes")" = 0
'

test_expect_success 'the first message is deferred to isp on both paths, and carol reads it' '
	fed_agent corp bob send --to carol@isp.example --in m1.eml >/dev/null &&
	fed_in isp maildir_wait carol "^Message-ID: <d1@corp.example>" 60 >/dev/null &&
	test_grep "msgid=d1@corp.example rcpt=carol@isp.example route=defer-to-superior to=isp.example" "$(fed_log corp fg)" &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$d1@corp.example\$\$" 1 &&
	test_grep "courier msgid=d1@corp.example rcpt=carol@isp.example action=forward courier=isp.example hops=1 origin=corp.example route=defer-to-superior" "$(fed_log corp bg)" &&
	test_grep "courier msgid=d1@corp.example rcpt=carol@isp.example action=deliver hops=1 origin=corp.example" "$(fed_log isp bg)" &&
	fed_agent isp carol fetch >/dev/null &&
	fed_agent isp carol read --id d1@corp.example >got && test_cmp m1.eml got
'

test_expect_success 'isp'"'"'s FG introduces itself back: corp'"'"'s FG learns carol -> isp' '
	fed_wait_fg corp "SELECT address || \$\$ \$\$ || courier || \$\$ \$\$ || reason FROM address_routes" "carol@isp.example isp.example introduced"
'

test_expect_success 'isp'"'"'s BG introduces itself back too: corp'"'"'s BG learns carol -> isp' '
	test_grep "courier introduce courier=corp.example url=$(fed_var corp CR_BG_URL) addresses=1" "$(fed_log isp bg)" &&
	fed_wait_bg corp "SELECT address || \$\$ \$\$ || courier || \$\$ \$\$ || reason FROM address_routes" "carol@isp.example isp.example introduced" &&
	test_grep "courier learned address=carol@isp.example courier=isp.example reason=introduced" "$(fed_log corp bg)"
'

test_expect_success 'the second message goes by the learned route, and carol reads it' '
	fed_agent corp bob send --to carol@isp.example --in m2.eml >/dev/null &&
	fed_in isp maildir_wait carol "^Message-ID: <d2@corp.example>" 60 >/dev/null &&
	test_grep "msgid=d2@corp.example rcpt=carol@isp.example route=to-learned-courier to=isp.example" "$(fed_log corp fg)" &&
	test_grep "courier msgid=d2@corp.example rcpt=carol@isp.example action=forward courier=isp.example hops=1 origin=corp.example route=to-learned-courier" "$(fed_log corp bg)" &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$d2@corp.example\$\$" 1 &&
	fed_agent isp carol fetch >/dev/null &&
	fed_agent isp carol read --id d2@corp.example >got && test_cmp m2.eml got
'

test_done
