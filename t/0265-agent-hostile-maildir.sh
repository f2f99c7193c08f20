#!/bin/sh
test_description='tandem read and inbox: what else is planted in the Maildir (a FIFO, a link) is skipped, never waited on'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
bob=ca/accounts/bob@a.example

# A hang is a failure: every read runs under this many seconds.
limit=30

test_expect_success 'a courier, alice and bob registered, one message in the Maildir' '
	ag_courier &&
	ag_users alice bob &&
	mkdir -p md/new md/cur md/tmp out &&
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: s\r\nMessage-ID: <m1@a.example>\r\n\r\nnoon\r\n" >m1.eml &&
	tandem seal -d alice --to bob@a.example --in m1.eml --sealed m1.der \
		--arm m1.arm >/dev/null &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key $bob/agent.crt \
		m1.der m1.wrap &&
	ag_mail content alice@a.example bob@a.example m1@a.example m1.wrap \
		>md/new/2mail &&
	sqlite3 bob/store.db "INSERT INTO arms (msgid, arm, fetched) VALUES ('\''m1@a.example'\'', readfile('\''m1.arm'\''), 0)"
'

test_expect_success 'a FIFO in new/ and in cur/: skipped with a message, the mail still read' '
	mkfifo md/new/1fifo md/cur/1fifo &&
	timeout $limit tandem read -d bob --maildir md --out-dir out \
		>paths 2>err &&
	echo out/m1@a.example.eml >paths.want && test_cmp paths.want paths &&
	test_cmp m1.eml out/m1@a.example.eml &&
	test_grep "md/new/1fifo: not a regular file (a FIFO): skipped" err &&
	test_grep "md/cur/1fifo: not a regular file (a FIFO): skipped" err
'

test_expect_success 'inbox: the FIFO skipped too' '
	timeout $limit tandem inbox -d bob --maildir md >inbox 2>err &&
	echo "m1@a.example alice@a.example readable" >inbox.want &&
	test_cmp inbox.want inbox &&
	test_grep "md/new/1fifo: not a regular file (a FIFO): skipped" err
'

test_expect_success 'a FIFO named on the command line: refused (66), not waited on' '
	test_expect_code 66 timeout $limit tandem read -d bob md/new/1fifo \
		2>err &&
	test_grep "md/new/1fifo: not a regular file (a FIFO)$" err
'

test_expect_success 'a symbolic link in the Maildir is not followed' '
	rm md/new/1fifo md/cur/1fifo &&
	mkfifo elsewhere && ln -s ../../elsewhere md/new/0link &&
	ln -s ../../m1.eml md/cur/0link &&
	rm -f out/* &&
	timeout $limit tandem read -d bob --maildir md --out-dir out --all \
		>paths 2>err &&
	test_cmp paths.want paths &&
	test_grep "md/new/0link: a symbolic link: skipped" err &&
	test_grep "md/cur/0link: a symbolic link: skipped" err
'

test_done
