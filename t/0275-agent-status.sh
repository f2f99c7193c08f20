#!/bin/sh
test_description='tandem status: what became of each recipient of a message sent, from the receipts fetched and mailed'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

# alice sends through an smtp-sink and the background stub (as in
# t/0270); receipts reach her agent as the background files them (in
# her mailbox at the stub, wrapped BG -> agent) and as the foreground's
# hygiene mails them (service mail, wrapped FG -> agent). Each is
# recorded once, said once, and shown by "tandem status".

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'
test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'

mta=$(pf_random_addr) mport=$(pf_random_port) sport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port)
net="--smtp $mta:$mport --bg https://bg.a.example:$bport --resolve bg.a.example:$bport:$bg"
alice=ca/accounts/alice@a.example

# msg ID: a message of alice with Message-ID ID, in ID.eml
msg() {
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nHello.\r\n" "$1" "$1" >$1.eml
}

# receipt FILE MSGID RECIPIENT EVENT DATE [REASON [SENDER]]: a receipt
# to alice (Sender SENDER), Id FILE@a.example
receipt() {
	{
		printf 'MIME-Version: 1.0\nContent-Type: application/vnd.tandem.receipt\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: %s@a.example\nDate: %s\n' "$1" "$5"
		printf 'Message-Id: %s\nSender: %s\n' "$2" "${7:-alice@a.example}"
		printf 'Recipient: %s\nEvent: %s\n' "$3" "$4"
		[ -z "$6" ] || printf 'Reason: %s\n' "$6"
	} | crlf >"$1"
}

# boxed ITEM FILE [LISTED]: FILE waits in alice's mailbox at the stub,
# wrapped BG -> alice, listed under LISTED (else its Message-Id)
boxed() {
	ag_wrap ca/elements/bg.crt ca/elements/bg.key $alice/agent.crt "$2" \
		stub/mailbox/$1 &&
	rm -f stub/mailbox/$1.signed &&
	echo "${3:-$(ag_field Message-Id "$2")}" >stub/mailbox/$1.msgid
}

# mailed FILE OUT: FILE as the foreground's service mail to alice
mailed() {
	ag_wrap ca/elements/fg.crt ca/elements/fg.key $alice/agent.crt "$1" \
		"$1.der" &&
	ag_mail service tandem@a.example alice@a.example "$1@a.example" \
		"$1.der" >"$2"
}

# status [MSGID]: alice's "tandem status", today's dates as TODAY
status() {
	tandem status -d alice "$@" >status.raw &&
	sed "s/ $(date -u +%Y-%m-%d)T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z/ TODAY/" \
		status.raw
}

test_expect_success 'a courier; alice with her courier-end certificate' '
	ag_courier &&
	tandem init -d alice --address alice@a.example --csr alice.csr &&
	tandem-ca account -d ca --address alice@a.example --csr alice.csr &&
	tandem import -d alice --cert $alice/agent.crt --anchor root/root.crt \
		--chain ca/chain.pem --courier-cert $alice/courier.crt &&
	for m in st1 st2 st3 st4 st5; do msg $m@a.example || return 1; done
'

test_expect_success 'status before anything was sent: nothing, said, 0, and no password asked' '
	env -u TANDEM_PASSWORD tandem status -d alice </dev/null >out 2>err &&
	! test -s out &&
	echo "tandem status: no message sent from this store" >expect &&
	test_cmp expect err
'

test_expect_success 'a store made before table sent gets it when opened' '
	sqlite3 alice/store.db "DROP TABLE sent" &&
	tandem status -d alice 2>err &&
	test "$(sqlite3 alice/store.db "SELECT count(*) FROM sent")" = 0
'

