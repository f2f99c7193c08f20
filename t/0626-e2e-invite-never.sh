#!/bin/sh
test_description='end to end: "do not invite me again", answered by mail with the code only the invitation carries, and honoured'
. "$TANDEM_SRC/t/test-lib.sh"

# alice's mail to dave holds it and invites him. dave has no agent: he
# answers the invitation by ordinary mail to the service mailbox with
# the Subject it gives (its decline code). A code nobody was given is
# refused and changes nothing. His answer purges what waits for him
# and tells alice; later mail to him (bob's) is not held, invites
# nobody and tells bob; the operator invites him again only with
# --again.

test_have_prog swaks || test_skip_all 'swaks not found'

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

mail() {
	printf "From: %s@a.example\r\nTo: %s\r\nSubject: hello\r\nMessage-ID: <%s@a.example>\r\n\r\nHello.\r\n" \
	    "$1" "$2" "$3" >"$3.eml"
}

# answer FROM SUBJECT: a plain mail to the service mailbox, as a mail
# program writes it; the reply in swaks.out.
answer() {
	printf "From: %s\r\nTo: tandem@a.example\r\nSubject: %s\r\nMessage-ID: <%s@d.example>\r\nContent-Type: text/plain\r\n\r\nPlease stop.\r\n.\r\n" \
	    "$1" "$2" "$(date +%s%N)" >answer.eml &&
	# swaks fails on a refusal: the checks read its output.
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from "$1" \
	    --to tandem@a.example --data @answer.eml >swaks.out 2>&1
	grep -q "^<-* *221 " swaks.out
}

invitations() {
	cr_maildir_match dave "^Tandem-Kind: invitation" | wc -l
}

two_invitations() {
	test "$(invitations)" = 2
}

declined() {
	courier_fg_sql "SELECT count(*) FROM declined_addresses"
}

