#!/bin/sh
test_description='end to end: tandemctl close: the account closed on both elements, what waits for it purged, its agent certificate revoked, later mail refused for good (5.1.1) by the background and by the milter'
. "$TANDEM_SRC/t/test-lib.sh"

# Issue 15, part 6 (doc/flows.md 11). The foreground database owns
# account state: tandemctl close works there, the background learns
# it by replication. The help desk reads through its views only.

hd_fg() { pg_psql_as tandem_helpdesk fg fg -c "$1"; }
hd_bg() { pg_psql_as tandem_helpdesk bg bg -c "$1"; }

letter() {
	printf "From: alice@a.example\r\nTo: %s\r\nSubject: %s\r\n" "$1" "$2"
	printf "Message-ID: <%s@a.example>\r\n\r\ntext of %s\r\n" "$2" "$2"
}

# acct_close ADDRESS: tandemctl close with both CA folders of the courier
acct_close() {
	tandemctl close --db "$CR_FG_DB" --ca-dir "$CR_CA" \
	    --ca-dir "$CR_CA/issuing" "$@"
}

q() { echo "address = \$\$$1@a.example\$\$"; }

test_expect_success_here 'a courier; alice, bob, carol and dave register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob &&
	agent_register carol && agent_register dave
'

test_expect_success 'alice writes to bob, who has not fetched: his ARM waits in his mailbox' '
	letter bob@a.example m1 >m1.eml &&
	agent alice send --to bob@a.example --in m1.eml >/dev/null &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE $(q bob) AND message_id = \$\$m1@a.example\$\$")" = 1
'

# The window between registration and agent-alive (pending), made by
# hand: what is sent to carol then is held on both elements.
test_expect_success 'carol, not yet alive, has mail held for her on both elements' '
	courier_fg_sql "UPDATE accounts SET status = \$\$pending\$\$ WHERE $(q carol)" &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE $(q carol)" pending 30 &&
	letter carol@a.example m2 >m2.eml &&
	agent alice send --to carol@a.example --in m2.eml >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE recipient = \$\$carol@a.example\$\$ AND released_at IS NULL" 1 30 &&
	test "$(hd_bg "SELECT count(*) FROM helpdesk.held_arms WHERE recipient = \$\$carol@a.example\$\$")" = 1 &&
	test "$(hd_fg "SELECT count(*) FROM helpdesk.held_messages WHERE recipient = \$\$carol@a.example\$\$")" = 1
'

test_expect_success 'an address without an account is refused, and nothing changes' '
	test_expect_code 65 acct_close nobody@a.example >out 2>err &&
	test_grep "tandemctl: nobody@a.example: no account here; nothing to close" err &&
	test ! -s out &&
	test "$(courier_fg_sql "SELECT count(*) FROM accounts WHERE $(q nobody)")" = 0 &&
	test ! -e "$CR_CA/issuing/crl.pem"
'

test_expect_success 'an address transferred away is the new courier.s to close' '
	courier_fg_sql "INSERT INTO accounts (address, status, redirect_to) VALUES (\$\$erin@a.example\$\$, \$\$transferred\$\$, \$\$b.example\$\$)" &&
	test_expect_code 65 acct_close erin@a.example 2>err &&
	test_grep "erin@a.example: transferred to b.example; the account is that courier.s now" err &&
	test "$(courier_fg_sql "SELECT status FROM accounts WHERE $(q erin)")" = transferred
'

test_expect_success 'an account with a transfer in flight is not closed' '
	courier_fg_sql "INSERT INTO transfers (address, direction, other_courier, other_ca, state) VALUES (\$\$alice@a.example\$\$, \$\$incoming\$\$, \$\$b.example\$\$, \$\$00\$\$, \$\$recorded\$\$)" &&
	test_expect_code 65 acct_close alice@a.example 2>err &&
	test_grep "alice@a.example: an incoming transfer with b.example is in flight (recorded); cancel it first" err &&
	courier_fg_sql "DELETE FROM transfers WHERE $(q alice)" &&
	test "$(courier_fg_sql "SELECT status FROM accounts WHERE $(q alice)")" = active
'

test_expect_success 'tandemctl close bob: closed, his agent certificate revoked by the CA that issued it' '
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE $(q bob)" >bob.crt &&
	openssl x509 -noout -serial -in bob.crt | sed "s/^serial=//" >bob.serial &&
	acct_close bob@a.example >out 2>err &&
	test_grep "^account bob@a.example closed\$" out &&
	test_grep "^held messages purged: 0\$" out &&
	test_grep "^agent-$(cat bob.serial).crt: revoked\$" out &&
	test_grep "^agent certificates on record: 1, all revoked\$" out &&
	test "$(courier_fg_sql "SELECT status FROM accounts WHERE $(q bob)")" = closed &&
	openssl crl -in "$CR_CA/issuing/crl.pem" -noout -text >crl.txt &&
	test_grep "Serial Number: $(cat bob.serial)" crl.txt &&
	test_grep "Cessation Of Operation" crl.txt
'

test_expect_success 'the background learns it by replication and empties bob.s mailbox' '
	pg_wait_for bg bg "SELECT status FROM accounts WHERE $(q bob)" closed 30 &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE $(q bob)")" = 0 &&
	test "$(courier_bg_sql "SELECT tgenabled FROM pg_trigger WHERE tgname = \$\$accounts_close\$\$")" = A
