#!/bin/sh
test_description='policyd: certificates listed in a revocation list of tls.crl_file are refused'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# The CAs of t/lib-policyd.sh (root.example, a.example) keep their
# lists with tandem-ca revoke and tandem-ca crl; the daemon reads the
# lists of tls.crl_file at its start and at each reload.

test_have_prog curl || test_skip_all 'curl not found'

test_expect_success_here 'a courier, alice and bob active, no revocation list' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 2 &&
	pd_start &&
	pd_status 200 alice GET /v1/mailbox &&
	pd_status 200 bob GET /v1/mailbox
'

test_expect_success 'the courier revokes bob, both CAs sign their lists' '
	serial=$(openssl x509 -noout -serial -in "$PD_CA/accounts/bob@a.example/agent.crt" | sed "s/^serial=//") &&
	echo "$serial" >bob.serial &&
	tandem-ca revoke -d "$PD_CA" --reason keyCompromise \
	    "$PD_CA/accounts/bob@a.example/agent.crt" >/dev/null &&
	tandem-ca crl -d "$TRASH/pki/root" >/dev/null &&
	cat "$TRASH/pki/root/crl.pem" "$PD_CA/crl.pem" >crls.pem &&
	test $(grep -c "BEGIN X509 CRL" crls.pem) = 2
'

test_expect_success 'with the lists, bob is refused at the handshake, naming his certificate; alice is served' '
	pd_stop && test_conf_crl "$PD_CONF" "$TRASH/crls.pem" && pd_start &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	test_wait_log policyd.log "tls status=refused reason=\"certificate $(cat bob.serial) (bob@a.example) of CA a.example is revoked: keyCompromise\"" 10
'

test_expect_success 'the root list missing: the daemon does not start (tls.crl_missing = refuse), and says why' '
	pd_stop && test_conf_crl "$PD_CONF" "$PD_CA/crl.pem" &&
	test_must_fail tandem-policyd -c "$PD_CONF" -n >out 2>&1 &&
	test_grep "unable to get certificate CRL (tls.crl_missing = refuse)" out
'

test_expect_success 'the same with tls.crl_missing = accept: it starts, bob is still refused' '
	test_conf_crl "$PD_CONF" "$PD_CA/crl.pem" accept &&
	pd_start &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox
'

test_expect_success 'a file with no list in it is a configuration error' '
	pd_stop && test_conf_crl "$PD_CONF" "$TRASH/pki/root/root.crt" &&
	test_must_fail tandem-policyd -c "$PD_CONF" -n >out 2>&1 &&
	test_grep "no revocation list (X509 CRL) in it" out
'

test_done