test_expect_success 'status refuses a malformed message id or two (64), an unknown one (66)' '
	test_expect_code 64 tandem status -d alice "not an id" >out 2>err &&
	echo "tandem status: need at most one MESSAGE-ID (as \"tandem send\" printed it)" >expect &&
	test_cmp expect err && ! test -s out &&
	test_expect_code 64 tandem status -d alice st1@a.example st2@a.example 2>err &&
	test_cmp expect err &&
	test_expect_code 66 tandem status -d alice nope@a.example >out 2>err &&
	echo "tandem status: nope@a.example: no such message sent from this store" >expect &&
	test_cmp expect err && ! test -s out &&
	test_expect_code 66 tandem status -d nowhere 2>err &&
	test_grep "^tandem status: nowhere/store.db: No such file or directory (run \"tandem init\" first)$" err
'

test_expect_success_here 'an smtp-sink and the background stub' '
	smtp_sink_start mta $mta $mport &&
	ag_stub stub $bg $bport ca
'

test_expect_success 'send records each recipient as sent, when it was sent' '
	tandem send -d alice --to bob@a.example --to Carol@a.example \
		--in st1@a.example.eml $net >out &&
	echo st1@a.example >expect && test_cmp expect out &&
	status st1@a.example >out &&
	printf "%s\n" "bob@a.example sent TODAY" "Carol@a.example sent TODAY" >expect &&
	test_cmp expect out
'

test_expect_success 'a send the background refused (17) or the mail server did not take (75) records nothing' '
	echo 403 >stub/status &&
	test_expect_code 17 tandem send -d alice --to bob@a.example \
		--in st2@a.example.eml $net 2>err &&
	test_expect_code 66 tandem status -d alice st2@a.example 2>err &&
	test_grep "st2@a.example: no such message sent from this store" err &&
	smtp_sink_start soft $mta $sport "-r rcpt" &&
	test_expect_code 75 tandem send -d alice --to bob@a.example \
		--in st2@a.example.eml --smtp $mta:$sport \
		--bg https://bg.a.example:$bport \
		--resolve bg.a.example:$bport:$bg --retry-for 0 2>err &&
	smtp_sink_stop soft &&
	test_grep "the ARM is at the background but the mail server did not take the mail" err &&
	test_expect_code 66 tandem status -d alice st2@a.example &&
	test "$(sqlite3 alice/store.db "SELECT count(*) FROM sent")" = 2
'

test_expect_success 'fetch: a revoked receipt is said and recorded, with its Date and Reason' '
	receipt r1 st1@a.example bob@a.example revoked 2020-03-01T10:00:00Z \
		"already fetched by its recipient'"'"'s agent (it may have been opened); its key is destroyed there at its next fetch" &&
	boxed 1 r1 && : >stub/log &&
	tandem fetch -d alice $net >out 2>err &&
	! test -s out &&
	echo "tandem fetch: st1@a.example to bob@a.example: revoked: already fetched by its recipient'"'"'s agent (it may have been opened); its key is destroyed there at its next fetch" >expect &&
	test_cmp expect err &&
	printf "%s\n" "GET /v1/mailbox 200" "GET /v1/mailbox/1 200" \
		"DELETE /v1/mailbox/1 204" >expect && test_cmp expect stub/log &&
	status st1@a.example >out &&
	printf "%s\n" "bob@a.example revoked 2020-03-01T10:00:00Z already fetched by its recipient'"'"'s agent (it may have been opened); its key is destroyed there at its next fetch" \
		"Carol@a.example sent TODAY" >expect &&
	test_cmp expect out
'

test_expect_success 'the same receipt fetched again: acknowledged, not said again, nothing changed' '
	cp status.raw before &&
	boxed 2 r1 && : >stub/log &&
	tandem fetch -d alice $net >out 2>err &&
	! test -s out && ! test -s err &&
	test_grep "DELETE /v1/mailbox/2 204" stub/log &&
	tandem status -d alice st1@a.example >after &&
	test_cmp before after
'

