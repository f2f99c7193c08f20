#!/bin/sh
test_description='federation: one private message to five recipients at once (registered here, invited here, at an introduced courier, behind a deferral, beyond a gateway): each gets exactly one copy and one ARM'
. "$TANDEM_SRC/t/test-lib.sh"

# alice@hub.example (public hub, under gateway gw: it defers what it
# cannot route) writes once to
#	bob@hub.example		registered at hub: delivered there
#	dave@hub.example	not registered: held at hub and invited
#	frank@dept.example	dept, hub's private subordinate: introduced
#	erin@sub.example	sub, under gw: hub defers to gw, gw sends
#				down to sub
#	carol@isp.example	isp, outside gw's segment: deferred up to gw,
#				which holds and invites her; her agent
#				refuses, isp introduces itself, gw sends on
# The content goes as one mail with five recipients, the ARM as one
# record; each courier's elements split them per recipient. At the end
# every recipient's Maildir holds the message once, every background
# one ARM for it, and each agent opens it byte for byte.

test_expect_success_here 'five couriers run; alice and bob at hub, frank at dept, erin at sub, carol at isp' '
	fed_pki gw hub dept sub isp && fed_start gw hub dept sub isp &&
	fed_register hub alice && fed_register hub bob &&
	fed_register dept frank && fed_register sub erin &&
	fed_register isp carol
'

printf "From: alice@hub.example\r\nTo: bob@hub.example, dave@hub.example, frank@dept.example, erin@sub.example, carol@isp.example\r\nSubject: to all\r\nMessage-ID: <multi1@hub.example>\r\n\r\nOne message, five recipients, five couriers.\r\n" >m.eml

# reads X USER: both halves reach USER@X.example, whose agent opens the
# message byte for byte
reads() {
	fed_in "$1" maildir_wait "$2" "^Message-ID: <multi1@hub.example>" 120 >/dev/null &&
	fed_wait_bg "$1" "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$multi1@hub.example\$\$ AND address = \$\$$2@$1.example\$\$" 1 120 &&
	fed_agent "$1" "$2" fetch >/dev/null &&
	fed_agent "$1" "$2" read --id multi1@hub.example >"got.$2" &&
	test_cmp m.eml "got.$2"
}

# copies X USER: how many mails in USER@X.example's Maildir are this one
copies() {
	grep -l "^Message-ID: <multi1@hub.example>" \
	    "$(fed_maildir "$1" "$2")"/new/* "$(fed_maildir "$1" "$2")"/cur/* \
	    2>/dev/null | wc -l
}

test_expect_success 'alice sends once to all five; hub routes each recipient its own way' '
	fed_agent hub alice send --to bob@hub.example --to dave@hub.example \
	    --to frank@dept.example --to erin@sub.example \
	    --to carol@isp.example --in m.eml >/dev/null &&
	test_wait_log "$(fed_log hub fg)" "msgid=multi1@hub.example" 60 &&
	line=$(grep "msgid=multi1@hub.example" "$(fed_log hub fg)" | head -n 1) &&
	for want in "rcpt=bob@hub.example route=deliver-local" \
	    "rcpt=dave@hub.example route=hold-and-invite" \
	    "rcpt=frank@dept.example route=to-introduced-courier to=dept.example" \
	    "rcpt=erin@sub.example route=defer-to-superior to=gw.example" \
	    "rcpt=carol@isp.example route=defer-to-superior to=gw.example"; do
		case $line in *"$want"*) ;; *) echo "no $want in: $line"; return 1 ;; esac
	done
'

test_expect_success 'bob, registered at hub, opens it' '
	reads hub bob
'

test_expect_success 'frank, at the introduced courier dept, opens it' '
	reads dept frank
'

test_expect_success 'erin, behind the deferral hub -> gw -> sub, opens it' '
	reads sub erin
'

test_expect_success 'carol, beyond the gateway: gw invites her, her agent refuses, gw sends on, and she opens it' '
	inv=$(fed_in isp maildir_wait carol "^From: tandem@gw.example" 120) &&
	test_grep "^Tandem-Kind: invitation" "$inv" &&
	fed_agent isp carol read 2>err &&
	test_grep "invitation from gw.example refused: carol@isp.example is registered at isp.example" err &&
	reads isp carol
'

test_expect_success 'dave was held and invited at hub; he registers from the invitation, and the held message is his' '
	fed_wait_fg hub "SELECT count(*) FROM held_messages WHERE message_id = \$\$multi1@hub.example\$\$ AND recipient = \$\$dave@hub.example\$\$" 1 &&
	fed_in hub maildir_wait dave "^Tandem-Kind: invitation" 60 >/dev/null &&
	fed_register hub dave &&
	reads hub dave
'

# reads() saw one ARM for each recipient at its background before the
# agent fetched it (agent_mailbox: one row a recipient, kind and
# message; a fetched one is deleted); the mail is counted here.
test_expect_success 'every recipient has exactly one copy of the content' '
	sleep 3 &&
	for r in hub:bob hub:dave dept:frank sub:erin isp:carol; do
		x=${r%%:*} u=${r#*:} &&
		n=$(copies $x $u) &&
		test "$n" = 1 || { echo "$r: $n copies"; return 1; }
	done
'

test_expect_success 'split trust holds on every element' '
	key=$(fed_content_key hub bob multi1@hub.example) &&
	test ${#key} = 64 &&
	for x in gw hub dept sub isp; do
		fed_split_trust $x "five recipients, five couriers" "$key" || return 1
	done
'

test_done
