#!/bin/sh
test_description='tandem read and inbox: content mail matched with its ARM in the store'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
bob=ca/accounts/bob@a.example

test_expect_success 'a courier, alice and bob registered, a Maildir' '
	ag_courier &&
	ag_users alice bob &&
	mkdir -p md/new md/cur md/tmp out
'

test_expect_success 'read: the content mail and its ARM give the message' '
	ag_content m1@a.example && ag_fetched m1@a.example &&
	cp m1@a.example.mail md/new/1 &&
	tandem read -d bob --maildir md --out-dir out >paths &&
	echo out/m1@a.example.eml >paths.want && test_cmp paths.want paths &&
	test_cmp m1@a.example.eml out/m1@a.example.eml &&
	tandem read -d bob m1@a.example.mail >m1.out &&
	test_cmp m1@a.example.eml m1.out
'

test_expect_success 'other mail in the Maildir is skipped; named, it is refused' '
	printf "From: x@a.example\r\nSubject: hello\r\n\r\nplain\r\n" >md/cur/0plain &&
	tandem read -d bob --maildir md --out-dir out &&
	test_expect_code 65 tandem read -d bob md/cur/0plain 2>err &&
	test_grep "not a Tandem mail" err
'

test_expect_success 'no ARM yet: 16, and inbox says so' '
	ag_content m2@a.example &&
	cp m2@a.example.mail md/new/2 &&
	test_expect_code 16 tandem read -d bob m2@a.example.mail 2>err &&
	test_grep "no ARM yet for m2@a.example (run \"tandem fetch\")" err &&
	tandem inbox -d bob --maildir md >inbox &&
	printf "%s\n" "m1@a.example alice@a.example readable" \
		"m2@a.example alice@a.example no-arm" >inbox.want &&
	test_cmp inbox.want inbox
'

test_expect_success 'the Maildir with one unreadable: the others still come, status 16' '
	rm -f out/* &&
	test_expect_code 16 tandem read -d bob --maildir md --out-dir out --all >paths &&
	test_cmp paths.want paths &&
	tandem read -d bob --maildir md --id m1@a.example --out-dir out
'

test_expect_success 'maximum opens: the second read is refused (15)' '
	ag_content m3@a.example --max-opens 1 && ag_fetched m3@a.example &&
	tandem read -d bob m3@a.example.mail >m3.out &&
	test_cmp m3@a.example.eml m3.out &&
	test_expect_code 15 tandem read -d bob m3@a.example.mail 2>err &&
	test_grep "already opened 1 times" err &&
	tandem inbox -d bob m3@a.example.mail >inbox &&
	echo "m3@a.example alice@a.example opens-used" >inbox.want &&
	test_cmp inbox.want inbox
'

test_expect_success 'expired: refused (14), the key deleted from the store and its bytes from the file' '
	ag_content m4@a.example --expires 1 && ag_fetched m4@a.example &&
	key=$(ag_field Content-Key m4@a.example.arm) &&
	test -n "$key" &&
	grep -a -q -F "$key" bob/store.db &&
	sleep 2 &&
	tandem inbox -d bob m4@a.example.mail >inbox &&
	echo "m4@a.example alice@a.example expired" >inbox.want &&
	test_cmp inbox.want inbox &&
	test_expect_code 14 tandem read -d bob m4@a.example.mail 2>err &&
	test_grep "message m4@a.example expired" err &&
	test -z "$(sqlite3 bob/store.db "SELECT arm FROM arms WHERE msgid = '\''m4@a.example'\''")" &&
	! grep -a -q -F "$key" bob/store.db &&
	test_expect_code 14 tandem read -d bob m4@a.example.mail 2>err &&
	test_grep "its key is deleted" err
'

test_expect_success 'the mail is from someone else than the ARM sender (13)' '
	ag_content m5@a.example && ag_fetched m5@a.example &&
	ag_mail content mallory@a.example bob@a.example m5@a.example \
		m5@a.example.wrap >m5.mail &&
	test_expect_code 13 tandem read -d bob m5.mail 2>err &&
	test_grep "mail from mallory@a.example, but the ARM.s sender is alice@a.example" err
'

test_expect_success 'another content under the ARM of a message: digest (11)' '
	ag_content m6@a.example && ag_fetched m6@a.example &&
	ag_mail content alice@a.example bob@a.example m6@a.example \
		m1@a.example.wrap >m6.mail &&
	test_expect_code 11 tandem read -d bob m6.mail
'

test_expect_success 'wrapped by the BG element instead of the FG: 18' '
	ag_wrap ca/elements/bg.crt ca/elements/bg.key $bob/agent.crt \
		m1@a.example.der m1.bgwrap &&
	ag_mail content alice@a.example bob@a.example m1@a.example m1.bgwrap >m1.bg &&
	test_expect_code 18 tandem read -d bob m1.bg 2>err &&
	test_grep "not the courier.s foreground element" err
'

test_expect_success 'wrapped by the FG of another courier: 18' '
	tandem-ca courier -d cb --name b.example --role public --superior root >/dev/null &&
	tandem-ca element -d cb --fg tandem@b.example >/dev/null &&
	openssl cms -sign -binary -nodetach -outform DER -signer cb/elements/fg.crt \
		-inkey cb/elements/fg.key -certfile cb/chain.pem \
		-in m1@a.example.der -out m1.b.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in m1.b.signed \
		-out m1.bwrap $bob/agent.crt &&
	ag_mail content alice@a.example bob@a.example m1@a.example m1.bwrap >m1.b &&
	test_expect_code 18 tandem read -d bob m1.b 2>err &&
	test_grep "an element of another courier" err
'

test_expect_success 'not for this agent, or garbage: refused cleanly' '
	ag_wrap ca/elements/fg.crt ca/elements/fg.key ca/accounts/alice@a.example/agent.crt \
		m1@a.example.der m1.alice &&
	ag_mail content alice@a.example bob@a.example m1@a.example m1.alice >m1.a &&
	test_expect_code 10 tandem read -d bob m1.a 2>err &&
	test_grep "cannot decrypt" err &&
	head -c 300 m1@a.example.mail >trunc.mail &&
	test_expect_code 65 tandem read -d bob trunc.mail &&
	test_expect_code 66 tandem read -d bob no-such-file
'

test_done