test_expect_success 'an older receipt does not replace a later one' '
	receipt r2 st1@a.example bob@a.example delivered 2020-02-01T10:00:00Z &&
	boxed 3 r2 &&
	tandem fetch -d alice $net >out 2>err &&
	! test -s err &&
	tandem status -d alice st1@a.example >after &&
	test_cmp before after
'

test_expect_success 'fetch: a refused receipt, the recipient named as the receipt has it' '
	receipt r3 st1@a.example carol@a.example refused 2020-03-01T11:00:00Z \
		"550 5.1.1 no such user" &&
	boxed 4 r3 &&
	tandem fetch -d alice $net >out 2>err &&
	echo "tandem fetch: st1@a.example was not delivered to carol@a.example: its courier refused it: 550 5.1.1 no such user" >expect &&
	test_cmp expect err &&
	status st1@a.example >out &&
	printf "%s\n" "bob@a.example revoked 2020-03-01T10:00:00Z already fetched by its recipient'"'"'s agent (it may have been opened); its key is destroyed there at its next fetch" \
		"Carol@a.example refused 2020-03-01T11:00:00Z 550 5.1.1 no such user" >expect &&
	test_cmp expect out
'

test_expect_success 'fetch refuses a receipt for another sender or listed as another message (65), left there' '
	cp status.raw before &&
	receipt r4 st1@a.example bob@a.example opened 2020-03-02T10:00:00Z "" dan@a.example &&
	boxed 5 r4 &&
	test_expect_code 65 tandem fetch -d alice $net 2>err &&
	echo "tandem fetch: a receipt for dan@a.example, who is not alice@a.example" >expect &&
	test_cmp expect err &&
	test -f stub/mailbox/5 && rm stub/mailbox/5 stub/mailbox/5.msgid &&
	receipt r5 st1@a.example bob@a.example opened 2020-03-02T10:00:00Z &&
	boxed 6 r5 st4@a.example &&
	test_expect_code 65 tandem fetch -d alice $net 2>err &&
	echo "tandem fetch: listed as st4@a.example but the receipt is for st1@a.example" >expect &&
	test_cmp expect err &&
	test -f stub/mailbox/6 && rm stub/mailbox/6 stub/mailbox/6.msgid &&
	tandem status -d alice st1@a.example >after &&
	test_cmp before after
'

test_expect_success 'fetch: a receipt for a message this store did not send is said and recorded' '
	receipt r6 yore@a.example frank@a.example revoked 2020-01-05T09:00:00Z \
		"waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" &&
	boxed 7 r6 &&
	tandem fetch -d alice $net 2>err &&
	echo "tandem fetch: yore@a.example to frank@a.example: revoked: waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" >expect &&
	test_cmp expect err &&
	status yore@a.example >out &&
	echo "frank@a.example revoked 2020-01-05T09:00:00Z waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" >expect &&
	test_cmp expect out
'

test_expect_success 'read: an expired receipt mailed by the foreground is recorded and said: never delivered, may be sent again' '
	tandem send -d alice --to dave@a.example --to erin@a.example \
		--in st3@a.example.eml $net >/dev/null &&
	receipt r7 st3@a.example dave@a.example expired 2020-04-01T00:00:00Z &&
	mkdir -p md/new md/cur md/tmp && mailed r7 md/new/1.r7 &&
	tandem read -d alice --maildir md >out 2>err &&
	! test -s out &&
	printf "%s\n" "tandem: receipt from the courier: st3@a.example was never delivered to dave@a.example: held for a recipient who never registered, then dropped; it may be sent again as a new message" \
		"tandem: no new messages" >expect &&
	test_cmp expect err &&
	status st3@a.example >out &&
	printf "%s\n" "dave@a.example expired 2020-04-01T00:00:00Z" \
		"erin@a.example sent TODAY" >expect &&
	test_cmp expect out
'

