#!/bin/sh
test_description='end to end: foreground.max_invitations, how many addresses one sender may have invited in 24 hours'
. "$TANDEM_SRC/t/test-lib.sh"

# With foreground.max_invitations = 2, alice's mail may invite two
# addresses a day. Her message to a third is answered 451 4.7.0 naming
# her and the limit, and nothing of it is held or sent; mail to an
# address whose invitation is pending invites nobody and still goes;
# bob's own mail may invite.

test_expect_success_here 'a courier whose milter lets one sender invite two addresses a day; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob &&
	sed -i "s|^\(\tuser_submission = .*\)\$|\1\n\tmax_invitations = 2|" "$CR_FG_CONF" &&
	grep -q "max_invitations = 2" "$CR_FG_CONF" &&
	courier_milter_stop && courier_milter_start
'

mail() {
	printf "From: %s@a.example\r\nTo: %s@a.example\r\nSubject: hello\r\nMessage-ID: <%s@a.example>\r\n\r\nHello %s.\r\n" \
	    "$1" "$2" "$3" "$2" >"$3.eml"
}

test_expect_success 'alice invites carol and dave' '
	mail alice carol c1 && mail alice dave d1 &&
	agent alice send --to carol@a.example --in c1.eml >/dev/null &&
	agent alice send --to dave@a.example --in d1.eml >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM invitations WHERE inviter = \$\$alice@a.example\$\$" 2 30 &&
	courier_fg_sql "SELECT address FROM invitations WHERE inviter IS NOT NULL ORDER BY 1" >out &&
	printf "carol@a.example\ndave@a.example\n" >expect && test_cmp expect out
'

test_expect_success 'a third address: 451 4.7.0 naming alice and the limit; nothing held, nobody invited' '
	mail alice erin e1 &&
	test_must_fail agent alice send --retry-for 0 --to erin@a.example \
	    --in e1.eml >out 2>err &&
	test_grep "451 4.7.0 alice@a.example has caused 2 invitations in 24 hours, the most this courier sends for one sender (foreground.max_invitations); try again later" err &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$erin@a.example\$\$")" = 0 &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations WHERE address = \$\$erin@a.example\$\$")" = 0 &&
	test_grep "msgid=e1@a.example .*rcpt=erin@a.example route=hold-and-invite invitations=limited" "$TRASH/fg/milter.log" &&
	test_must_fail cr_maildir_match erin "^Tandem-Kind: invitation"
'

test_expect_success 'more mail to carol, invited already, is held and goes: it invites nobody' '
	mail alice carol c2 &&
	agent alice send --retry-for 0 --to carol@a.example --in c2.eml >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE recipient = \$\$carol@a.example\$\$" 2 30 &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations WHERE inviter IS NOT NULL")" = 2
'

test_expect_success 'bob may invite erin: the limit is per sender' '
	mail bob erin e2 &&
	agent bob send --retry-for 0 --to erin@a.example --in e2.eml >/dev/null &&
	inv=$(maildir_wait erin "^Tandem-Kind: invitation" 30) &&
	test_grep "^Subject: bob@a.example sent you a private message" $inv &&
	courier_fg_sql "SELECT inviter FROM invitations WHERE address = \$\$erin@a.example\$\$" >out &&
	echo bob@a.example >expect && test_cmp expect out
'

test_done
