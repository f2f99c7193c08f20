#!/bin/sh
test_description='policyd: a sender revokes a message; held and unfetched ARMs are destroyed, a fetched one is revoked at the agent, the sender gets a receipt per recipient'
. "$TANDEM_SRC/t/test-lib.sh"

# One live courier (t/lib-courier.sh). alice sends one message to bob,
# carol and dave: bob fetches its ARM and reads it, carol does not
# fetch, dave is not registered (his ARM is held). Refusals first: a
# revocation by someone who is not the sender, of a message never
# carried, for a recipient it was not carried for, a revoke the agent
# must not believe. Then alice revokes it, and each place is looked at.

test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'

bg() { courier_bg_sql "$1"; }
# bob_arms MSGID COND: rows of bob's stored ARMs for MSGID with COND
bob_arms() {
	sqlite3 "$TRASH/agent-bob/store.db" \
	    "SELECT count(*) FROM arms WHERE msgid = '$1' AND $2"
}
bob_cert() {
	agent_cert bob
}

# agent_cert NAME: the agent certificate in NAME's store
agent_cert() {
	sqlite3 "$TRASH/agent-$1/store.db" \
	    "SELECT value FROM config WHERE name = 'cert'"
}

test_expect_success_here 'a courier; alice, bob and carol register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob && agent_register carol
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
{
	printf "From: alice@a.example\r\nTo: bob@a.example, carol@a.example, dave@a.example\r\n"
	printf "Subject: %s in the subject\r\nMessage-ID: <rv1@a.example>\r\n\r\n" "$secret"
	printf "The body says %s too.\r\n" "$secret"
} >rv1.eml
printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: two\r\nMessage-ID: <rv2@a.example>\r\n\r\nKeep this one.\r\n" >rv2.eml

test_expect_success_here 'alice sends to bob, carol and dave; bob fetches and reads, carol does not' '
	agent alice send --to bob@a.example --to carol@a.example \
		--to dave@a.example --in rv1.eml >out &&
	echo rv1@a.example >expect && test_cmp expect out &&
	agent alice send --to bob@a.example --in rv2.eml >out &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms" 1 30 &&
	maildir_wait bob "^Message-ID: <rv1@a.example>" 60 >/dev/null &&
	maildir_wait bob "^Message-ID: <rv2@a.example>" 60 >/dev/null &&
	agent bob fetch >out &&
	printf "rv1@a.example\nrv2@a.example\n" >expect && test_cmp expect out &&
	mkdir got && agent bob read --id rv1@a.example --out-dir got >/dev/null &&
	cmp rv1.eml got/rv1@a.example.eml &&
	test "$(bg "SELECT recipient, sender FROM carried_arms WHERE message_id = \$\$rv1@a.example\$\$ ORDER BY 1")" = "$(printf "bob@a.example|alice@a.example\ncarol@a.example|alice@a.example")" &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$carol@a.example\$\$ AND kind = \$\$arm\$\$")" = 1
'

# nothing_revoked: the refusals below changed nothing
nothing_revoked() {
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE kind IN (\$\$revoke\$\$, \$\$receipt\$\$)")" = 0 &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$carol@a.example\$\$ AND kind = \$\$arm\$\$")" = 1 &&
	test "$(bg "SELECT count(*) FROM held_arms WHERE revoked_at IS NULL AND purged_at IS NULL AND length(arm) > 0")" = 1 &&
	test "$(bg "SELECT count(*) FROM carried_arms WHERE revoked_at IS NOT NULL")" = 0
}

test_expect_success 'bob may not revoke alice'"'"'s message: 403, said, 17, nothing changed' '
	test_expect_code 17 agent bob revoke rv1@a.example >out 2>err &&
	test_grep "tandem revoke: the background refused the revocation: 403 rv1@a.example was not sent by bob@a.example: only its sender may revoke it" err &&
	test_must_fail test -s out &&
	test_grep "revoke client=bob@a.example status=403" "$TRASH/bg/policyd.log" &&
	nothing_revoked
'

test_expect_success 'a message the courier never carried: 404, said, 17' '
	test_expect_code 17 agent alice revoke nope@a.example 2>err &&
	test_grep "tandem revoke: the background refused the revocation: 404 nope@a.example: no such message was carried here" err &&
	nothing_revoked
'

test_expect_success 'a recipient it was not carried for: 404, said, 17, nothing revoked' '
	test_expect_code 17 agent alice revoke rv1@a.example bob@a.example erin@a.example 2>err &&
	test_grep "404 rv1@a.example was not carried here for erin@a.example" err &&
	nothing_revoked
'

test_expect_success 'not a message id: a usage error before anything is sent' '
	test_expect_code 64 agent alice revoke "not an id" 2>err &&
	test_grep "need a MESSAGE-ID" err &&
	nothing_revoked
'

