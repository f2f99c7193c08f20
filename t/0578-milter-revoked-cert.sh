#!/bin/sh
test_description='tandem-milter: content signed with a revoked agent certificate is refused (tls.crl_file)'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

# The signature path of the revocation check (CMS_verify() and
# pki_verify() on the same trust store): the milter takes content
# only from a signer whose certificate no list of tls.crl_file names.

test_have_prog swaks || test_skip_all 'swaks is missing'

fg_addr=$(pf_random_addr) re_addr=$(pf_random_addr) sink_addr=$(pf_random_addr)
fg_port=$(pf_random_port) re_port=$(pf_random_port) sink_port=$(pf_random_port)

test_expect_success 'a courier, alice and bob active; the courier revokes bob' '
	milter_pki alice bob &&
	tandem-ca revoke -d isp --reason keyCompromise \
	    isp/accounts/bob@a.example/agent.crt >/dev/null &&
	tandem-ca crl -d root >/dev/null &&
	cat root/crl.pem isp/crl.pem >crls.pem &&
	openssl x509 -noout -serial -in isp/accounts/bob@a.example/agent.crt |
	    sed "s/^serial=//" >bob.serial
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob
'

milter_conf "$re_addr:$re_port"

test_expect_success 'tandem-milter -n: the root list missing fails closed, and says so' '
	test_conf_crl tandem.conf "$TRASH/isp/crl.pem" &&
	test_expect_code 78 tandem-milter -c tandem.conf -n >out 2>&1 &&
	test_grep "unable to get certificate CRL (tls.crl_missing = refuse)" out &&
	test_conf_crl tandem.conf "$TRASH/crls.pem" &&
	tandem-milter -c tandem.conf -n >out 2>&1 &&
	test_grep "^configuration OK\$" out
'

test_expect_success_here 'the milter, the reinjection smtpd and the MTA start' '
	milter_mta_start
'

test_expect_success 'content signed by bob is refused, naming his revoked certificate' '
	printf "sealed content stand-in\n" >sealed.der &&
	milter_mkmail m1 bob bob@a.example alice@a.example &&
	test_must_fail milter_send m1 bob@a.example alice@a.example &&
	test_grep "<\*\* *550 5.7.7 .*certificate $(cat bob.serial) (bob@a.example) of CA a.example is revoked: keyCompromise" swaks.out
'

test_expect_success 'content signed by alice still goes' '
	milter_mkmail m2 alice alice@a.example bob@a.example &&
	milter_send m2 alice@a.example bob@a.example &&
	test_grep "<-  250 2.0.0 Ok: queued" swaks.out
'

test_done
