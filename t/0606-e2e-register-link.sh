#!/bin/sh
test_description='end to end: tandem register from the registration link, from the Maildir with no argument, the password asked twice on a terminal; weak, differing and missing passwords, another root, a link whose mail is not there'
. "$TANDEM_SRC/t/test-lib.sh"

# As a user does it (doc/flows.md 3): no tandem.conf, no -d, the
# Maildir at ~/Maildir, the root certificate saved as root.crt.

test_have_prog python3 || test_skip_all 'python3 drives the terminal'
unset TANDEM_PASSWORD
pty() { timeout 120 python3 "$TANDEM_SRC/t/pty-run.py" "$@"; }

# user_home USER: a HOME whose Maildir is the one Postfix delivers to
user_home() {
	mkdir -p "home-$1" "$TRASH/mail/$1/new" "$TRASH/mail/$1/cur" \
	    "$TRASH/mail/$1/tmp" &&
	ln -sfn "$TRASH/mail/$1" "home-$1/Maildir" &&
	cp "$CR_ANCHOR" "home-$1/root.crt"
}

# in_home USER CMD...: CMD with HOME=home-USER, in it
in_home() {
	_h=$PWD/home-$1
	shift
	(cd "$_h" && HOME=$_h && export HOME && "$@")
}

# active USER: the account is active on both elements
active() {
	_q="SELECT status FROM accounts WHERE address = '$1@a.example'"
	pg_wait_for fg fg "$_q" active 30 &&
	pg_wait_for bg bg "$_q" active 30
}

# no_account USER: nothing registered, the invitation still pending
no_account() {
	test "$(courier_fg_sql "SELECT count(*) FROM accounts WHERE address = '$1@a.example'")" = 0 &&
	test "$(courier_fg_sql "SELECT status FROM invitations WHERE address = '$1@a.example'")" = pending
}

test_expect_success_here 'a courier with both elements; alice, bob, carol and dave are invited' '
	courier_pki a.example &&
	courier_fg_start &&
	courier_bg_start &&
	for u in alice bob carol dave; do
		courier_invite $u@a.example >invite-$u.out || return 1
	done &&
	inv=$(maildir_wait alice "^Tandem-Kind: invitation" 30) &&
	binv=$(maildir_wait bob "^Tandem-Kind: invitation" 30) &&
	cinv=$(maildir_wait carol "^Tandem-Kind: invitation" 30) &&
	dinv=$(maildir_wait dave "^Tandem-Kind: invitation" 30) &&
	for u in alice bob carol dave frank; do user_home $u || return 1; done
'

test_expect_success_here 'the invitation gives a registration link: its Id, the submission server, the root; no token' '
	tr -d "\r" <"$inv" >inv.txt &&
	link=$(sed -n "s/^ *tandem register --anchor root.crt \(tandem:register,[^ ]*\)$/\1/p" inv.txt) &&
	test -n "$link" && echo "$link" >link &&
	test "$(wc -l <link)" = 1 &&
	id=$(sed -n "s/^Message-ID: <\(.*\)>$/\1/p" inv.txt) &&
	fp=$(openssl x509 -in "$CR_ANCHOR" -noout -fingerprint -sha256 |
		sed "s/^.*=//; s/://g") &&
	echo "tandem:register,id=$id,smtp=$CR_FG_ADDR:$CR_SMTP_PORT,root=$fp" >expect &&
	test_cmp expect link &&
	sed -n "/smime-type=signed-data/,/^--/p" inv.txt | sed "1,/^\$/d" |
	    grep -v "^--" | base64 -d >inv.der &&
	openssl cms -verify -noverify -inform DER -in inv.der -out signed.txt 2>/dev/null &&
	token=$(sed -n "s/^Token: //p" signed.txt | tr -d "\r") &&
	test -n "$token" &&
	test_grep_not "$token" link &&
	test_grep "^     tandem register --invitation invitation.eml --anchor root.crt --smtp $CR_FG_ADDR:$CR_SMTP_PORT\$" inv.txt
'

test_expect_success 'no terminal and no password: refused (64) after the invitation is found, nothing sent' '
	test_expect_code 64 in_home alice setsid tandem register \
		--anchor root.crt "$link" </dev/null 2>err &&
	test_grep "the invitation $id for alice@a.example" err &&
	test_grep "no password: use --password-fd, --password-file or TANDEM_PASSWORD (no terminal to ask on)" err &&
	test_grep "no new password for the store of alice@a.example: nothing was sent" err &&
	! test -e home-alice/.tandem/store.db &&
	no_account alice
'

test_expect_success 'on a terminal: the address, a short one, then two that differ: refused (64), nothing sent' '
	cat >refuse.script <<-\EOF &&
	expect New password for the agent
	send alice@a.example
	expect too weak: it is your address
	expect New password for the agent
	send short words
	expect too weak: shorter than 12 characters
	expect New password for the agent
	send correct horse battery
	expect The same again:
	send correct horse battery staple
	expect the two differ
	EOF
	test_expect_code 64 in_home alice pty "$PWD/refuse.script" -- \
		tandem register --anchor root.crt "$link" >screen &&
	test_grep "no new password for the store of alice@a.example: nothing was sent" screen &&
	test_grep_not "short words\|correct horse" screen &&
	! test -e home-alice/.tandem/store.db &&
	no_account alice
'

test_expect_success 'a link whose mail is not in the Maildir: said, 66, nothing sent' '
	test_expect_code 66 in_home frank env TANDEM_PASSWORD=$CR_PASSWORD \
		tandem register --anchor root.crt "$link" 2>err &&
	test_grep "no invitation $id in .*/Maildir; give the invitation as a file (--invitation) if it is elsewhere" err &&
	! test -e home-frank/.tandem/store.db &&
	no_account alice