# forged OUT MSGID SENDER [NAME]: a revoke signed by the BG, wrapped to
# bob's agent (or NAME's), as the background would pass one on
forged() {
	{
		printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.revoke\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: f1@a.example\r\nDate: %s\r\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf "Message-Id: %s\r\nSender: %s\r\n" "$2" "$3"
	} >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER -in "$1.txt" \
		-signer "$CR_CA/elements/bg.crt" -inkey "$CR_CA/elements/bg.key" \
		-certfile "$CR_CHAIN" -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
		-in "$1.signed" -out "$1" "$TRASH/agent-${4:-bob}/agent.crt"
}

test_expect_success 'bob'"'"'s agent refuses a revoke of rv2 by carol, who did not send it (65), and keeps the key' '
	bob_cert >"$TRASH/agent-bob/agent.crt" &&
	test -s "$TRASH/agent-bob/agent.crt" &&
	forged f1 rv2@a.example carol@a.example &&
	bg "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$bob@a.example\$\$, \$\$revoke\$\$, \$\$rv2@a.example\$\$, decode(\$\$$(od -An -v -tx1 f1 | tr -d " \n")\$\$, \$\$hex\$\$))" >/dev/null &&
	test_expect_code 65 agent bob fetch 2>err &&
	test_grep "a revoke of rv2@a.example by carol@a.example, who is not its sender alice@a.example" err &&
	test "$(bob_arms rv2@a.example "arm IS NOT NULL")" = 1 &&
	test "$(sqlite3 "$TRASH/agent-bob/store.db" "SELECT count(*) FROM revoked")" = 0 &&
	bg "DELETE FROM agent_mailbox WHERE kind = \$\$revoke\$\$" >/dev/null &&
	nothing_revoked
'

test_expect_success 'bob'"'"'s agent refuses a revoke listed as another message (65)' '
	forged f2 rv2@a.example alice@a.example &&
	bg "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$bob@a.example\$\$, \$\$revoke\$\$, \$\$rv3@a.example\$\$, decode(\$\$$(od -An -v -tx1 f2 | tr -d " \n")\$\$, \$\$hex\$\$))" >/dev/null &&
	test_expect_code 65 agent bob fetch 2>err &&
	test_grep "listed as rv3@a.example but the revoke is for rv2@a.example" err &&
	test "$(bob_arms rv2@a.example "arm IS NOT NULL")" = 1 &&
	test "$(sqlite3 "$TRASH/agent-bob/store.db" "SELECT count(*) FROM revoked")" = 0 &&
	bg "DELETE FROM agent_mailbox WHERE kind = \$\$revoke\$\$" >/dev/null &&
	nothing_revoked
'

test_expect_success 'alice revokes rv1: 200, three recipients' '
	agent alice revoke rv1@a.example >out &&
	echo "revoked 3" >expect && test_cmp expect out &&
	test_grep "revoke msgid=rv1@a.example sender=alice@a.example status=stored revoked=3" "$TRASH/bg/policyd.log"
'

test_expect_success 'the background: dave'"'"'s held ARM destroyed, carol'"'"'s unfetched ARM gone, a revoke waits for bob' '
	test "$(bg "SELECT recipient, length(arm), purged_at IS NOT NULL, revoked_at IS NOT NULL FROM held_arms")" = "dave@a.example|0|t|t" &&
	test "$(bg "SELECT recipient, outcome FROM helpdesk.held_arms_history")" = "dave@a.example|revoked" &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$carol@a.example\$\$")" = 0 &&
	test "$(bg "SELECT kind, message_id FROM agent_mailbox WHERE address = \$\$bob@a.example\$\$")" = "revoke|rv1@a.example" &&
	test "$(bg "SELECT count(*) FROM carried_arms WHERE revoked_at IS NOT NULL")" = 2 &&
	test "$(bg "SELECT about FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$ AND kind = \$\$receipt\$\$ ORDER BY 1")" = "$(printf "bob@a.example\ncarol@a.example\ndave@a.example")"
'

test_expect_success 'the same revocation again: 200, already revoked, no new receipt' '
	agent alice revoke rv1@a.example >out &&
	echo "already revoked" >expect && test_cmp expect out &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$")" = 3
'

test_expect_success 'alice fetches: a receipt per recipient, saying what happened' '
	agent alice fetch >out 2>err &&
	test_must_fail test -s out &&
	test_grep "tandem fetch: rv1@a.example to bob@a.example: revoked: already fetched by its recipient.s agent (it may have been opened); its key is destroyed there at its next fetch" err &&
	test_grep "tandem fetch: rv1@a.example to carol@a.example: revoked: waiting at the background, not yet fetched by its recipient.s agent; destroyed" err &&
	test_grep "tandem fetch: rv1@a.example to dave@a.example: revoked: held until its recipient registers; destroyed" err &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$")" = 0
'