'

test_expect_success 'the help desk sees bob closed on both elements, nothing waiting for him' '
	test "$(hd_fg "SELECT status FROM helpdesk.account_status WHERE $(q bob)")" = closed &&
	test "$(hd_bg "SELECT status FROM helpdesk.account_status WHERE $(q bob)")" = closed &&
	test "$(hd_bg "SELECT count(*) FROM helpdesk.agent_mailbox WHERE $(q bob)")" = 0
'

test_expect_success 'closing carol purges what was held for her, on both elements' '
	acct_close carol@a.example >out &&
	test_grep "^account carol@a.example closed\$" out &&
	test_grep "^held messages purged: 1\$" out &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$carol@a.example\$\$ AND purged_at IS NOT NULL AND octet_length(body) = 0")" = 1 &&
	test "$(hd_fg "SELECT count(*) FROM helpdesk.held_messages WHERE recipient = \$\$carol@a.example\$\$")" = 0 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$carol@a.example\$\$ AND purged_at IS NOT NULL AND octet_length(arm) = 0" 1 30 &&
	test "$(hd_bg "SELECT count(*) FROM helpdesk.held_arms WHERE recipient = \$\$carol@a.example\$\$")" = 0
'

test_expect_success 'closing bob again says since when, and changes nothing' '
	courier_fg_sql "SELECT updated_at FROM accounts WHERE $(q bob)" >before &&
	acct_close bob@a.example >out &&
	test_grep "^account bob@a.example closed already, since " out &&
	test_grep_not "^account bob@a.example closed\$" out &&
	test_grep "^agent-$(cat bob.serial).crt: revoked already\$" out &&
	courier_fg_sql "SELECT updated_at FROM accounts WHERE $(q bob)" >after &&
	test_cmp before after
'

test_expect_success 'alice writes to dave and bob: her background refuses for good, naming bob; nothing is kept' '
	letter "dave@a.example, bob@a.example" m3 >m3.eml &&
	test_expect_code 17 agent alice send --to dave@a.example \
	    --to bob@a.example --in m3.eml --retry-for 0 >out 2>err &&
	test_grep "410 5.1.1 recipient bob@a.example: account closed" err &&
	test_grep "arm msgid=m3@a.example sender=alice@a.example rcpt=bob@a.example status=refused reason=\"account closed\"" "$TRASH/bg/policyd.log" &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m3@a.example\$\$")" = 0 &&
	test "$(courier_bg_sql "SELECT count(*) FROM held_arms WHERE message_id = \$\$m3@a.example\$\$")" = 0 &&
	test "$(courier_bg_sql "SELECT count(*) FROM seen_messages WHERE message_id = \$\$m3@a.example\$\$")" = 0 &&
	test_must_fail cr_maildir_match dave "^Message-ID: <m3@a.example>"
'

test_expect_success 'a closed address is neither held for nor invited again' '
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$bob@a.example\$\$")" = 0 &&
	test "$(courier_fg_sql "SELECT count(*) FROM invitations WHERE $(q bob) AND status = \$\$pending\$\$")" = 0 &&
	test_must_fail courier_invite bob@a.example 2>err &&
	test_grep "already registered or invited" err
'

# The ARM was taken while dave was open; the content mail waits in
# alice's agent (the milter is down: Postfix answers 451) until after
# dave is closed.
test_expect_success 'mail on its way when dave is closed: the milter refuses it for good, 5.1.1' '
	courier_milter_stop &&
	letter dave@a.example m4 >m4.eml &&
	{ agent alice send --to dave@a.example --in m4.eml --retry-for 120 \
	    >send.out 2>send.err; echo $? >send.rc; } &
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE $(q dave) AND message_id = \$\$m4@a.example\$\$" 1 60 &&
	acct_close dave@a.example >out &&
	test_grep "^account dave@a.example closed\$" out &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE $(q dave)" 0 30 &&
	courier_milter_start &&
	wait_until 120 test -s send.rc &&
	test "$(cat send.rc)" != 0 &&
	test_grep "5.1.1 recipient dave@a.example: account closed" send.err &&
	test_grep "from=alice@a.example status=reject reason=\".*5.1.1 recipient dave@a.example: account closed\"" "$TRASH/fg/milter.log" &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages WHERE recipient = \$\$dave@a.example\$\$")" = 0 &&
	test_must_fail cr_maildir_match dave "^Message-ID: <m4@a.example>"
'

test_expect_success 'bob cannot fetch: refused as no active account, then at the handshake once the lists are there' '
	test_must_fail agent bob fetch 2>err &&
	test_grep "client is not an active account here" err &&
	tandem-ca crl -d "$CR_PKI/root" >/dev/null &&
	tandem-ca crl -d "$CR_CA" >/dev/null &&
	cat "$CR_PKI/root/crl.pem" "$CR_CA/crl.pem" "$CR_CA/issuing/crl.pem" >"$TRASH/crls.pem" &&
	courier_policyd_stop && test_conf_crl "$CR_BG_CONF" "$TRASH/crls.pem" &&
	courier_policyd_start &&
	test_must_fail agent bob fetch 2>err &&
	test_wait_log "$TRASH/bg/policyd.log" "tls status=refused reason=\"certificate $(cat bob.serial) (bob@a.example) of CA .* is revoked: cessationOfOperation\"" 10 &&
	agent alice fetch >/dev/null
'

test_done
