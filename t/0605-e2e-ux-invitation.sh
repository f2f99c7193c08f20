#!/bin/sh
test_description='end to end: the invitation mail gives a command that works as written; an operator'"'"'s says "invited", a held message'"'"'s says it waits'
. "$TANDEM_SRC/t/test-lib.sh"

# A first run as a user would do it: no tandem.conf, no -d, the
# Maildir at ~/Maildir; the root certificate got where the mail says
# (here copied: nothing serves the test's anchor_url).

TANDEM_PASSWORD=$CR_PASSWORD
export TANDEM_PASSWORD

# user_home USER: a HOME whose Maildir is the one Postfix delivers to
user_home() {
	mkdir -p "home-$1" && ln -sfn "$TRASH/mail/$1" "home-$1/Maildir"
}

test_expect_success_here 'a courier with both elements; the operator invites alice' '
	courier_pki a.example &&
	courier_fg_start &&
	courier_bg_start &&
	courier_invite alice@a.example >invite.out &&
	inv=$(maildir_wait alice "^Tandem-Kind: invitation" 30) &&
	test -n "$inv"
'

test_expect_success 'the operator'"'"'s invitation says "invited", not that a message waits' '
	test_grep "^Subject: You are invited to Tandem private mail" "$inv" &&
	test_grep "^You are invited to receive private mail as alice@a.example" "$inv" &&
	test_grep "through the Tandem courier a.example" "$inv" &&
	test_grep_not "waits for you" "$inv" &&
	test_grep_not "held" "$inv" &&
	test_grep_not "sent you a private message" "$inv"
'

test_expect_success 'it says where the root certificate is, and its SHA-256 fingerprint' '
	test_grep "from https://a.example/tandem/root.crt" "$inv" &&
	fp=$(openssl x509 -in "$CR_ANCHOR" -noout -fingerprint -sha256 |
		sed "s/^.*=//") &&
	test -n "$fp" &&
	tr -d "\r" <"$inv" >inv.txt &&
	test_grep "^     $fp\$" inv.txt
'

test_expect_success_here 'the command it gives, as written, registers alice' '
	cmd=$(tr -d "\r" <"$inv" | sed -n "s/^ *\(tandem register --invitation .*\)$/\1/p") &&
	echo "$cmd" >cmd &&
	test "$(wc -l <cmd)" = 1 &&
	test_grep "--smtp $CR_FG_ADDR:$CR_SMTP_PORT" cmd &&
	test_grep "--invitation invitation.eml --anchor root.crt" cmd &&
	user_home alice &&
	cp "$inv" home-alice/invitation.eml &&
	cp "$CR_ANCHOR" home-alice/root.crt &&
	(cd home-alice && HOME=$PWD && export HOME && eval "$cmd") 2>reg.err &&
	test_grep "settings saved in" reg.err &&
	test_grep "generation 1 installed for alice@a.example" reg.err &&
	_q="SELECT status FROM accounts WHERE address = '\''alice@a.example'\''" &&
	pg_wait_for fg fg "$_q" active 30 &&
	pg_wait_for bg bg "$_q" active 30
'

test_expect_success 'after it, read needs no option' '
	(HOME=$PWD/home-alice tandem read) 2>err &&
	test_grep "no new messages" err
'

test_expect_success 'alice sends to dave with the saved settings; dave is held and invited' '
	printf "From: alice@a.example\r\nTo: dave@a.example\r\nSubject: s\r\nMessage-ID: <ux1@a.example>\r\n\r\nhello\r\n" |
	HOME=$PWD/home-alice tandem send --to dave@a.example --in - \
		--resolve "$CR_BG_HOST:$CR_BG_PORT:$CR_BG_ADDR" >id &&
	echo ux1@a.example >expect && test_cmp expect id &&
	dinv=$(maildir_wait dave "^Tandem-Kind: invitation" 30) &&
	test_grep "^Subject: alice@a.example sent you a private message" "$dinv" &&
	test_grep "^alice@a.example sent you a private message through the Tandem courier a.example" "$dinv" &&
	test_grep "It waits for you, held by the courier, until" "$dinv" &&
	test_grep_not "You are invited" "$dinv" &&
	test_grep "tandem register --invitation invitation.eml --anchor root.crt --smtp $CR_FG_ADDR:$CR_SMTP_PORT" "$dinv"
'

test_done
