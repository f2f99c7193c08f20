#!/bin/sh
test_description='policyd: certificates listed in a revocation list of tls.crl_file are refused'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# The CAs of t/lib-policyd.sh (root.example, a.example) keep their
# lists with tandem-ca revoke and tandem-ca crl; the daemon reads the
# lists of tls.crl_file at its start and at each reload.

test_have_prog curl || test_skip_all 'curl not found'

test_expect_success_here 'a courier, alice, bob and carol active, no revocation list' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pd_account carol active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 3 &&
	pd_start &&
	pd_status 200 alice GET /v1/mailbox &&
	pd_status 200 bob GET /v1/mailbox &&
	pd_status 200 carol GET /v1/mailbox
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

# TLS 1.2, where the refusal comes within the handshake: the alert a
# revoked client gets is certificate_revoked, not bad_certificate.
test_expect_success 'the alert bob gets says his certificate is revoked' '
	openssl s_client -tls1_2 -connect "$PD_ADDR:$PD_PORT" \
	    -servername bg.a.example -cert bob.pem -key bob.key \
	    -CAfile "$TRASH/pki/root/root.crt" </dev/null >s_client.out 2>&1;
	test_grep "alert certificate revoked" s_client.out
'

# TLS 1.3: the server refuses the client certificate after the client
# has finished its side of the handshake and sent its request; closed
# at once, the socket would answer that request with a reset, which
# may reach the client before the alert does.
test_expect_success 'with TLS 1.3 too, bob reads the alert before the connection ends, each time' '
	head -c 65536 /dev/zero >big.body &&
	i=0 && while [ $i -lt 20 ]; do
		curl -sS -o /dev/null --tlsv1.3 --cert bob.pem --key bob.key \
		    --cacert "$TRASH/pki/root/root.crt" \
		    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
		    --data-binary @big.body \
		    "https://bg.a.example:$PD_PORT/v1/arm" 2>>curl13.err
		i=$((i + 1))
	done &&
	test $(grep -c "alert certificate revoked" curl13.err) = 20 || {
		sort curl13.err | uniq -c
		false
	}
'

test_expect_success 'every tls.crl_refresh it looks at the file: a new list is taken without a reload, an edit of tandem.conf is not' '
	pd_stop &&
	chgrp nogroup "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	chmod 640 "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	sed -i "s|^\([[:space:]]*crl_file = .*\)\$|\1\n\tcrl_refresh = 1s|" "$PD_CONF" &&
	pd_start &&
	pd_status 200 carol GET /v1/mailbox &&
	echo "this line is no tandem.conf" >>"$PD_CONF" &&
	openssl x509 -noout -serial -in "$PD_CA/accounts/carol@a.example/agent.crt" | sed "s/^serial=//" >carol.serial &&
	tandem-ca revoke -d "$PD_CA" --reason superseded \
	    "$PD_CA/accounts/carol@a.example/agent.crt" >/dev/null &&
	cat "$TRASH/pki/root/crl.pem" "$PD_CA/crl.pem" >crls.new &&
	mv crls.new crls.pem &&
	test_wait_log policyd.log "crl status=refreshed file=$TRASH/crls.pem worker=0" 20 &&
	test_wait_log policyd.log "crl status=refreshed file=$TRASH/crls.pem worker=1" 20 &&
	pd_status 000 carol GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	test_wait_log policyd.log "tls status=refused reason=\"certificate $(cat carol.serial) (carol@a.example) of CA a.example is revoked: superseded\"" 10 &&
	test_grep_not "reload status=refused" policyd.log
'

test_expect_success 'a new file it cannot use is logged once; it goes on with the lists read before' '
	cp crls.pem crls.good &&
	cp "$TRASH/pki/root/root.crt" crls.new && mv crls.new crls.pem &&
	test_wait_log policyd.log "crl status=refused file=$TRASH/crls.pem worker=0 reason=\"$TRASH/crls.pem: no revocation list (X509 CRL) in it\"; going on with the lists read before" 20 &&
	sleep 3 &&
	test $(grep -c "crl status=refused file=$TRASH/crls.pem worker=0" policyd.log) = 1 &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 000 carol GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	rm crls.pem &&
	test_wait_log policyd.log "crl status=unreadable file=$TRASH/crls.pem reason=\"No such file or directory\"; going on with the lists read before" 20 &&
	pd_status 000 carol GET /v1/mailbox
'

# The lists must still be current when the daemon reads them (a list
# already past its next update is refused at a refresh, as test 7's
# file is): 6 s leaves room for a loaded machine and a sanitizer build.
test_expect_success 'lists past their next update: each logged as stale, and every chain through their CAs is refused (tls.crl_missing = refuse)' '
	test_crl_soon "$PD_CA" soon.pem 6 &&
	test_crl_soon "$TRASH/pki/root" rootsoon.pem 6 &&
	cat rootsoon.pem soon.pem >crls.new && mv crls.new crls.pem &&
	test_wait_log policyd.log "crl status=refreshed file=$TRASH/crls.pem worker=0" 20 &&
	test_wait_log policyd.log "crl status=stale file=$TRASH/crls.pem ca=\"a.example\" next_update=[0-9T:-]*Z action=refuse" 20 &&
	test_wait_log policyd.log "crl status=stale file=$TRASH/crls.pem ca=\"root.example\" next_update=[0-9T:-]*Z action=refuse" 20 &&
	sleep 2 && test $(grep -c "crl status=stale" policyd.log) = 2 &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 000 alice GET /v1/mailbox &&
	test_wait_log policyd.log "CRL has expired (tls.crl_missing = refuse)" 10
'

test_expect_success 'the good lists back: taken, and said no more stale; bob and carol still refused as revoked' '
	n=$(wc -l <policyd.log) &&
	cp crls.good crls.new && mv crls.new crls.pem &&
	test_wait_log policyd.log "crl status=refreshed file=$TRASH/crls.pem worker=0" 20 &&
	i=0 && while [ $i -lt 100 ] && ! tail -n +$((n + 1)) policyd.log | grep -q "crl status=refreshed file=$TRASH/crls.pem worker=0"; do sleep 0.2; i=$((i + 1)); done &&
	tail -n +$((n + 1)) policyd.log | grep "crl status=refreshed file=$TRASH/crls.pem worker=0" &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 000 carol GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	sleep 2 && test $(grep -c "crl status=stale" policyd.log) = 2 &&
	sed -i "/^this line is no tandem.conf\$/d" "$PD_CONF"
'

test_expect_success 'the root list missing: the daemon does not start (tls.crl_missing = refuse), and says why' '
	pd_stop && test_conf_crl "$PD_CONF" "$PD_CA/crl.pem" &&
	test_must_fail tandem-policyd -c "$PD_CONF" -n >out 2>&1 &&
	test_grep "unable to get certificate CRL (tls.crl_missing = refuse)" out
'

test_expect_success 'the same with tls.crl_missing = accept: it starts, bob is still refused, and the root without a list is said once' '
	test_conf_crl "$PD_CONF" "$PD_CA/crl.pem" accept &&
	pd_start &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	test_grep "crl status=missing file=$PD_CA/crl.pem ca=\"root.example\" action=accept reason=\"no revocation list of this CA in the file\"" policyd.log &&
	test $(grep -c "crl status=missing" policyd.log) = 1
'

test_expect_success 'a file with no list in it is a configuration error' '
	pd_stop && test_conf_crl "$PD_CONF" "$TRASH/pki/root/root.crt" &&
	test_must_fail tandem-policyd -c "$PD_CONF" -n >out 2>&1 &&
	test_grep "no revocation list (X509 CRL) in it" out
'

test_done