test_expect_success 'bob fetches: the key of rv1 is deleted; read refuses it (19), rv2 still opens' '
	agent bob fetch >out 2>err &&
	test_grep "tandem fetch: rv1@a.example was revoked by its sender alice@a.example; its key is deleted" err &&
	test "$(bob_arms rv1@a.example "arm IS NULL")" = 1 &&
	test_expect_code 19 agent bob read --id rv1@a.example >out 2>err &&
	test_grep "rv1@a.example was revoked by its sender" err &&
	test_must_fail test -s out &&
	agent bob inbox >inbox &&
	test_grep "^rv1@a.example alice@a.example revoked$" inbox &&
	agent bob read --id rv2@a.example >out &&
	test_grep "Keep this one" out &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$bob@a.example\$\$")" = 0
'

test_expect_success 'carol fetches nothing; she cannot read rv1 (16)' '
	maildir_wait carol "^Message-ID: <rv1@a.example>" 60 >/dev/null &&
	agent carol fetch >out &&
	test_must_fail test -s out &&
	test_expect_code 16 agent carol read --id rv1@a.example 2>err &&
	test_grep "no ARM yet for rv1@a.example" err
'

test_expect_success 'bob'"'"'s agent told the background it had opened rv1: alice fetches that' '
	test "$(bg "SELECT settled_at IS NOT NULL FROM carried_arms WHERE message_id = \$\$rv1@a.example\$\$ AND recipient = \$\$bob@a.example\$\$")" = t &&
	test_grep "receipt msgid=rv1@a.example rcpt=bob@a.example sender=alice@a.example event=opened status=filed" "$TRASH/bg/policyd.log" &&
	agent alice fetch >out 2>err &&
	test_grep "tandem fetch: rv1@a.example to bob@a.example: opened: it had been opened before the revocation; its key is deleted now" err &&
	test "$(bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$")" = 0
'

# file_revoke NAME FILE: FILE waits in NAME's mailbox as a revoke of rv1
file_revoke() {
	bg "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$$1@a.example\$\$, \$\$revoke\$\$, \$\$rv1@a.example\$\$, decode(\$\$$(od -An -v -tx1 $2 | tr -d " \n")\$\$, \$\$hex\$\$))" >/dev/null
}

test_expect_success 'the word is taken once; carol, whose ARM was never fetched, is not believed (404)' '
	forged f3 rv1@a.example alice@a.example && file_revoke bob f3 &&
	agent bob fetch >out 2>err &&
	test_grep_not "refused" err &&
	test "$(bg "SELECT count(*) FROM agent_mailbox")" = 0 &&
	agent_cert carol >"$TRASH/agent-carol/agent.crt" &&
	forged f4 rv1@a.example alice@a.example carol && file_revoke carol f4 &&
	agent carol fetch >out 2>err &&
	test_grep "tandem fetch: rv1@a.example: the background refused to tell its sender: 404 rv1@a.example: no revocation of it was passed on to carol@a.example" err &&
	test "$(bg "SELECT count(*) FROM agent_mailbox")" = 0 &&
	test_grep "receipt client=carol@a.example status=" "$TRASH/bg/policyd.log"
'

test_expect_success 'alice'"'"'s tandem status: rv1 opened by bob, revoked at carol and dave, saying how; rv2 sent' '
	today=$(date -u +%Y-%m-%d) &&
	agent alice status rv1@a.example >out &&
	sed "s/ ${today}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z / TODAY /" out >status.got &&
	printf "%s\n" "bob@a.example opened TODAY it had been opened before the revocation; its key is deleted now" \
		"carol@a.example revoked TODAY waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" \
		"dave@a.example revoked TODAY held until its recipient registers; destroyed" >expect &&
	test_cmp expect status.got &&
	agent alice status >out &&
	sed "s/ ${today}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z / TODAY /" out >status.got &&
	printf "%s\n" "rv1@a.example TODAY 3 opened=1 revoked=2" \
		"rv2@a.example TODAY 1 sent=1" >expect &&
	test_cmp expect status.got
'

test_expect_success 'split trust: the BG keeps neither the plaintext nor the sealed content nor a revoked key' '
	pg_dump -d "$CR_BG_DB" >bg.dump &&
	test_grep "rv1@a.example" bg.dump &&
	sealed=$(courier_fg_sql "SELECT encode(body, \$\$hex\$\$) FROM held_messages WHERE message_id = \$\$rv1@a.example\$\$") &&
	test "${#sealed}" -gt 1000 &&
	for f in bg.dump "$TRASH/bg/policyd.log"; do
		! grep -a -i -q -e "$secret" "$f" || return 1
		for off in 200 700 1000; do
			c=$(printf "%s\n" "$sealed" | cut -c$((off + 1))-$((off + 64))) &&
			! grep -a -i -q -e "$c" "$f" || return 1
		done
	done
'

test_done
