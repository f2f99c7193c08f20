#!/bin/sh
test_description='tandem: the agent talks only to its own courier'\''s background, pinned by its CA key'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

# Every courier's background certificate verifies to the one root. A
# public courier may certify an element for any host name, so another
# courier (b.example) certifies a background for alice's URL,
# https://bg.a.example:PORT, and serves it where that name leads; so
# does the root for its own element. curl's checks (to the anchors,
# host name) pass for both; the agent must refuse them all the same,
# before any request, because neither is signed by a.example's key.

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mta=$(pf_random_addr) mport=$(pf_random_port)
bg=$(pf_random_addr) evil=$(pf_random_addr) upper=$(pf_random_addr)
bport=$(pf_random_port)
url=https://bg.a.example:$bport

stub_stop() {
	for d in s-own s-evil s-root; do
		[ -f $d/pid ] && kill "$(cat $d/pid)" 2>/dev/null
		rm -f $d/pid
	done
}

# stub DIR ADDR CERT KEY CHAIN: the background stub on ADDR:$bport
stub() {
	mkdir $1 && cat $3 $5 >$1.pem &&
	{ python3 "$TANDEM_SRC/t/agent-bg-stub.py" $2 $bport $1.pem $4 $1 \
		2>$1.err & } &&
	pf_wait_listen $2 $bport 10
}

# send_via ADDR: alice sends one message, bg.a.example resolving to ADDR
send_via() {
	tandem send -d alice --to bob@a.example --in m.eml --retry-for 0 \
		--smtp $mta:$mport --bg $url --resolve bg.a.example:$bport:$1
}

test_expect_success 'a.example with alice; b.example certifies a background for her URL' '
	ag_courier &&
	tandem init -d alice --address alice@a.example --csr alice.csr &&
	tandem-ca account -d ca --address alice@a.example --csr alice.csr &&
	tandem import -d alice --cert ca/accounts/alice@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem \
		--courier-cert ca/accounts/alice@a.example/courier.crt &&
	tandem-ca courier -d evil --name b.example --role public \
		--superior root >/dev/null &&
	tandem-ca element -d evil --bg $url >/dev/null &&
	tandem-ca element -d root --bg $url >/dev/null &&
	openssl verify -CAfile root/root.crt -untrusted evil/chain.pem \
		-purpose any evil/elements/bg.crt &&
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: x\r\n\r\nhello\r\n" >m.eml
'

test_expect_success_here 'an smtp-sink, her background, and the two others on her URL' '
	smtp_sink_start mta $mta $mport &&
	test_atexit stub_stop &&
	stub s-own $bg ca/elements/bg.crt ca/elements/bg.key ca/chain.pem &&
	stub s-evil $evil evil/elements/bg.crt evil/elements/bg.key \
		evil/chain.pem &&
	stub s-root $upper root/elements/bg.crt root/elements/bg.key /dev/null
'

test_expect_success 'her own background takes the ARM' '
	send_via $bg >id &&
	echo "POST /v1/arm 201" >expect && test_cmp expect s-own/log
'

test_expect_success 'another courier'\''s background on her URL is refused in the handshake' '
	test_expect_code 75 send_via $evil 2>err &&
	test_grep "the background'\''s certificate is not of this agent'\''s courier (issued by b.example" err &&
	test ! -e s-evil/log
'

test_expect_success 'so is the root courier'\''s own background' '
	test_expect_code 75 send_via $upper 2>err &&
	test_grep "not of this agent'\''s courier (issued by root.example" err &&
	test ! -e s-root/log
'

test_expect_success 'nothing was mailed but the one message her background took' '
	test $(smtp_sink_files mta | wc -l) = 1
'

test_done
