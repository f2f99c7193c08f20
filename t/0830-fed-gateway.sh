test_description='federation: a gateway keeps its segment to itself'
. "$TANDEM_SRC/t/test-lib.sh"

# erin@sub.example (private sub, under gateway gw) writes to
# carol@isp.example. sub defers to gw; gw has no route to isp, so it
# holds both halves and invites carol, who is registered at isp: her
# agent refuses, isp introduces itself to gw, and gw sends the message
# on as its own. isp never learns sub's certificates.
#
# Then the way in: gw's message carried its segment's CA certificates
# in its origin chain, so isp routes sub.example to gw; carol's reply
# goes isp -> gw -> sub, and gw puts itself as the origin, so sub never
# learns isp.
# corp (private, under isp) joins: bob's message to erin is deferred to
# isp, which sends it to gw (hop 2); gw takes it into its segment and
# introduces itself to corp for the whole segment (Domain: sub.example),
# so bob's next message goes from corp to gw directly.

test_expect_success_here 'gw and its subordinate sub, and isp, run; erin at sub, carol at isp' '
	fed_pki gw sub isp corp && fed_start gw sub isp &&
	fed_register sub erin && fed_register isp carol
'

printf "From: erin@sub.example\r\nTo: carol@isp.example\r\nSubject: from inside\r\nMessage-ID: <g1@sub.example>\r\n\r\nBehind the gateway.\r\n" >m.eml
printf "From: carol@isp.example\r\nTo: erin@sub.example\r\nSubject: Re: from inside\r\nMessage-ID: <r1@isp.example>\r\n\r\nThrough the gateway.\r\n" >r.eml
printf "From: bob@corp.example\r\nTo: erin@sub.example\r\nSubject: first\r\nMessage-ID: <b1@corp.example>\r\n\r\nTwo couriers up.\r\n" >b1.eml
printf "From: bob@corp.example\r\nTo: erin@sub.example\r\nSubject: second\r\nMessage-ID: <b2@corp.example>\r\n\r\nStraight to the gateway.\r\n" >b2.eml

# erin_reads FILE MSGID: both halves reach erin, who reads FILE back
erin_reads() {
	fed_in sub maildir_wait erin "^Message-ID: <$2>" 60 >/dev/null &&
	fed_wait_bg sub "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$2\$\$" 1 &&
	fed_agent sub erin fetch >/dev/null &&
	fed_agent sub erin read --id "$2" >got &&
	test_cmp "$1" got
}

# sub_knows_gw_only: sub's tables and logs name no courier but gw
sub_knows_gw_only() {
	for k in fg bg; do
		echo gw.example >want &&
		fed_${k}_sql sub "SELECT string_agg(DISTINCT courier, \$\$ \$\$) FROM introductions" >got.$k &&
		test_cmp want got.$k &&
		fed_${k}_sql sub "SELECT count(*) FROM address_routes WHERE courier <> \$\$gw.example\$\$" >got.$k &&
		echo 0 >want && test_cmp want got.$k &&
		test_grep_not "origin=isp.example\|origin=corp.example\|peer=isp\|peer=corp" "$(fed_log sub $k)" ||
		return 1
	done
}

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

# gw sent erin's message out of its segment as its own origin, with
# its subordinates' CA certificates in the origin chain: isp recorded
# gw with the segment's domains, and routes sub.example to gw (rule 4).
test_expect_success 'isp learned gw for its segment, sub.example, on both elements' '
	for k in fg bg; do
		fed_wait_$k isp "SELECT domains::text || \$\$ \$\$ || role FROM introductions WHERE courier = \$\$gw.example\$\$" "{sub.example} gateway" ||
		return 1
	done
'

