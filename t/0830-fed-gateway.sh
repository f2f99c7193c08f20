test_description='federation: a gateway keeps its segment to itself'
. "$TANDEM_SRC/t/test-lib.sh"

# erin@sub.example (private sub, under gateway gw) writes to
# carol@isp.example. sub defers to gw; gw has no route to isp, so it
# holds both halves and invites carol, who is registered at isp: her
# agent refuses, isp introduces itself to gw, and gw sends the message
# on as its own. isp never learns sub's certificates.

test_expect_success_here 'gw and its subordinate sub, and isp, run; erin at sub, carol at isp' '
	fed_pki gw sub isp && fed_start gw sub isp &&
	fed_register sub erin && fed_register isp carol
'

printf "From: erin@sub.example\r\nTo: carol@isp.example\r\nSubject: from inside\r\nMessage-ID: <g1@sub.example>\r\n\r\nBehind the gateway.\r\n" >m.eml

test_expect_success 'sub defers to gw; gw holds the message and invites carol' '
	fed_agent sub erin send --to carol@isp.example --in m.eml >/dev/null &&
	fed_wait_fg gw "SELECT count(*) FROM held_messages" 1 &&
	fed_wait_bg gw "SELECT count(*) FROM held_arms WHERE released_at IS NULL" 1 &&
	inv=$(fed_in isp maildir_wait carol "^From: tandem@gw.example" 60) &&
	test_grep "^Tandem-Kind: invitation" "$inv"
'

test_expect_success 'carol'"'"'s agent refuses; gw sends both halves to isp, and she reads it' '
	fed_agent isp carol read 2>err &&
	test_grep "invitation from gw.example refused: carol@isp.example is registered at isp.example" err &&
	fed_in isp maildir_wait carol "^Message-ID: <g1@sub.example>" 60 >/dev/null &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$g1@sub.example\$\$" 1 &&
	fed_agent isp carol fetch >/dev/null &&
	fed_agent isp carol read --id g1@sub.example >got &&
	test_cmp m.eml got
'

test_expect_success 'isp knows gw at most: no introduction of sub, no route to it' '
	for k in fg bg; do
		fed_${k}_sql isp "SELECT count(*) FROM introductions WHERE courier <> \$\$gw.example\$\$" >got.$k &&
		echo 0 >want && test_cmp want got.$k &&
		fed_${k}_sql isp "SELECT count(*) FROM address_routes WHERE courier <> \$\$gw.example\$\$" >got.$k &&
		test_cmp want got.$k || return 1
	done &&
	test_grep "peer=gw.example .* msgid=g1@sub.example origin=gw.example hops=1 rcpt=carol@isp.example route=deliver-local" "$(fed_log isp fg)" &&
	test_grep "courier msgid=g1@sub.example rcpt=carol@isp.example action=deliver hops=1 origin=gw.example" "$(fed_log isp bg)" &&
	test_grep_not "origin=sub.example" "$(fed_log isp fg)" &&
	test_grep_not "origin=sub.example" "$(fed_log isp bg)" &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM introductions WHERE certificate LIKE \$\$%$(sed -n 2p "$FED_TOP/pki/sub/elements/fg.crt")%\$\$")" = 0 &&
	test "$(fed_bg_sql isp "SELECT count(*) FROM introductions WHERE certificate LIKE \$\$%$(sed -n 2p "$FED_TOP/pki/sub/elements/bg.crt")%\$\$")" = 0
'

test_done