'

test_expect_success 'a link and another root certificate: refused (12) before the Maildir is read' '
	(cd "$CR_PKI" && tandem-ca root -d otherroot --name other.example) >other.log 2>&1 &&
	cp "$CR_PKI/otherroot/root.crt" home-alice/other.crt &&
	test_expect_code 12 in_home alice env TANDEM_PASSWORD=$CR_PASSWORD \
		tandem register --anchor other.crt "$link" 2>err &&
	test_grep "other.crt is not the root certificate the link names (SHA-256 $fp)" err &&
	test_grep_not "the invitation $id" err &&
	no_account alice
'

test_expect_success 'a link without id=, or with a value repeated: 64' '
	test_expect_code 64 in_home alice env TANDEM_PASSWORD=$CR_PASSWORD \
		tandem register --anchor root.crt "tandem:register,smtp=$CR_FG_ADDR:$CR_SMTP_PORT" 2>err &&
	test_grep "not a registration link: no id=" err &&
	test_expect_code 64 in_home alice env TANDEM_PASSWORD=$CR_PASSWORD \
		tandem register --anchor root.crt "$link,id=$id" 2>err &&
	test_grep "not a registration link: a bad or repeated value" err &&
	no_account alice
'

test_expect_success 'alice registers from the link alone; the password asked twice on the terminal' '
	cat >good.script <<-\EOF &&
	expect New password for the agent
	send correct horse battery staple
	expect The same again:
	send correct horse battery staple
	expect registration for alice@a.example sent to tandem@a.example
	EOF
	in_home alice pty "$PWD/good.script" -- tandem register \
		--anchor root.crt --timeout 60 "$link" >screen &&
	test_grep "the invitation $id for alice@a.example" screen &&
	test_grep_not "correct horse" screen &&
	active alice &&
	f=$(maildir_wait alice "^Tandem-Kind: service" 10) &&
	test_grep "^From: tandem@a.example" $f &&
	test_grep "submission = \"$CR_FG_ADDR:$CR_SMTP_PORT\"" home-alice/.tandem/tandem.conf &&
	sqlite3 home-alice/.tandem/store.db "SELECT value FROM config WHERE name = '\''cert'\''" >alice.pem &&
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = '\''alice@a.example'\''" >fg-alice.pem &&
	openssl x509 -in alice.pem -noout -fingerprint -sha256 >fp.agent &&
	openssl x509 -in fg-alice.pem -noout -fingerprint -sha256 >fp.fg &&
	test_cmp fp.fg fp.agent &&
	sqlite3 home-alice/.tandem/store.db "SELECT value FROM config WHERE name = '\''key'\''" >key.pem &&
	openssl pkey -in key.pem -passin "pass:correct horse battery staple" -noout
'

test_expect_success 'bob registers with no argument: the newest invitation of his Maildir, named' '
	bid=$(tr -d "\r" <"$binv" | sed -n "s/^Message-ID: <\(.*\)>$/\1/p") &&
	in_home bob env TANDEM_PASSWORD=$CR_PASSWORD tandem register \
		--anchor root.crt --smtp $CR_FG_ADDR:$CR_SMTP_PORT --timeout 60 2>err &&
	test_grep "the invitation $bid for bob@a.example, of .*: .*$(basename "$binv")" err &&
	test_grep "generation 1 installed for bob@a.example" err &&
	active bob
'

test_expect_success 'carol'"'"'s Maildir holds an altered copy and dave'"'"'s invitation: the copy is named, not used; two addresses: 64 and which' '
	python3 - "$cinv" "$TRASH/mail/carol/new/1.altered" <<-\PY &&
	import base64, sys
	m = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
	head, sep, rest = m.partition(b"smime-type=signed-data")
	hdrs, blank, tail = rest.partition(b"\n\n")
	b64, bound, end = tail.partition(b"\n--")
	der = base64.b64decode(b64.replace(b"\n", b""))
	bad = der.replace(b"Recipient: carol@", b"Recipient: malle@")
	assert bad != der
	enc = base64.encodebytes(bad).rstrip(b"\n")
	open(sys.argv[2], "wb").write(head + sep + hdrs + blank + enc + bound + end)
	PY
	cp "$dinv" "$TRASH/mail/carol/new/2.dave" &&
	test_expect_code 64 in_home carol env TANDEM_PASSWORD=$CR_PASSWORD \
		tandem register --anchor root.crt --smtp $CR_FG_ADDR:$CR_SMTP_PORT 2>err &&
	test_grep "1.altered: not used:" err &&
	test_grep "2.dave: an invitation for dave@a.example" err &&
	test_grep "$(basename "$cinv"): an invitation for carol@a.example" err &&
	test_grep "invitations for several addresses: choose one with --address, or give the file" err &&
	! test -e home-carol/.tandem/store.db &&
	no_account carol && no_account dave
'

test_expect_success 'with --address carol@a.example it takes hers and registers' '
	cid=$(tr -d "\r" <"$cinv" | sed -n "s/^Message-ID: <\(.*\)>$/\1/p") &&
	in_home carol env TANDEM_PASSWORD=$CR_PASSWORD tandem register \
		--anchor root.crt --smtp $CR_FG_ADDR:$CR_SMTP_PORT \
		--address carol@a.example --timeout 60 2>err &&
	test_grep "the invitation $cid for carol@a.example" err &&
	test_grep "generation 1 installed for carol@a.example" err &&
	active carol &&
	no_account dave
'

test_expect_success 'the daemons are still alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "ERROR: AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