test_expect_success 'alice writes to dave: held, and his invitation gives the answer that declines' '
	mail alice dave@a.example d1 &&
	agent alice send --to dave@a.example --in d1.eml >/dev/null &&
	inv=$(maildir_wait dave "^Tandem-Kind: invitation" 30) &&
	tr -d "\r" <"$inv" >inv.txt &&
	test_grep "^If you do not want Tandem invitations, you need not install anything:" inv.txt &&
	test_grep "^answer with a mail to tandem@a.example whose Subject is" inv.txt &&
	code=$(sed -n "s/^     Do not invite me again \(tandem-decline-[A-Za-z0-9_-]*\)\$/\1/p" inv.txt) &&
	test ${#code} = 58 &&
	test_grep "mailto:tandem@a.example?subject=Do%20not%20invite%20me%20again%20$code )" inv.txt &&
	test_grep "tells each sender, alice@a.example too, that you declined" inv.txt &&
	echo "$code" >code &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$ AND purged_at IS NULL")" = 1
'

test_expect_success 'the code is in the readable text only, not in the signed invitation' '
	code=$(cat code) &&
	sed -n "/^Content-Type: application\/pkcs7-mime/,/^--/p" inv.txt |
		sed "1,/^\$/d" | grep -v "^--" | base64 -d >inv.der &&
	openssl cms -verify -noverify -inform DER -in inv.der -out signed.txt \
		2>/dev/null &&
	test_grep "^Token: " signed.txt &&
	test_grep_not "${code#tandem-decline-}" signed.txt
'

test_expect_success 'a forged answer (a code nobody was given) is refused: 550 5.7.1, nothing changes' '
	answer dave@a.example "Do not invite me again tandem-decline-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" &&
	test_grep "<\*\* *550 5.7.1 no invitation of this courier carries this decline code" swaks.out &&
	token=$(sed -n "s/^Token: //p" signed.txt | tr -d "\r") &&
	test ${#token} = 43 &&
	answer dave@a.example "Do not invite me again tandem-decline-$token" &&
	test_grep "<\*\* *550 5.7.1 no invitation of this courier carries this decline code" swaks.out &&
	answer dave@a.example "Do not invite me again tandem-decline-abc" &&
	test_grep "<\*\* *550 5.7.1 the Subject carries no whole decline code" swaks.out &&
	test "$(declined)" = 0 &&
	test "$(courier_fg_sql "SELECT status FROM invitations WHERE address = \$\$dave@a.example\$\$")" = pending &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$ AND purged_at IS NULL")" = 1 &&
	test_grep "answer=decline status=refused" "$TRASH/fg/milter.log"
'

test_expect_success 'the code in mail to anyone else (dave asks erin): it passes as it came, and declines nothing' '
	printf "From: dave@a.example\r\nTo: erin@a.example\r\nSubject: Should I? Do not invite me again %s\r\nMessage-ID: <ask-1@a.example>\r\n\r\nWhat do you think?\r\n.\r\n" "$(cat code)" >ask.eml &&
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from dave@a.example \
		--to erin@a.example --data @ask.eml >swaks.out 2>&1 &&
	maildir_wait erin "^Message-ID: <ask-1@a.example>" 30 >/dev/null &&
	test "$(declined)" = 0 &&
	test_grep "answer=decline passed=not-for-service" "$TRASH/fg/milter.log"
'

test_expect_success 'dave answers with his code (a reply, from his mail program): taken, and nothing delivered to the service mailbox' '
	answer dave@a.example "Re: Do not invite me again $(cat code)" &&
	test_grep "<- *250 2.0.0 Ok: queued" swaks.out &&
	test "$(declined)" = 1 &&
	courier_fg_sql "SELECT address, answered_by FROM declined_addresses" >out &&
	echo "dave@a.example|dave@a.example" >expect && test_cmp expect out &&
	test "$(courier_fg_sql "SELECT status FROM invitations WHERE address = \$\$dave@a.example\$\$")" = declined &&
	test "$(pg_psql_as tandem_helpdesk fg fg -c "SELECT address FROM helpdesk.declined_addresses")" = dave@a.example &&
	test_grep "answer=decline address=dave@a.example status=declined refused=1" "$TRASH/fg/milter.log" &&
	test_must_fail cr_maildir_match tandem "$(cat code)"
'

test_expect_success 'what waited for him is refused: purged, the ARM too, and alice gets the notice' '
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE message_id = \$\$d1@a.example\$\$ AND purged_at IS NOT NULL AND length(arm) = 0" 1 30 &&
	test "$(courier_bg_sql "SELECT address FROM declined_addresses")" = dave@a.example &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$ AND purged_at IS NOT NULL AND length(body) = 0")" = 1 &&
	n=$(maildir_wait alice "declined Tandem invitations" 30) &&
	tr -d "\r" <"$n" >notice.txt &&
	test_grep "^Subject: Tandem: undeliverable private message" notice.txt &&
	test_grep "^Your private message d1@a.example could not be delivered to dave@a.example.\$" notice.txt &&
	test_grep "^Reason: dave@a.example declined Tandem invitations: the courier a.example holds no private mail for that address and invites it no more\$" notice.txt
'

test_expect_success 'bob writes to dave and alice: alice gets it; dave is not held, not invited again; bob gets the notice' '
	mail bob "dave@a.example, alice@a.example" b1 &&
	agent bob send --to dave@a.example --to alice@a.example --in b1.eml >/dev/null &&
	maildir_wait alice "^Message-ID: <b1@a.example>" 30 >/dev/null &&
	n=$(maildir_wait bob "declined Tandem invitations" 30) &&
	tr -d "\r" <"$n" >bnotice.txt &&
	test_grep "^Your private message b1@a.example could not be delivered to dave@a.example.\$" bnotice.txt &&
	test_grep "^Reason: dave@a.example declined Tandem invitations" bnotice.txt &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE message_id = \$\$b1@a.example\$\$")" = 0 &&
	test "$(courier_bg_sql "SELECT count(*) FROM held_arms WHERE message_id = \$\$b1@a.example\$\$")" = 0 &&
	test_grep "arm msgid=b1@a.example rcpt=dave@a.example action=drop reason=declined" "$TRASH/bg/policyd.log" &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations WHERE address = \$\$dave@a.example\$\$")" = 1 &&
	test_grep "msgid=b1@a.example rcpt=dave@a.example status=declined notice=bob@a.example" "$TRASH/fg/milter.log" &&
	test "$(invitations)" = 1 &&
	test_must_fail cr_maildir_match dave "b1@a.example"
'

test_expect_success 'the same answer again (its Subject folded) is taken and tells nobody twice' '
	answer dave@a.example "$(printf "Do not invite me again\r\n\t%s" "$(cat code)")" &&
	test_grep "<- *250 2.0.0 Ok: queued" swaks.out &&
	test_grep "answer=decline address=dave@a.example status=declined refused=0" "$TRASH/fg/milter.log" &&
	test "$(cr_maildir_match alice "declined Tandem invitations" | wc -l)" = 1
'

test_expect_success 'the operator invites dave again only with --again, which forgets the decline' '
	test_expect_code 65 courier_invite dave@a.example 2>err &&
	test_grep "dave@a.example declined Tandem invitations on .* UTC; invite it again only at its request, with --again" err &&
	tandemctl invite --db "$CR_FG_DB" --conf "$CR_FG_CONF" \
		--address dave@a.example --again >out &&
	test_grep "^invitation .* for dave@a.example queued" out &&
	test "$(declined)" = 0 &&
	pg_wait_for bg bg "SELECT count(*) FROM declined_addresses" 0 30 &&
	wait_until 30 two_invitations
'

test_expect_success 'the daemons are still alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
