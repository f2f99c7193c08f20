#!/bin/sh
test_description='tandem read and inbox: the content must be signed by the sender'"'"'s agent, certified by the courier that serves the sender'"'"'s domain'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

# doc/security.md, section 4: who wrote a private message is the
# content's signer. A courier (its foreground element, a courier-end
# key it holds) or another user can make sealed content and an ARM
# that name alice as the sender; bob's agent must refuse it: the
# signer must hold an agent certificate for the ARM's sender, the
# message inside must be From that sender, and a user of a private
# courier's domain must be certified by that courier.

# forged ID CERT KEY CA FROM SENDER RCPT AGENT FG: content signed by
# CERT/KEY (chain CA/chain.pem), the message inside From: FROM, sealed
# under a fresh content key; its ARM (sender SENDER) in AGENT's store
# as "tandem fetch" would have put it; the mail from SENDER wrapped by
# the foreground FG (a CA folder) to AGENT's certificate: ID.mail
forged() {
	printf "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nPay the bearer.\r\n" \
		"$5" "$7" "$1" "$1" >$1.eml &&
	openssl cms -sign -binary -nodetach -outform DER -signer "$2" \
		-inkey "$3" -certfile "$4/chain.pem" -in $1.eml -out $1.signed &&
	key=$(openssl rand -hex 32) &&
	kid=$(printf %s "$1" | od -An -tx1 | tr -d " \n") &&
	openssl cms -encrypt -binary -aes-256-gcm -secretkey $key \
		-secretkeyid $kid -inform DER -in $1.signed -outform DER \
		-out $1.der &&
	{
		printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.arm\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Message-Id: %s\r\nContent-Key: %s\r\n" "$1" "$key"
		printf "Content-Digest: %s\r\n" "$(openssl dgst -sha256 -r $1.der | cut -d" " -f1)"
		printf "Sender: %s\r\nRecipient: %s\r\n" "$6" "$7"
		printf "Issued: %s\r\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >$1.arm &&
	fetched $8 $1 &&
	openssl cms -sign -binary -nodetach -outform DER \
		-signer $9/elements/fg.crt -inkey $9/elements/fg.key \
		-certfile $9/chain.pem -in $1.der -out $1.wrap.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
		-in $1.wrap.signed -out $1.wrap $9/accounts/$7/agent.crt &&
	ag_mail content "$6" "$7" $1 $1.wrap >$1.mail
}

# fetched AGENT ID: ID.arm in AGENT's store, as "tandem fetch" puts it
fetched() {
	sqlite3 $1/store.db "INSERT INTO arms (msgid, arm, fetched) VALUES ('$2', readfile('$2.arm'), 0)"
}

# refused ID TEXT [AGENT]: read exits 13 saying TEXT; inbox calls it refused
refused() {
	test_expect_code 13 tandem read -d ${3:-bob} $1.mail 2>err &&
	test_grep "$2" err &&
	tandem inbox -d ${3:-bob} $1.mail >inbox &&
	test_grep "^$1 [^ ]* refused: .*$2" inbox &&
	test_grep_not "readable" inbox
}

# user CA ADDRESS DIR: an agent DIR registered at CA as ADDRESS
user() {
	tandem init -d $3 --address $2 --csr $3.csr &&
	tandem-ca account -d $1 --address $2 --csr $3.csr &&
	tandem import -d $3 --cert $1/accounts/$2/agent.crt \
		--anchor root/root.crt --chain $1/chain.pem
}

# keyed CA ADDRESS: an agent certificate for ADDRESS from CA whose key
# is in ADDRESS.key (made here, as a hostile user or courier would)
keyed() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out $2.key 2>/dev/null &&
	openssl req -new -key $2.key -subj "/CN=$2" -out $2.csr &&
	tandem-ca account -d $1 --address $2 --csr $2.csr >/dev/null
}

test_expect_success 'a public courier (alice, bob), a private one for corp.example (dave); mallory and carol hold their keys' '
	ag_courier &&
	user ca alice@a.example alice && user ca bob@a.example bob &&
	keyed ca mallory@a.example &&
	tandem-ca courier -d corp --name corp.example --role private \
		--superior root --domain corp.example >/dev/null &&
	tandem-ca element -d corp --fg tandem@corp.example >/dev/null &&
	user corp dave@corp.example dave &&
	keyed corp carol@corp.example &&
	keyed ca erin@corp.example
'

test_expect_success 'alice'"'"'s own sealed message is readable (the control)' '
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: ok\r\nMessage-ID: <ok@a.example>\r\n\r\nhello\r\n" >ok.eml &&
	tandem seal -d alice --to bob@a.example --in ok.eml --sealed ok.der \
		--arm ok.arm >/dev/null &&
	cp ok.arm ok@a.example.arm && fetched bob ok@a.example &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key ca/accounts/bob@a.example/agent.crt ok.der ok.wrap &&
	ag_mail content alice@a.example bob@a.example ok@a.example ok.wrap >ok.mail &&
	tandem inbox -d bob ok.mail >inbox &&
	test_grep "^ok@a.example alice@a.example readable" inbox &&
	tandem read -d bob ok.mail >got && test_cmp ok.eml got
'

test_expect_success 'signed by the courier'"'"'s foreground element, as its service mailbox: refused (13)' '
	forged f1@a.example ca/elements/fg.crt ca/elements/fg.key ca \
		tandem@a.example tandem@a.example bob@a.example bob ca &&
	refused f1@a.example "signed by a fg certificate, not by a user.s agent"
'

test_expect_success 'signed by alice'"'"'s courier-end key, which her courier holds: refused (13)' '
	forged f2@a.example ca/accounts/alice@a.example/courier.crt \
		ca/accounts/alice@a.example/courier.key ca \
		alice@a.example alice@a.example bob@a.example bob ca &&
	refused f2@a.example "signed by a courier-end certificate, not by a user.s agent"
'

test_expect_success 'mallory'"'"'s content under an ARM and a mail that say alice sent it: refused (13)' '
	forged f3@a.example ca/accounts/mallory@a.example/agent.crt \
		mallory@a.example.key ca mallory@a.example alice@a.example \
		bob@a.example bob ca &&
	refused f3@a.example "signer is not the sender alice@a.example"
'

test_expect_success 'mallory'"'"'s own content and ARM, the message inside From alice: refused (13)' '
	forged f4@a.example ca/accounts/mallory@a.example/agent.crt \
		mallory@a.example.key ca alice@a.example mallory@a.example \
		bob@a.example bob ca &&
	refused f4@a.example "signer certificate is not for the From: address alice@a.example"
'

test_expect_success 'carol, certified by the private courier of corp.example, writes to dave: readable' '
	forged c1@corp.example corp/accounts/carol@corp.example/agent.crt \
		carol@corp.example.key corp carol@corp.example \
		carol@corp.example dave@corp.example dave corp &&
	tandem inbox -d dave c1@corp.example.mail >inbox &&
	test_grep "^c1@corp.example carol@corp.example readable" inbox &&
	tandem read -d dave c1@corp.example.mail >got &&
	test_cmp c1@corp.example.eml got
'

test_expect_success 'erin@corp.example, certified by a public courier, writes to dave: refused (13)' '
	forged c2@corp.example ca/accounts/erin@corp.example/agent.crt \
		erin@corp.example.key ca erin@corp.example erin@corp.example \
		dave@corp.example dave corp &&
	refused c2@corp.example "erin@corp.example is certified by another courier than the private courier of corp.example" dave
'

test_done
