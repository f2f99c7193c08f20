#!/bin/sh
test_description='policyd: a peer background that refuses an ARM for good ends the retries, and the sender is told through her own background'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"

# alice (a real agent at a) sends to bob@b.example. a knows b, but the
# introduction's URL leads to c's background, which cannot open a wrap
# sealed to b and answers 400: a refusal for good. a gives up on the
# row and files a receipt (Event: refused) in alice's mailbox, which
# "tandem fetch" says on standard error. Then receipts the agent must
# not believe: signed by a's background, but for another sender, or
# for another message than listed.

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
mta=$(pf_random_addr) mport=$(pf_random_port)

fetch_alice() { tandem fetch -d a-alice.d $(bf_net a) "$@"; }

# receipt OUT MSGID SENDER: a receipt signed by a's BG, wrapped to
# alice's agent, as a's background would file it
receipt() {
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/vnd.tandem.receipt\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s.r@a.example\r\nDate: %s\r\n' "$1" \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'Message-Id: %s\r\nSender: %s\r\n' "$2" "$3"
		printf 'Recipient: bob@b.example\r\nEvent: refused\r\n'
		printf 'Reason: made up\r\n'
	} >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER -in "$1.txt" \
		-signer pki/a/elements/bg.crt -inkey pki/a/elements/bg.key \
		-certfile pki/a/chain.pem -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
		-in "$1.signed" -out "$1" \
		pki/a/accounts/alice@a.example/agent.crt
}

# file OUT MSGID: put the wrap OUT in alice's mailbox at a, listed as MSGID
file() {
	bf_psql a "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$alice@a.example\$\$, \$\$receipt\$\$, \$\$$2\$\$, decode(\$\$$(od -An -v -tx1 "$1" | tr -d ' \n')\$\$, \$\$hex\$\$))" >/dev/null
}

test_expect_success_here 'a, b and c run; alice (an agent) at a, bob at b; a knows b at c'"'"'s URL' '
	bf_setup >setup.log 2>&1 &&
	bf_agent a alice && bf_account b bob active &&
	bf_wait a "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 1 &&
	bf_wait b "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 1 &&
	bf_start a && bf_start b && bf_start c &&
	bf_intro a b >intro.out &&
	bf_psql a "UPDATE introductions SET endpoint = \$\$$(bf_url c)\$\$ WHERE courier = \$\$b.example\$\$" >/dev/null &&
	smtp_sink_start fg $mta $mport &&
	printf "From: alice@a.example\r\nTo: bob@b.example\r\nSubject: hello\r\n\r\nHello Bob.\r\n" >m.eml
'

test_expect_success 'alice sends to bob: the ARM leaves a, c refuses it (400), a gives up' '
	tandem send -d a-alice.d --to bob@b.example --in m.eml \
		--smtp $mta:$mport $(bf_net a) >id &&
	id=$(cat id) &&
	bf_wait a "SELECT count(*) FROM bg_outbox WHERE next_attempt_at = \$\$infinity\$\$" 1 &&
	test "$(bf_psql a "SELECT message_id, sender, recipient, attempts, sent_at IS NULL FROM bg_outbox")" = "$id|alice@a.example|bob@b.example|1|t" &&
	test_grep "courier-send id=1 url=$(bf_url c) status=failed code=400 reason=\"400 garbled wrap.*\" told=sender" a.log
'

test_expect_success 'a receipt waits for alice at a, in the same transaction' '
	id=$(cat id) &&
	test "$(bf_psql a "SELECT address, kind, message_id FROM agent_mailbox")" = "alice@a.example|receipt|$id" &&
	test "$(bf_psql c "SELECT count(*) FROM seen_messages")" = 0
'

test_expect_success 'alice fetches: she is told who did not get it and why; nothing stored as an ARM' '
	id=$(cat id) &&
	fetch_alice >out 2>err &&
	test_must_fail test -s out &&
	test_grep "tandem fetch: $id was not delivered to bob@b.example: its courier refused it: 400 garbled wrap" err &&
	test "$(bf_psql a "SELECT count(*) FROM agent_mailbox")" = 0 &&
	test "$(sqlite3 a-alice.d/store.db "SELECT count(*) FROM arms")" = 0
'

test_expect_success 'no second attempt: the row stays failed' '
	sleep 3 &&
	test "$(bf_psql a "SELECT attempts FROM bg_outbox")" = 1 &&
	test_grep_not "status=retry" a.log
'

test_expect_success 'a receipt for another sender is refused and left at the background' '
	receipt r1 x1@a.example carol@a.example &&
	file r1 x1@a.example &&
	test_expect_code 65 fetch_alice >out 2>err &&
	test_grep "a receipt for carol@a.example, who is not alice@a.example" err &&
	test "$(bf_psql a "SELECT count(*) FROM agent_mailbox")" = 1 &&
	bf_psql a "DELETE FROM agent_mailbox" >/dev/null
'

test_expect_success 'a receipt for another message than listed is refused' '
	receipt r2 x2@a.example alice@a.example &&
	file r2 x3@a.example &&
	test_expect_code 65 fetch_alice >out 2>err &&
	test_grep "listed as x3@a.example but the receipt is for x2@a.example" err &&
	bf_psql a "DELETE FROM agent_mailbox" >/dev/null
'

test_expect_success 'the same receipt, as listed, is said' '
	file r2 x2@a.example &&
	fetch_alice >out 2>err &&
	test_grep "tandem fetch: x2@a.example was not delivered to bob@b.example: its courier refused it: made up" err
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b && bf_stop c
'

test_done
