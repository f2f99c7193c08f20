#!/bin/sh
test_description='tandem read as a user runs it: new messages only, one mbox, no open of a restricted message spent unasked'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

# mbox ID...: what read writes for these messages of alice, in order
mbox() {
	for _id in "$@"; do
		_when=$(ag_field Issued $_id.arm) &&
		printf "From alice@a.example %s\n" \
			"$(date -u -d "$_when" "+%a %b %e %H:%M:%S %Y")" &&
		tr -d "\r" <$_id.eml && echo || return 1
	done
}

test_expect_success 'a courier, alice and bob registered, two messages in the Maildir' '
	ag_courier &&
	ag_users alice bob &&
	mkdir -p home/Maildir/new home/Maildir/cur home/Maildir/tmp &&
	for id in m1@a.example m2@a.example; do
		ag_content $id && ag_fetched $id &&
		cp $id.mail home/Maildir/new/$id || return 1
	done
'

test_expect_success 'read without names: each message once, as an mbox, from ~/Maildir' '
	HOME=$TRASH/home tandem read -d bob >out 2>err &&
	mbox m1@a.example m2@a.example >want &&
	test_cmp want out &&
	! test -s err
'

test_expect_success 'a line beginning "From " is quoted in the mbox, not in a single read' '
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nMessage-ID: <m3@a.example>\r\n\r\nFrom here on\r\n>From there\r\n" >m3.eml &&
	tandem seal -d alice --to bob@a.example --in m3.eml --sealed m3.der \
		--arm m3@a.example.arm >/dev/null &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key \
		ca/accounts/bob@a.example/agent.crt m3.der m3.wrap &&
	ag_mail content alice@a.example bob@a.example m3@a.example m3.wrap \
		>home/Maildir/new/m3@a.example && ag_fetched m3@a.example &&
	HOME=$TRASH/home tandem read -d bob >out 2>err &&
	grep -x ">From here on" out && grep -x ">>From there" out &&
	test $(grep -c "^From " out) = 1 &&
	HOME=$TRASH/home tandem read -d bob --id m3@a.example >one &&
	test_cmp m3.eml one
'

test_expect_success 'read again: nothing new, said on standard error' '
	HOME=$TRASH/home tandem read -d bob >out 2>err &&
	! test -s out &&
	printf "%s\n" "tandem: 3 messages read before, not shown (--all shows them)" \
		"tandem: no new messages" >want &&
	test_cmp want err &&
	HOME=$TRASH/home tandem read -d bob --all >out &&
	test $(grep -c "^From alice@a.example " out) = 3
'

test_expect_success 'a restricted message is named, not opened: its only open is kept' '
	ag_content m4@a.example --max-opens 1 && ag_fetched m4@a.example &&
	cp m4@a.example.mail home/Maildir/new/ &&
	HOME=$TRASH/home tandem read -d bob --all >out 2>err &&
	test_grep "tandem: m4@a.example from alice@a.example is restricted; not opened: tandem read --id m4@a.example" err &&
	test_grep_not "subject of m4" out &&
	test -z "$(sqlite3 bob/store.db "SELECT count FROM opens WHERE msgid = '\''m4@a.example'\''")" &&
	HOME=$TRASH/home tandem read -d bob --id m4@a.example >one &&
	test_cmp m4@a.example.eml one &&
	test_expect_code 15 tandem read -d bob --maildir home/Maildir \
		--id m4@a.example 2>err
'

test_expect_success 'no Maildir: read and inbox say why, never silently' '
	test_expect_code 66 env HOME=$TRASH/nohome tandem read -d bob 2>err &&
	test_grep "nohome/Maildir: not a Maildir (no new/; --maildir names another)" err &&
	test_expect_code 66 env HOME=$TRASH/nohome tandem inbox -d bob 2>err &&
	test_grep "not a Maildir" err &&
	test_expect_code 64 env -u HOME tandem inbox -d bob 2>err &&
	test_grep "no Maildir: use --maildir" err
'

test_done
