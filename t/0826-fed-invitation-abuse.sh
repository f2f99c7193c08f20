#!/bin/sh
test_description='federation: foreground.max_invitations and "do not invite me again" for a sender at another courier'
. "$TANDEM_SRC/t/test-lib.sh"

# bob is at private corp; his mail to isp.example is deferred to its
# superior isp (public), which holds it and invites. isp lets one
# sender invite one address a day: bob's mail to a second address is
# answered 4xx at isp's milter, nothing of it is held or sent there,
# and corp's MTA keeps it. dave answers his invitation "do not invite
# me again": bob, at corp, gets the notice for the waiting message, and
# for his next one, which isp holds on neither element.

test_have_prog swaks || test_skip_all 'swaks not found'

test_expect_success_here 'isp (one invitation a sender a day) and corp run; bob at corp' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register corp bob &&
	conf=$(fed_var isp CR_FG_CONF) &&
	sed -i "s|^\(\tca_user = .*\)\$|\1\n\tmax_invitations = 1|" "$conf" &&
	grep -q "max_invitations = 1" "$conf" &&
	fed_in isp courier_milter_stop && fed_in isp courier_milter_start
'

mail() {
	printf "From: bob@corp.example\r\nTo: %s@isp.example\r\nSubject: hello\r\nMessage-ID: <%s@corp.example>\r\n\r\nHello.\r\n" \
	    "$1" "$2" >"$2.eml"
}

test_expect_success 'bob writes to dave at isp: deferred to isp, which holds it and invites dave' '
	mail dave v1 &&
	fed_agent corp bob send --to dave@isp.example --in v1.eml >/dev/null &&
	fed_in isp maildir_wait dave "^Tandem-Kind: invitation" 60 >inv &&
	fed_wait_fg isp "SELECT inviter FROM invitations WHERE address = \$\$dave@isp.example\$\$" bob@corp.example
'

test_expect_success 'to erin, a second address: isp answers 4xx naming bob and the limit; nothing held or invited there' '
	mail erin v2 &&
	fed_agent corp bob send --to erin@isp.example --in v2.eml >/dev/null &&
	wait_until 60 grep -q "bob@corp.example has caused 1 invitations in 24 hours, the most this courier sends for one sender (foreground.max_invitations); try again later" "$(fed_log isp fg)" &&
	test_grep "status=tempfail" "$(fed_log isp fg)" &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM held_messages WHERE recipient = \$\$erin@isp.example\$\$")" = 0 &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM invitations WHERE address = \$\$erin@isp.example\$\$")" = 0 &&
	test_must_fail fed_in isp cr_maildir_match erin "^Tandem-Kind: invitation"
'

test_expect_success 'dave declines by mail: bob, at corp, gets the notice for the waiting message' '
	code=$(tr -d "\r" <"$(cat inv)" | sed -n "s/^     Do not invite me again \(tandem-decline-[A-Za-z0-9_-]*\)\$/\1/p") &&
	test -n "$code" &&
	printf "From: dave@isp.example\r\nTo: tandem@isp.example\r\nSubject: Re: Do not invite me again %s\r\n\r\nNo thanks.\r\n.\r\n" "$code" >answer.eml &&
	swaks --server "$(fed_var isp CR_FG_ADDR):$(fed_var isp CR_SMTP_PORT)" \
		--from dave@isp.example --to tandem@isp.example \
		--data @answer.eml >swaks.out 2>&1 &&
	test_grep "<- *250 2.0.0 Ok: queued" swaks.out &&
	fed_wait_fg isp "SELECT address FROM declined_addresses" dave@isp.example &&
	n=$(fed_in corp maildir_wait bob "declined Tandem invitations" 60) &&
	tr -d "\r" <"$n" >notice.txt &&
	test_grep "^Your private message v1@corp.example could not be delivered to dave@isp.example.\$" notice.txt &&
	test_grep "^Reason: dave@isp.example declined Tandem invitations: the courier isp.example holds no private mail for that address and invites it no more\$" notice.txt &&
	fed_wait_bg isp "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@isp.example\$\$ AND purged_at IS NULL" 0
'

test_expect_success 'bob writes to dave again: isp holds nothing on either element, invites nobody, and bob gets the notice' '
	mail dave v3 &&
	fed_agent corp bob send --to dave@isp.example --in v3.eml >/dev/null &&
	n=$(fed_in corp maildir_wait bob "^Your private message v3@corp.example could not be delivered to dave@isp.example" 60) &&
	test_grep "declined Tandem invitations" "$n" &&
	test_grep "msgid=v3@corp.example rcpt=dave@isp.example status=declined notice=bob@corp.example" "$(fed_log isp fg)" &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM held_messages WHERE message_id = \$\$v3@corp.example\$\$")" = 0 &&
	wait_until 60 grep -q "courier msgid=v3@corp.example rcpt=dave@isp.example action=drop reason=declined" "$(fed_log isp bg)" &&
	test_grep_not "courier msgid=v3@corp.example rcpt=dave@isp.example action=hold" "$(fed_log isp bg)" &&
	test "$(fed_bg_sql isp "SELECT count(*) FROM held_arms WHERE message_id = \$\$v3@corp.example\$\$")" = 0 &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM invitations WHERE address = \$\$dave@isp.example\$\$")" = 1 &&
	test "$(fed_in isp cr_maildir_match dave "^Tandem-Kind: invitation" | wc -l)" = 1
'

test_expect_success 'the daemons of isp are still alive and logged no crash' '
	fed_in isp cr_daemon_alive milter && fed_in isp cr_daemon_alive policyd &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$(fed_log isp fg)" &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$(fed_log isp bg)"
'

test_done