test_expect_success 'read again: the receipt still in the Maildir is not said again' '
	cp status.raw before &&
	tandem read -d alice --maildir md >out 2>err &&
	echo "tandem: no new messages" >expect && test_cmp expect err &&
	tandem inbox -d alice --maildir md >out &&
	echo "r7@a.example tandem@a.example service" >expect && test_cmp expect out &&
	tandem status -d alice st3@a.example >after &&
	test_cmp before after
'

test_expect_success 'an expired receipt after a revoked one: revoked stays, nothing said' '
	receipt r8 st1@a.example bob@a.example expired 2020-05-01T00:00:00Z &&
	mailed r8 r8.mail &&
	tandem status -d alice st1@a.example >before &&
	tandem read -d alice r8.mail >out 2>err &&
	! test -s out && ! test -s err &&
	tandem status -d alice st1@a.example >after &&
	test_cmp before after
'

test_expect_success 'read refuses a mailed receipt for another sender (65)' '
	receipt r9 st3@a.example erin@a.example expired 2020-04-01T00:00:00Z "" dan@a.example &&
	mailed r9 r9.mail &&
	test_expect_code 65 tandem read -d alice r9.mail 2>err &&
	echo "tandem: r9.mail: a receipt for dan@a.example, who is not alice@a.example" >expect &&
	test_cmp expect err &&
	status st3@a.example >out &&
	printf "%s\n" "dave@a.example expired 2020-04-01T00:00:00Z" \
		"erin@a.example sent TODAY" >expect &&
	test_cmp expect out
'

test_expect_success 'receipts of the same Date: the later state wins, whichever comes first' '
	receipt r10 st3@a.example erin@a.example delivered 2020-06-01T00:00:00Z &&
	receipt r11 st3@a.example erin@a.example opened 2020-06-01T00:00:00Z &&
	receipt r12 st3@a.example erin@a.example delivered 2020-06-01T00:00:00Z \
		"a second copy" &&
	boxed 10 r10 && boxed 11 r11 && boxed 12 r12 &&
	tandem fetch -d alice $net 2>err &&
	printf "%s\n" "tandem fetch: st3@a.example to erin@a.example: delivered" \
		"tandem fetch: st3@a.example to erin@a.example: opened" >expect &&
	test_cmp expect err &&
	status st3@a.example >out &&
	printf "%s\n" "dave@a.example expired 2020-04-01T00:00:00Z" \
		"erin@a.example opened 2020-06-01T00:00:00Z" >expect &&
	test_cmp expect out
'

test_expect_success 'opened is final: a later revoked receipt changes nothing, nothing said' '
	receipt r13 st3@a.example erin@a.example revoked 2020-07-01T00:00:00Z \
		"waiting at the background, not yet fetched by its recipient'"'"'s agent; destroyed" &&
	boxed 13 r13 &&
	tandem fetch -d alice $net >out 2>err &&
	! test -s err &&
	status st3@a.example >out &&
	test_cmp expect out
'

test_expect_success 'status without a message id: a line per message, first sent first' '
	status >out &&
	printf "%s\n" "yore@a.example 2020-01-05T09:00:00Z 1 revoked=1" \
		"st1@a.example TODAY 2 refused=1 revoked=1" \
		"st3@a.example TODAY 2 opened=1 expired=1" >expect &&
	test_cmp expect out
'

test_expect_success 'a store that fails after the mail went: said, the id printed, 0' '
	sqlite3 alice/store.db "CREATE TRIGGER full BEFORE INSERT ON sent BEGIN SELECT RAISE(ABORT, '"'"'disk full'"'"'); END" &&
	tandem send -d alice --to bob@a.example --in st5@a.example.eml $net >out 2>err &&
	sqlite3 alice/store.db "DROP TRIGGER full" &&
	echo st5@a.example >expect && test_cmp expect out &&
	echo "tandem send: st5@a.example was sent but is not recorded for \"tandem status\": store: disk full" >expect &&
	test_cmp expect err &&
	test_expect_code 66 tandem status -d alice st5@a.example
'

test_done
