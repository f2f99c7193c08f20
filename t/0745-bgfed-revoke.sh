#!/bin/sh
test_description='policyd: a revocation follows the ARM to another courier, directly and through the superior; the receipt comes back; a certified courier can neither revoke another'"'"'s message nor forge a receipt'
. "$TANDEM_SRC/t/test-lib.sh"
BF_TREE="a:public:root b:private:a c:private:a h:public:root"
. "$TANDEM_SRC/t/lib-bgfed.sh"

# alice and carol at a, bob at b, dave at c; c knows only its superior
# a. h is a properly certified public courier that attacks: it revokes
# alice's message at b and forges receipts to a. alice's revocation of
# her message to bob and carol destroys carol's ARM at a and goes to b,
# which is down at first: the revoke waits in a's outbox, h's forged
# receipt is refused meanwhile, then b destroys bob's unfetched ARM and
# its receipt comes back. dave's message to bob went through a; bob
# fetched it; dave's revocation goes through a too, b files it for
# bob's agent, which deletes the key.

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
mta=$(pf_random_addr) mport=$(pf_random_port)

# rv_text OUT KIND FIELD...: a protocol message of KIND, one field per
# argument ("Name: value"), Id and Date first
rv_text() {
	_rv_out=$1 _rv_kind=$2
	shift 2
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/vnd.tandem.%s\r\n' "$_rv_kind"
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s@h.example\r\n' "$(openssl rand -hex 8)"
		printf 'Date: %s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		for _rv_f; do printf '%s\r\n' "$_rv_f"; done
	} >"$_rv_out"
}

# h_send WANT PART ICID TO MSGID SENDER FILE RCPT: h's BG sends FILE as
# part PART of an inter-courier message to TO's BG
h_send() {
	(BF_PART=$2 && bf_ic $3.ic $3@h.example 1 h $4 $5 $6 $7 $8) &&
	bf_send $1 h h $4 $3.ic
}

test_expect_success_here 'couriers a, b, c and h; alice and carol at a, bob at b, dave at c' '
	bf_setup >setup.log 2>&1 &&
	bf_agent a alice && bf_agent a carol && bf_agent b bob &&
	bf_agent c dave &&
	bf_wait a "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 2 &&
	bf_wait b "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 1 &&
	bf_wait c "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 1 &&
	bf_intro a b >intro.out && bf_intro c a >>intro.out &&
	bf_intro a c >>intro.out &&
	bf_start a && bf_start b && bf_start c &&
	smtp_sink_start fg $mta $mport &&
	printf "From: alice@a.example\r\nTo: bob@b.example, carol@a.example\r\nSubject: hello\r\n\r\nHello.\r\n" >m.eml &&
	printf "From: dave@c.example\r\nTo: bob@b.example\r\nSubject: hi\r\n\r\nHi.\r\n" >d.eml
'

test_expect_success 'alice sends to bob and carol: carol'"'"'s ARM stays at a, bob'"'"'s goes to b, which keeps its origin' '
	tandem send -d a-alice.d --to bob@b.example --to carol@a.example \
		--in m.eml --smtp $mta:$mport $(bf_net a) >id &&
	id=$(cat id) &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$id\$\$" 1 &&
	test "$(bf_psql a "SELECT recipient, sender, coalesce(courier, \$\$-\$\$) FROM carried_arms ORDER BY 1")" = "$(printf "bob@b.example|alice@a.example|b.example\ncarol@a.example|alice@a.example|-")" &&
	test "$(bf_psql b "SELECT recipient, sender, courier IS NULL, origin FROM carried_arms")" = "bob@b.example|alice@a.example|t|a.example"
'

test_expect_success 'bob may not revoke it at b: b knows alice sent it (403, 17)' '
	id=$(cat id) &&
	test_expect_code 17 tandem revoke -d b-bob.d $(bf_net b) $id 2>err &&
	test_grep "403 $id was not sent by bob@b.example: only its sender may revoke it" err &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$arm\$\$")" = 1
'

