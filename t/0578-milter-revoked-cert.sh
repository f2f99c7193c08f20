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
	cp isp/crl.pem isp-first.pem &&
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
	sed -i "s|^\([[:space:]]*crl_file = .*\)\$|\1\n\tcrl_refresh = 1s|" tandem.conf &&
	milter_conf_reloadable &&
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

test_expect_success 'the courier revokes alice: the milter takes the new list on its tls.crl_refresh, without a reload nor an edit of tandem.conf made since' '
	echo "this line is no tandem.conf" >>tandem.conf &&
	openssl x509 -noout -serial -in isp/accounts/alice@a.example/agent.crt |
	    sed "s/^serial=//" >alice.serial &&
	tandem-ca revoke -d isp --reason superseded \
	    isp/accounts/alice@a.example/agent.crt >/dev/null &&
	cat root/crl.pem isp/crl.pem >crls.new && mv crls.new crls.pem &&
	test_wait_log milter.log "crl status=refreshed file=$TRASH/crls.pem" 20 &&
	test_grep_not "status=refused" milter.log &&
	milter_mkmail m3 alice alice@a.example bob@a.example &&
	test_must_fail milter_send m3 alice@a.example bob@a.example &&
	test_grep "<\*\* *550 5.7.7 .*certificate $(cat alice.serial) (alice@a.example) of CA a.example is revoked: superseded" swaks.out
'

test_expect_success 'a new file it cannot use is logged once; it goes on with the lists read before' '
	cp "$TRASH/root/root.crt" crls.new && mv crls.new crls.pem &&
	test_wait_log milter.log "crl status=refused file=$TRASH/crls.pem reason=\"$TRASH/crls.pem: no revocation list (X509 CRL) in it\"; going on with the lists read before" 20 &&
	sleep 3 &&
	test $(grep -c "crl status=refused" milter.log) = 1 &&
	test_must_fail milter_send m3 alice@a.example bob@a.example &&
	test_grep "<\*\* *550 5.7.7 .*certificate $(cat alice.serial) (alice@a.example) of CA a.example is revoked" swaks.out
'

test_expect_success 'with tls.crl_url the milter fetches the lists itself: at a first start, the file not there yet, before it reads them' '
	kill $(cat milter.pid) &&
	i=0 && while [ $i -lt 50 ] && kill -0 $(cat milter.pid) 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
	done &&
	rm -f milter.sock &&
	mkdir pub crl && chown nobody crl &&
	cp root/crl.pem pub/root.pem && cp isp/crl.pem pub/isp.pem &&
	test_conf_crl tandem.conf "$TRASH/crl/crls.pem" &&
	sed -i "/^this line is no tandem.conf\$/d; /crl_refresh = /d" tandem.conf &&
	sed -i "s|^\([[:space:]]*crl_file = .*\)\$|\1\n\tcrl_refresh = 1s\n\tcrl_fetch = 1s\n\tcrl_url = {\"$TRASH/pub/root.pem\", \"$TRASH/pub/isp.pem\"}|" tandem.conf &&
	milter_start &&
	test_wait_log milter.log "crl status=fetched file=$TRASH/crl/crls.pem lists=2" 20 &&
	cat pub/root.pem pub/isp.pem >want.pem && cmp want.pem crl/crls.pem &&
	test_wait_log milter.log "started socket=" 20 &&
	test_must_fail milter_send m3 alice@a.example bob@a.example &&
	test_grep "<\*\* *550 5.7.7 .*certificate $(cat alice.serial) (alice@a.example) of CA a.example is revoked: superseded" swaks.out
'

test_expect_success 'its thread fetches them again as the user it runs as; an old list served again is refused and logged, the file unchanged' '
	i=0 && while [ $i -lt 100 ] && [ "$(stat -c %U crl/crls.pem)" != nobody ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	test "$(stat -c %U crl/crls.pem)" = nobody &&
	cmp want.pem crl/crls.pem &&
	cp isp-first.pem pub/isp.new && mv pub/isp.new pub/isp.pem &&
	test_wait_log milter.log "crl status=unfetched file=$TRASH/crl/crls.pem reason=\"the list of a.example is older than the one $TRASH/crl/crls.pem holds (an old list served again?)\"; the file is unchanged, tried again in 1s" 20 &&
	cmp want.pem crl/crls.pem &&
	test_must_fail milter_send m3 alice@a.example bob@a.example &&
	test_grep "<\*\* *550 5.7.7 .*certificate $(cat alice.serial) (alice@a.example) of CA a.example is revoked: superseded" swaks.out
'

test_done
