#!/bin/sh
test_description='end to end: the restrictions honoured by the agent (No-Forward, No-Reply-All, No-Copy refused; restrictions shown and delivered as headers) and a read receipt told once'
. "$TANDEM_SRC/t/test-lib.sh"

# Issue 15, part 2 (doc/flows.md "Restrictions honoured"): a live
# courier, the real agents. alice sends a message with every flag and
# a read receipt to bob and carol; bob's agent refuses what the flags
# forbid, shows them, delivers a notice with them as header fields,
# and its first open tells alice, once, through the background.

letter() {
	printf "From: alice@a.example\r\nTo: bob@a.example, carol@a.example\r\n"
	printf "Subject: %s\r\nMessage-ID: <%s@a.example>\r\n" "$2" "$1"
	printf "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	printf "%s\r\n" "the text of $1"
}

bob_maildir_mail() {
	maildir_wait bob "^Message-ID: <$1>" 30 >/dev/null
}

test_expect_success_here 'a courier; alice, bob and carol register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob && agent_register carol
'

test_expect_success_here 'alice sends r1 with every restriction and a read receipt; bob fetches' '
	letter r1 "the plan" >r1.eml &&
	agent alice send --to bob@a.example --to carol@a.example \
	    --no-forward --no-reply-all --no-print --no-copy --read-receipt \
	    --in r1.eml >out &&
	echo r1@a.example >expect && test_cmp expect out &&
	bob_maildir_mail r1@a.example &&
	agent bob fetch >out &&
	test_cmp expect out
'

test_expect_success 'bob sees beforehand what r1 forbids and that its first open tells alice' '
	agent bob inbox >out &&
	grep "^r1@" out >inbox &&
	echo "r1@a.example alice@a.example readable restrictions=no-forward,no-reply-all,no-print,no-copy receipt=alice@a.example" >expect &&
	test_cmp expect inbox &&
	agent bob read 2>err >out &&
	test_must_fail test -s out &&
	test_grep "^tandem: r1@a.example from alice@a.example is restricted; not opened: tandem read --id r1@a.example (its first open sends a read receipt to alice@a.example)$" err
'

test_expect_success 'a mail client'"'"'s Maildir gets a notice carrying the restrictions as header fields' '
	agent bob fetch --maildir "$TRASH/client" >/dev/null &&
	ls "$TRASH/client/new" >files && test "$(wc -l <files)" = 1 &&
	notice="$TRASH/client/new/$(cat files)" &&
	sed -n "/^Tandem-Restrictions:/,\$p" "$notice" >got &&
	cat >expect <<-\EOF &&
	Tandem-Restrictions: no-forward, no-reply-all, no-print, no-copy
	Tandem-Read-Receipt: sent to alice@a.example when first opened
	MIME-Version: 1.0
	Content-Type: text/plain; charset=us-ascii
	Content-Transfer-Encoding: 7bit

	This is a restricted private message from alice@a.example:
	  - it may not be forwarded
	  - no reply to all
	  - it may not be printed or copied
	  - its first open sends a read receipt to alice@a.example

	Its sender'"'"'s restrictions forbid a plain copy, so none is here.
	Read it with the Tandem agent:

	    tandem read --id r1@a.example
	EOF
	test_cmp expect got &&
	test_grep "^Message-ID: <r1@a.example>$" "$notice" &&
	test_grep_not "the text of r1" "$notice"
'

test_expect_success 'No-Copy: bob'"'"'s read into a file or --out-dir is refused (20), nothing opened' '
	test_expect_code 20 agent bob read --id r1@a.example >file 2>err &&
	test_must_fail test -s file &&
	sed "s,^tandem: $TRASH/mail/bob/new/[^:]*: ,tandem: MAIL: ," err >got &&
	echo "tandem: MAIL: refused: r1@a.example: its sender alice@a.example forbids a copy (No-Copy): it is shown on a terminal or a pipe, never written to a file" >expect &&
	test_cmp expect got &&
	mkdir saved &&
	test_expect_code 20 agent bob read --id r1@a.example --out-dir saved >out 2>err &&
	sed "s,^tandem: $TRASH/mail/bob/new/[^:]*: ,tandem: MAIL: ," err >got &&
	test_cmp expect got &&
	test -z "$(ls saved)" &&
	agent bob inbox >inbox &&
	test_grep "receipt=alice@a.example$" inbox &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$")" = 0
'

test_expect_success 'No-Forward: tandem forward refuses r1 (20), nothing is sent' '
	test_expect_code 20 agent bob forward --id r1@a.example --to carol@a.example >out 2>err &&
	test_must_fail test -s out &&
	echo "tandem forward: refused: r1@a.example: its sender alice@a.example forbids forwarding it (No-Forward)" >expect &&
	test_cmp expect err &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = \$\$carol@a.example\$\$")" = 1
'

test_expect_success 'No-Reply-All: tandem reply --all refuses r1 (20), nothing is sent' '
	printf "Agreed.\r\n" >answer.txt &&
	test_expect_code 20 agent bob reply --id r1@a.example --all --in answer.txt >out 2>err &&
	test_must_fail test -s out &&
	echo "tandem reply: refused: r1@a.example: its sender alice@a.example forbids a reply to all (No-Reply-All); reply to the sender alone, without --all" >expect &&
	test_cmp expect err &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$")" = 0
'

