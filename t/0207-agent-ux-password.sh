#!/bin/sh
test_description='the agent password as a user types it: on the terminal, twice for a new store, from a descriptor; --help and --version'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog python3 || test_skip_all 'python3 drives the terminal'
unset TANDEM_PASSWORD
pty() { timeout 60 python3 "$TANDEM_SRC/t/pty-run.py" "$@"; }

msg() {
	printf 'From: %s\r\nTo: bob@a.example\r\nMessage-ID: <%s>\r\n\r\nhi\r\n' "$1" "$2"
}

test_expect_success 'init on a terminal: a weak password, then two that differ, then one that holds' '
	cat >init.script <<-\EOF &&
	expect New password
	send tiny1
	expect too weak: shorter than 12 characters
	expect New password
	send aaaaaaaaaaaa
	expect too weak: only one kind of character
	expect New password
	send correct horse 7
	expect The same again:
	send correct horse 7
	EOF
	pty init.script -- tandem init -d alice --address alice@a.example \
		--csr alice.csr >screen &&
	test_grep_not "tiny1\|aaaaaaaaaaaa\|correct horse" screen &&
	test -s alice.csr &&
	sqlite3 alice/store.db "SELECT value FROM config WHERE name = '\''key'\''" >key.pem &&
	openssl pkey -in key.pem -passin "pass:correct horse 7" -noout
'

test_expect_success 'two that differ three times: nothing is made (64)' '
	cat >differ.script <<-\EOF &&
	expect New password
	send correct horse 7
	expect The same again:
	send correct horse 8
	expect the two differ
	expect New password
	send correct horse 7
	expect The same again:
	send other thing 9
	expect New password
	send correct horse 7
	expect The same again:
	send
	EOF
	test_expect_code 64 pty differ.script -- tandem init -d carol \
		--address carol@a.example --csr carol.csr >screen &&
	! test -e carol/store.db && ! test -e carol.csr
'

test_expect_success 'a command on a store asks once, on the terminal' '
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d ca --name a.example --role public --superior root >/dev/null &&
	tandem-ca account -d ca --address alice@a.example --csr alice.csr >/dev/null &&
	echo "correct horse 7" >pw &&
	tandem import -d alice --password-file pw \
		--cert ca/accounts/alice@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem &&
	msg alice@a.example m1@a.example >m1.eml &&
	printf "%s\n" "expect Password:" "send correct horse 7" >seal.script &&
	pty seal.script -- tandem seal -d alice --to bob@a.example --in m1.eml \
		--sealed m1.der --arm m1.arm >screen &&
	test_grep "m1@a.example" screen &&
	test -s m1.der
'

test_expect_success '--password-fd N reads the password from that descriptor' '
	msg alice@a.example m2@a.example >m2.eml &&
	tandem seal -d alice --password-fd 3 --to bob@a.example --in m2.eml \
		--sealed m2.der --arm m2.arm 3<pw >id &&
	echo m2@a.example >id.want && test_cmp id.want id &&
	echo "wrong horse 7" >bad &&
	test_must_fail tandem seal -d alice --password-fd 3 --to bob@a.example \
		--in m2.eml --sealed m3.der --arm m3.arm 3<bad 2>err &&
	! test -e m3.der &&
	test_expect_code 64 tandem seal -d alice --password-fd x --to bob@a.example \
		--in m2.eml --sealed m3.der --arm m3.arm 2>err &&
	test_grep "password-fd: not a file descriptor: x" err
'

test_expect_success 'no terminal and no password: the error says what to use' '
	test_expect_code 64 setsid tandem seal -d alice --to bob@a.example \
		--in m2.eml --sealed m3.der --arm m3.arm </dev/null 2>err &&
	test_grep "no password: use --password-fd, --password-file or TANDEM_PASSWORD (no terminal to ask on)" err
'

test_expect_success '--help on standard output, exit 0, for every command; --version' '
	for c in "" init import seal open register send fetch read inbox; do
		tandem $c --help >out 2>err &&
		test_grep "^usage: tandem init" out &&
		test_grep "else asked on the terminal; import and open need none" out &&
		! test -s err || return 1
	done &&
	tandem --version >out &&
	grep -x "tandem [0-9][0-9.]*" out &&
	test_expect_code 64 tandem nosuch 2>err &&
	test_grep "^usage:" err
'

test_done
