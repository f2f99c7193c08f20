#!/bin/sh
test_description='tandem-policyd: a TLS client whose certificate names itself with quotes and a newline cannot forge log lines'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# Anyone can open a TLS connection to a background and present a
# certificate: its common name goes into the refusal logged. A name
# with a quote, a newline and key=value text must come out escaped
# (util_escape(): \x22, \x0a), on one line, without a field of its own.

test_have_prog curl || test_skip_all 'curl not found'

pd_setup >setup.log 2>&1 || { cat setup.log; exit 1; }

test_expect_success_here 'the background runs' '
	pd_start
'

# hostile NAME: a certificate of its own, self-signed, CN=NAME.
hostile() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout evil.key -out evil.pem -days 2 -subj "/CN=$1" 2>/dev/null
}

test_expect_success 'a client certificate named with a quote, a newline and fields is refused' '
	hostile "$(printf "ev\"il status=accepted\nforged=yes x=\001")" &&
	openssl x509 -in evil.pem -noout -subject | grep -q "status=accepted" &&
	test_must_fail curl -s -o /dev/null --cert evil.pem --key evil.key \
	    --cacert "$TRASH/pki/root/root.crt" \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox" &&
	n=0; while ! grep -q "tls status=refused" policyd.log && [ $n -lt 50 ]; do
		sleep 0.1; n=$((n + 1)); done &&
	test_grep "tls status=refused" policyd.log
'

test_expect_success 'the name is escaped on the refusal line, which stays one line' '
	grep "tls status=refused" policyd.log >line &&
	test $(wc -l <line) = 1 &&
	test_grep "reason=\"ev\\\\x22il status=accepted\\\\x0aforged=yes x=\\\\x01" line &&
	test_grep_not "^forged" policyd.log &&
	test_must_fail grep -q "$(printf "\001")" policyd.log &&
	test $(grep -c "status=accepted" policyd.log) = 1 &&
	test "$(grep -o "\"" line | wc -l)" = 2
'

test_expect_success 'the background still serves a proper client' '
	pd_account alice active &&
	pd_bg_count accounts >/dev/null &&
	n=0; while [ "$(pd_bg_count accounts)" != 1 ] && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1)); done &&
	pd_status 200 alice GET /v1/mailbox
'

test_done