test_expect_success 'h revokes alice'"'"'s message at b: refused (403), the ARM stays, the claim is recorded' '
	id=$(cat id) &&
	rv_text hr1.txt revoke "Message-Id: $id" "Sender: alice@a.example" \
		"Recipient: bob@b.example" &&
	h_send 403 revoke hr1 b $id alice@a.example hr1.txt bob@b.example &&
	echo "revoke $id for bob@b.example: the ARM came from another courier than the revoke" >expect &&
	test_cmp expect out.body &&
	test_grep "courier revoke msgid=$id rcpt=bob@b.example origin=h.example status=refused reason=\"the ARM came from another courier than the revoke\"" b.log &&
	test "$(bf_psql b "SELECT courier, claim FROM refused_claims")" = "h.example|Revoke" &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$arm\$\$ AND message_id = \$\$$id\$\$")" = 1 &&
	test "$(bf_psql b "SELECT revoked_at IS NULL FROM carried_arms")" = t
'

test_expect_success 'h'"'"'s revoke naming another sender than its own field: refused' '
	id=$(cat id) &&
	rv_text hr2.txt revoke "Message-Id: $id" "Sender: eve@h.example" &&
	h_send 403 revoke hr2 b $id alice@a.example hr2.txt bob@b.example &&
	echo "revoke $id for bob@b.example: the revoke'"'"'s Sender is not the message'"'"'s" >expect &&
	test_cmp expect out.body &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$arm\$\$")" = 1
'