test_expect_success 'carol replies: isp -> gw -> sub, gw the origin inside; erin reads it' '
	fed_agent isp carol send --to erin@sub.example --in r.eml >/dev/null &&
	erin_reads r.eml r1@isp.example &&
	test_grep "msgid=r1@isp.example rcpt=erin@sub.example route=to-introduced-courier to=gw.example" "$(fed_log isp fg)" &&
	test_grep "courier msgid=r1@isp.example rcpt=erin@sub.example action=forward courier=gw.example hops=1 origin=isp.example route=to-introduced-courier" "$(fed_log isp bg)" &&
	test_grep "peer=isp.example .* msgid=r1@isp.example origin=isp.example hops=1 rcpt=erin@sub.example route=to-introduced-courier forwarded=sub.example origin-replaced=yes" "$(fed_log gw fg)" &&
	test_grep "peer=gw.example .* msgid=r1@isp.example origin=gw.example hops=2 rcpt=erin@sub.example route=deliver-local" "$(fed_log sub fg)" &&
	test_grep "courier msgid=r1@isp.example rcpt=erin@sub.example action=deliver hops=2 origin=gw.example" "$(fed_log sub bg)"
'

test_expect_success 'sub knows gw only: no introduction, route or log line of isp' '
	sub_knows_gw_only
'

test_expect_success_here 'corp runs under isp; bob registers there' '
	fed_start corp && fed_register corp bob
'

test_expect_success 'bob to erin: corp defers to isp, isp sends to gw (hop 2), gw into its segment' '
	fed_agent corp bob send --to erin@sub.example --in b1.eml >/dev/null &&
	erin_reads b1.eml b1@corp.example &&
	test_grep "msgid=b1@corp.example rcpt=erin@sub.example route=defer-to-superior to=isp.example" "$(fed_log corp fg)" &&
	test_grep "peer=corp.example .* msgid=b1@corp.example origin=corp.example hops=1 rcpt=erin@sub.example route=to-introduced-courier forwarded=gw.example" "$(fed_log isp fg)" &&
	test_grep "peer=isp.example .* msgid=b1@corp.example origin=corp.example hops=2 rcpt=erin@sub.example route=to-introduced-courier forwarded=sub.example origin-replaced=yes introduced=corp.example" "$(fed_log gw fg)" &&
	test_grep "peer=gw.example .* msgid=b1@corp.example origin=gw.example hops=3 rcpt=erin@sub.example route=deliver-local" "$(fed_log sub fg)"
'

test_expect_success 'gw introduced itself to corp for its segment: sub.example, on both elements' '
	for k in fg bg; do
		fed_wait_$k corp "SELECT domains::text || \$\$ \$\$ || role FROM introductions WHERE courier = \$\$gw.example\$\$" "{sub.example} gateway" &&
		fed_wait_$k corp "SELECT courier || \$\$ \$\$ || reason FROM address_routes WHERE address = \$\$erin@sub.example\$\$" "gw.example introduced" ||
		return 1
	done &&
	test_grep "introduction=gw.example addresses=1 released=0" "$(fed_log corp fg)"
'

test_expect_success 'bob'"'"'s next message goes from corp to gw directly; erin reads it' '
	fed_agent corp bob send --to erin@sub.example --in b2.eml >/dev/null &&
	erin_reads b2.eml b2@corp.example &&
	test_grep "msgid=b2@corp.example rcpt=erin@sub.example route=to-learned-courier to=gw.example" "$(fed_log corp fg)" &&
	test_grep "peer=corp.example .* msgid=b2@corp.example origin=corp.example hops=1 rcpt=erin@sub.example route=to-introduced-courier forwarded=sub.example origin-replaced=yes" "$(fed_log gw fg)" &&
	test_grep "courier msgid=b2@corp.example rcpt=erin@sub.example action=forward courier=gw.example hops=1 origin=corp.example" "$(fed_log corp bg)" &&
	test_grep_not "msgid=b2@corp.example" "$(fed_log isp fg)"
'

test_expect_success 'sub still knows gw only; corp knows no introduction of sub' '
	sub_knows_gw_only &&
	for k in fg bg; do
		fed_${k}_sql corp "SELECT count(*) FROM introductions WHERE courier = \$\$sub.example\$\$" >got.$k &&
		echo 0 >want && test_cmp want got.$k || return 1
	done
'

test_done