test_expect_success_here 'bob opens r1 on a pipe: every restriction shown, the read receipt sent' '
	{ agent bob read --id r1@a.example 2>err; echo $? >rc; } | cat >shown &&
	test "$(cat rc)" = 0 &&
	cmp r1.eml shown &&
	cat >expect <<-\EOF &&
	tandem: r1@a.example from alice@a.example is restricted:
	  no-forward: tandem forward refuses it
	  no-reply-all: tandem reply --all refuses it
	  no-print: a request: please do not print it
	  no-copy: never written to a file by tandem; please do not copy it
	  read-receipt: its first open is told to alice@a.example
	tandem: r1@a.example: a read receipt goes to alice@a.example
	tandem read: r1@a.example: read receipt sent to alice@a.example
	EOF
	test_cmp expect err &&
	test_grep "receipt msgid=r1@a.example rcpt=bob@a.example sender=alice@a.example event=opened status=filed" "$TRASH/bg/policyd.log" &&
	agent bob inbox >inbox &&
	test_grep "^r1@a.example alice@a.example readable restrictions=no-forward,no-reply-all,no-print,no-copy receipt=sent$" inbox
'

test_expect_success 'alice fetches the receipt; her tandem status shows bob opened r1, carol not yet' '
	agent alice fetch >out 2>err &&
	test_must_fail test -s out &&
	echo "tandem fetch: r1@a.example to bob@a.example: opened: read receipt: its recipient opened it" >expect &&
	test_cmp expect err &&
	today=$(date -u +%Y-%m-%d) &&
	agent alice status r1@a.example >out &&
	sed "s/ ${today}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z/ TODAY/" out >got &&
	printf "%s\n" "bob@a.example opened TODAY read receipt: its recipient opened it" \
		"carol@a.example sent TODAY" >expect &&
	test_cmp expect got
'

test_expect_success 'exactly once: a second open sends nothing; a receipt sent again is not filed again' '
	{ agent bob read --id r1@a.example 2>err; echo $? >rc; } | cat >shown &&
	test "$(cat rc)" = 0 && cmp r1.eml shown &&
	test_grep "read-receipt: its first open is told to alice@a.example" err &&
	test_grep_not "a read receipt goes\|read receipt sent" err &&
	python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE receipts SET told_at = NULL\"); c.commit()" \
	    "$TRASH/agent-bob/store.db" &&
	agent bob fetch >out 2>err &&
	test_grep "tandem fetch: r1@a.example: read receipt sent to alice@a.example" err &&
	test "$(grep -c "receipt msgid=r1@a.example rcpt=bob@a.example sender=alice@a.example event=opened status=filed" "$TRASH/bg/policyd.log")" = 1 &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$")" = 0 &&
	agent alice fetch >out 2>err &&
	test_must_fail test -s err
'

test_expect_success 'a reply to the sender alone goes; alice reads it, threaded' '
	agent bob reply --id r1@a.example --in answer.txt >out &&
	id=$(cat out) && test -n "$id" &&
	maildir_wait alice "^Message-ID: <$id>" 30 >/dev/null &&
	agent alice fetch >/dev/null &&
	agent alice read --id "$id" >reply.eml &&
	test_grep "^From: bob@a.example" reply.eml &&
	test_grep "^To: alice@a.example" reply.eml &&
	test_grep_not "^Cc:" reply.eml &&
	test_grep "^Subject: Re: the plan" reply.eml &&
	test_grep "^In-Reply-To: <r1@a.example>" reply.eml &&
	test_grep "^Agreed." reply.eml
'

test_expect_success 'a message without No-Forward is forwarded, attached, with the same restrictions' '
	letter r2 "the budget" >r2.eml &&
	agent alice send --to bob@a.example --no-copy --in r2.eml >/dev/null &&
	bob_maildir_mail r2@a.example &&
	agent bob fetch >/dev/null &&
	agent bob forward --id r2@a.example --to carol@a.example >out &&
	id=$(cat out) && test -n "$id" &&
	maildir_wait carol "^Message-ID: <$id>" 30 >/dev/null &&
	agent carol fetch >/dev/null &&
	agent carol inbox >inbox &&
	test_grep "^$id bob@a.example readable restrictions=no-copy$" inbox &&
	test_expect_code 20 agent carol read --id "$id" >fwd.eml 2>err &&
	{ agent carol read --id "$id" 2>err; echo $? >rc; } | cat >fwd.eml &&
	test "$(cat rc)" = 0 &&
	test_grep "^From: bob@a.example" fwd.eml &&
	test_grep "^Subject: Fwd: the budget" fwd.eml &&
	test_grep "^Content-Type: message/rfc822" fwd.eml &&
	sed "1,/^\r\$/d" fwd.eml >inner.eml &&
	cmp r2.eml inner.eml
'

test_expect_success 'the background down at the first open: the receipt waits, the next fetch sends it' '
	letter r3 "the minutes" >r3.eml &&
	agent alice send --to bob@a.example --read-receipt --in r3.eml >/dev/null &&
	bob_maildir_mail r3@a.example &&
	agent bob fetch >/dev/null &&
	courier_policyd_stop &&
	agent bob read --id r3@a.example >got 2>err &&
	cmp r3.eml got &&
	test_grep "^tandem read: r3@a.example: the read receipt to alice@a.example waits (.*); the next tandem fetch or read sends it$" err &&
	agent bob inbox >out &&
	test_grep "^r3@a.example alice@a.example readable receipt=waiting$" out &&
	courier_policyd_start &&
	agent bob fetch >out 2>err &&
	test_grep "^tandem fetch: r3@a.example: read receipt sent to alice@a.example$" err &&
	agent bob inbox >out &&
	test_grep "^r3@a.example alice@a.example readable receipt=sent$" out &&
	agent alice fetch >out 2>err &&
	echo "tandem fetch: r3@a.example to bob@a.example: opened: read receipt: its recipient opened it" >expect &&
	test_cmp expect err
'

test_expect_success 'the daemons are alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
