#!/bin/sh
test_description='tandem read: an invitation a courier could not have sent makes no courier of the agent introduce itself'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-bgfed.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

# The tree of lib-bgfed.sh: a public, b and c private under a (b for
# b.example, c for c.example). dave is registered at b. c, properly
# certified, invites dave@b.example: a private courier invites only
# inside its domains (it defers anything else, routing rule 5), so the
# invitation is hostile, and answering it (figure 9) would make b's
# elements introduce themselves to c and tell c that dave is
# registered at b. The same invitation from a (public) is answered, as
# t/0280 shows in full. An smtp-sink stands for b's foreground.

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

TOKEN=Qm9iJ3MgcmVmZXJyYWwgdG9rZW4x
REGADDR="INSERT INTO config VALUES ('register-address', 'tandem@b.example')"
mta=$(pf_random_addr) mport=$(pf_random_port)

# invite FILE ID SIGNER: an invitation of dave@b.example by SIGNER's FG
# element, naming SIGNER's courier and background, as it comes into
# the Maildir.
invite() {
	_s=$TRASH/pki/$3
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.invitation\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: %s\nDate: 2026-01-31T12:00:00Z\n' "$2"
		printf 'Token: %s\nInviter: eve@%s.example\n' "$TOKEN" "$3"
		printf 'Recipient: dave@b.example\nCourier: %s.example\n' "$3"
		printf 'Register-Address: tandem@%s.example\n' "$3"
		printf 'Background-Url: %s\n' "$(bf_url $3)"
		printf 'Message-Id: m1@%s.example\n' "$3"
		ag_part fg-cert "$_s/elements/fg.crt"
		printf -- '--b1--\n'
	} | crlf >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER \
		-signer "$_s/elements/fg.crt" -inkey "$_s/elements/fg.key" \
		-certfile "$_s/chain.pem" -in "$1.txt" -out "$1.der" &&
	{
		printf 'From: tandem@%s.example\nTo: dave@b.example\n' "$3"
		printf 'Subject: Tandem invitation\n'
		printf 'Date: Sat, 31 Jan 2026 12:00:00 +0000\n'
		printf 'Message-ID: <%s>\nMIME-Version: 1.0\n' "$2"
		printf 'Tandem-Kind: invitation\n'
		printf 'Content-Type: multipart/mixed; boundary="m1"\n\n'
		printf -- '--m1\nContent-Type: text/plain\n\nRun tandem register.\n'
		printf -- '--m1\nContent-Type: application/pkcs7-mime; '
		printf 'smime-type=signed-data; name=invitation.p7m\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$1.der"
		printf -- '--m1--\n'
	} | crlf >"$1"
}

read_dave() {
	tandem read -d b-dave.d --smtp $mta:$mport $(bf_net b) \
		--resolve "bg.a.example:$BF_PORT_a:$BF_ADDR_a" \
		--resolve "bg.c.example:$BF_PORT_c:$BF_ADDR_c" "$@"
}

b_outbox() { bf_psql b "SELECT count(*) FROM bg_outbox"; }
b_seen() {
	bf_psql b "SELECT count(*) FROM seen_messages WHERE kind = \$\$invitation-reject\$\$"
}

test_expect_success_here 'dave is registered at b; a, b and c run' '
	bf_setup >setup.log 2>&1 &&
	( cd "$TRASH/pki" &&
	  tandem-ca element -d a --fg tandem@a.example &&
	  tandem-ca element -d b --fg tandem@b.example &&
	  tandem-ca element -d c --fg tandem@c.example ) >>setup.log 2>&1 &&
	bf_agent b dave &&
	sqlite3 b-dave.d/store.db "$REGADDR" &&
	bf_start a && bf_start b && bf_start c &&
	bf_wait b "SELECT count(*) FROM accounts WHERE status = \$\$active\$\$" 1 &&
	smtp_sink_start fg $mta $mport
'

test_expect_success 'c, private for c.example, invites dave@b.example: refused (18), nothing sent' '
	invite inv-c inv-c@c.example c &&
	test_expect_code 18 read_dave inv-c 2>err &&
	test_grep "private courier c.example cannot invite dave@b.example, outside its domains; no reject sent" err
'

test_expect_success 'b learned nothing to tell c: no reject reached b, b queued no introduction' '
	sleep 1 &&
	test "$(smtp_sink_files fg | wc -l)" = 0 &&
	test "$(b_seen)" = 0 &&
	test "$(b_outbox)" = 0 &&
	test "$(bf_psql c "SELECT count(*) FROM introductions")" = 0 &&
	test_grep_not "invitation-reject" b.log
'

test_expect_success 'the same invitation from a (public) is answered: the reject reaches both elements' '
	invite inv-a inv-a@a.example a &&
	read_dave inv-a 2>err &&
	test_grep "invitation from a.example refused: dave@b.example is registered at b.example" err &&
	test "$(smtp_sink_files fg | wc -l)" = 1 &&
	test "$(b_seen)" = 1 &&
	test_grep "invitation-reject client=dave@b.example inviting=a.example" b.log
'

test_expect_success 'SIGTERM stops the backgrounds' '
	bf_stop a && bf_stop b && bf_stop c
'

test_done