test_expect_success 'h brings b an ARM of the same id for bob, as alice'"'"'s: dropped, the first stays' '
	id=$(cat id) &&
	{
		printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.arm\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Message-Id: %s\r\nContent-Key: %s\r\n" "$id" "$(openssl rand -hex 32)"
		printf "Content-Digest: %s\r\n" "$(openssl rand -hex 32)"
		printf "Sender: alice@a.example\r\nRecipient: bob@b.example\r\n"
		printf "Issued: %s\r\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >h.arm &&
	h_send 201 arm ha1 b $id alice@a.example h.arm bob@b.example &&
	test_grep "courier msgid=$id rcpt=bob@b.example action=drop reason=\"another ARM of this id came here from another sender or courier\"" b.log &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$id\$\$")" = 1 &&
	test "$(bf_psql b "SELECT origin FROM carried_arms")" = a.example
'

test_expect_success_here 'b is down; alice revokes: carol'"'"'s ARM is destroyed, the revoke for bob waits in a'"'"'s outbox' '
	id=$(cat id) &&
	bf_stop b &&
	tandem revoke -d a-alice.d $(bf_net a) $id >out &&
	echo "revoked 1; 1 sent on to other couriers, their receipts follow" >expect &&
	test_cmp expect out &&
	test_grep "revoke msgid=$id rcpt=bob@b.example status=sent courier=b.example" a.log &&
	test "$(bf_psql a "SELECT count(*) FROM agent_mailbox WHERE address = \$\$carol@a.example\$\$")" = 0 &&
	test "$(bf_psql a "SELECT about FROM agent_mailbox WHERE kind = \$\$receipt\$\$")" = carol@a.example &&
	test "$(bf_psql a "SELECT revoked_at IS NOT NULL, revoke_via, answered_at IS NULL FROM carried_arms WHERE recipient = \$\$bob@b.example\$\$")" = "t|b.example|t" &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox WHERE message_id = \$\$$id\$\$ AND sent_at IS NULL AND sender IS NULL")" = 1
'

test_expect_success 'h forges bob'"'"'s receipt to a: refused; and one for a message no revoke awaits' '
	id=$(cat id) &&
	rv_text hc1.txt receipt "Message-Id: $id" "Sender: alice@a.example" \
		"Recipient: bob@b.example" "Event: revoked" "Reason: destroyed" &&
	h_send 403 receipt hc1 a $id bob@b.example hc1.txt alice@a.example &&
	echo "receipt $id for alice@a.example: the receipt comes from a courier the revoke did not go to" >expect &&
	test_cmp expect out.body &&
	rv_text hc2.txt receipt "Message-Id: none@a.example" \
		"Sender: alice@a.example" "Recipient: bob@b.example" \
		"Event: revoked" &&
	h_send 403 receipt hc2 a none@a.example bob@b.example hc2.txt alice@a.example &&
	echo "receipt none@a.example for alice@a.example: no revoke sent for this recipient awaits a receipt" >expect &&
	test_cmp expect out.body &&
	test "$(bf_psql a "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$")" = 1 &&
	test "$(bf_psql a "SELECT courier, claim, times FROM refused_claims")" = "h.example|Receipt|2"
'

test_expect_success_here 'b is back: it destroys bob'"'"'s unfetched ARM, and its receipt reaches alice'"'"'s mailbox' '
	id=$(cat id) &&
	bf_start b &&
	bf_wait a "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$" 2 60 &&
	test_grep "courier revoke msgid=$id rcpt=bob@b.example origin=a.example status=revoked reason=\"waiting at the background, not yet fetched by its recipient.s agent; destroyed\"" b.log &&
	test "$(bf_psql b "SELECT count(*) FROM agent_mailbox")" = 0 &&
	test "$(bf_psql b "SELECT revoked_at IS NOT NULL FROM carried_arms")" = t &&
	test_grep "courier receipt msgid=$id rcpt=bob@b.example origin=b.example status=filed event=revoked" a.log &&
	test "$(bf_psql a "SELECT answered_at IS NOT NULL FROM carried_arms WHERE recipient = \$\$bob@b.example\$\$")" = t
'

test_expect_success 'alice fetches: a receipt for carol and one for bob, each saying what happened' '
	id=$(cat id) &&
	tandem fetch -d a-alice.d $(bf_net a) >out 2>err &&
	test_grep "tandem fetch: $id to bob@b.example: revoked: waiting at the background, not yet fetched by its recipient.s agent; destroyed" err &&
	test_grep "tandem fetch: $id to carol@a.example: revoked: waiting at the background, not yet fetched by its recipient.s agent; destroyed" err &&
	tandem status -d a-alice.d $id >st &&
	sed "s/ [0-9-]*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z / DATE /" st >st.got &&
	printf "%s\n" "bob@b.example revoked DATE waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" \
		"carol@a.example revoked DATE waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" >expect &&
	test_cmp expect st.got
'

test_expect_success 'again: already revoked, nothing sent' '
	id=$(cat id) &&
	n=$(bf_psql a "SELECT count(*) FROM bg_outbox") &&
	tandem revoke -d a-alice.d $(bf_net a) $id bob@b.example >out &&
	echo "already revoked" >expect && test_cmp expect out &&
	test "$(bf_psql a "SELECT count(*) FROM bg_outbox")" = $n
'

test_expect_success_here 'dave (c knows only a) sends to bob through a; bob fetches it' '
	tandem send -d c-dave.d --to bob@b.example --in d.eml \
		--smtp $mta:$mport $(bf_net c) >id2 &&
	id2=$(cat id2) &&
	bf_wait b "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$id2\$\$" 1 &&
	test_grep "courier msgid=$id2 rcpt=bob@b.example action=forward courier=a.example hops=1 origin=c.example" c.log &&
	tandem fetch -d b-bob.d $(bf_net b) >fetched &&
	echo $id2 >expect && test_cmp expect fetched &&
	tandem arm -d b-bob.d $id2 >arm2.txt &&
	sed -n "s/^Content-Key: //p" arm2.txt | tr -d "\r" >key2 &&
	test $(wc -c <key2) -gt 40 &&
	bf_wait c "SELECT count(*) FROM introductions WHERE courier = \$\$b.example\$\$" 1 &&
	bf_wait c "SELECT courier FROM address_routes WHERE address = \$\$bob@b.example\$\$" b.example
'

test_expect_success 'dave revokes with c not knowing b: the revoke goes through a, b files it for bob'"'"'s agent, the receipt comes straight back' '
	id2=$(cat id2) &&
	bf_psql c "DELETE FROM introductions WHERE courier = \$\$b.example\$\$" >/dev/null &&
	tandem revoke -d c-dave.d $(bf_net c) $id2 >out &&
	echo "revoked 0; 1 sent on to other couriers, their receipts follow" >expect &&
	test_cmp expect out &&
	test_grep "revoke msgid=$id2 rcpt=bob@b.example status=sent courier=a.example" c.log &&
	bf_wait c "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$" 1 60 &&
	test_grep "courier msgid=$id2 rcpt=bob@b.example action=forward courier=b.example hops=2 origin=c.example route=[a-z-]* part=revoke\$" a.log &&
	test_grep "courier revoke msgid=$id2 rcpt=bob@b.example origin=c.example status=revoked reason=\"already fetched" b.log &&
	test "$(bf_psql b "SELECT kind, about FROM agent_mailbox")" = "revoke|" &&
	test_grep "courier receipt msgid=$id2 rcpt=bob@b.example origin=b.example status=filed event=revoked" c.log
'

test_expect_success 'dave fetches the receipt; bob fetches the revoke: the key of the message is deleted' '
	id2=$(cat id2) &&
	tandem fetch -d c-dave.d $(bf_net c) >out 2>err &&
	test_grep "tandem fetch: $id2 to bob@b.example: revoked: already fetched by its recipient.s agent (it may have been opened); its key is destroyed there at its next fetch" err &&
	tandem status -d c-dave.d $id2 >st &&
	sed "s/ [0-9-]*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z / DATE /" st >st.got &&
	echo "bob@b.example revoked DATE already fetched by its recipient'"'"'s agent (it may have been opened); its key is destroyed there at its next fetch" >expect &&
	test_cmp expect st.got &&
	tandem fetch -d b-bob.d $(bf_net b) >out 2>err &&
	test_grep "tandem fetch: $id2 was revoked by its sender dave@c.example; its key is deleted" err &&
	test -z "$(sqlite3 b-bob.d/store.db "SELECT arm FROM arms WHERE msgid = '\''$id2'\''")" &&
	test "$(sqlite3 b-bob.d/store.db "SELECT msgid FROM revoked")" = "$id2"
'

test_expect_success 'bob'"'"'s agent says it had not opened it: b sends that to c, dave learns it; a third receipt (h'"'"'s) is refused' '
	id2=$(cat id2) &&
	test_grep "receipt msgid=$id2 rcpt=bob@b.example sender=dave@c.example event=revoked status=sent courier=c.example" b.log &&
	bf_wait c "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$receipt\$\$" 1 60 &&
	test "$(bf_psql c "SELECT answered_at IS NOT NULL, settled_at IS NOT NULL FROM carried_arms")" = "t|t" &&
	tandem fetch -d c-dave.d $(bf_net c) >out 2>err &&
	test_grep "tandem fetch: $id2 to bob@b.example: revoked: its recipient.s agent deleted its key before it was opened" err &&
	tandem status -d c-dave.d $id2 >st &&
	sed "s/ [0-9-]*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z / DATE /" st >st.got &&
	echo "bob@b.example revoked DATE its recipient'"'"'s agent deleted its key before it was opened" >expect &&
	test_cmp expect st.got &&
	rv_text hc3.txt receipt "Message-Id: $id2" "Sender: dave@c.example" \
		"Recipient: bob@b.example" "Event: opened" &&
	h_send 403 receipt hc3 c $id2 bob@b.example hc3.txt dave@c.example &&
	echo "receipt $id2 for dave@c.example: no revoke sent for this recipient awaits a receipt" >expect &&
	test_cmp expect out.body
'

test_expect_success 'split trust: no background keeps the content key or the sealed content, in its database or its log' '
	key=$(cat key2) &&
	smtp_sink_files fg >mails && test $(wc -l <mails) = 2 &&
	for x in a b c; do
		pg_dump -d "$(pg_conninfo bg$(bf_cl $x) bg$x postgres)" \
			>$x.dump || return 1
		test_grep "$(cat id2)" $x.dump || return 1
		for f in $x.dump $x.log; do
			! grep -a -i -q -e "$key" "$f" || return 1
			for m in $(cat mails); do
				c=$(sed -n "/^\r\{0,1\}$/,\$p" $m | sed -n 8p | cut -c1-60) &&
				test ${#c} = 60 &&
				! grep -a -q -e "$c" "$f" || return 1
			done
		done
	done
'

test_expect_success 'SIGTERM stops them cleanly' '
	bf_stop a && bf_stop b && bf_stop c
'

test_done
