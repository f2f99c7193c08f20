#!/bin/sh
test_description='policyd: tls.crl_url, the lists fetched by the daemon itself every tls.crl_fetch, all or nothing'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# The CAs of t/lib-policyd.sh publish their lists over http (a python
# http.server on www/); the daemon's fetching process writes them to
# crl/crls.pem, which the workers take on their tls.crl_refresh.

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog python3 || test_skip_all 'python3 not found'

addr=$(pf_random_addr) port=$(pf_random_port)
url=http://$addr:$port

test_expect_success_here 'a courier, alice and bob active; the CAs publish their lists' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 2 &&
	tandem-ca crl -d "$TRASH/pki/root" >/dev/null &&
	tandem-ca crl -d "$PD_CA" >/dev/null &&
	mkdir www crl && chown nobody crl &&
	openssl crl -in "$TRASH/pki/root/crl.pem" -outform DER -out www/root.crl &&
	cp "$PD_CA/crl.pem" www/a.pem && cp "$PD_CA/crl.pem" a-first.pem &&
	cat "$TRASH/pki/root/crl.pem" "$PD_CA/crl.pem" >crl/crls.pem
'

test_expect_success_here 'the lists are published over http' '
	test_http_serve www "$addr" "$port"
'

test_expect_success 'a tls.crl_url that is no http:// URL, or without tls.crl_file, is a configuration error' '
	cp "$PD_CONF" bad.conf &&
	sed -i "s|^\([[:space:]]*keybox_key = .*\)\$|\1\n\tcrl_url = {\"$url/a.pem\"}|" bad.conf &&
	test_must_fail tandem-policyd -c bad.conf -n >out 2>&1 &&
	test_grep "crl_url: the lists fetched are written to crl_file, which is not set" out &&
	test_conf_crl bad.conf "$TRASH/crl/crls.pem" &&
	sed -i "s|$url/a.pem|https://$addr:$port/a.pem|" bad.conf &&
	test_must_fail tandem-policyd -c bad.conf -n >out 2>&1 &&
	test_grep "crl_url: \"https://$addr:$port/a.pem\" is not an http:// URL or a file.s path" out
'

test_expect_success_here 'with tls.crl_url the daemon fetches the lists at start, as the user it runs as, and all are served' '
	chgrp nogroup "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	chmod 640 "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	test_conf_crl "$PD_CONF" "$TRASH/crl/crls.pem" &&
	sed -i "s|^\([[:space:]]*crl_file = .*\)\$|\1\n\tcrl_refresh = 1s\n\tcrl_fetch = 2s\n\tcrl_url = {\"$url/root.crl\", \"$url/a.pem\"}|" "$PD_CONF" &&
	pd_start &&
	test_wait_log policyd.log "crl status=fetched file=$TRASH/crl/crls.pem lists=2" 20 &&
	test "$(stat -c %U crl/crls.pem)" = nobody &&
	cat "$TRASH/pki/root/crl.pem" "$PD_CA/crl.pem" >want.pem &&
	cmp want.pem crl/crls.pem &&
	pd_status 200 alice GET /v1/mailbox &&
	pd_status 200 bob GET /v1/mailbox
'

test_expect_success 'the courier revokes bob and publishes its list: the daemon takes it on its own, and refuses bob naming his certificate' '
	openssl x509 -noout -serial -in "$PD_CA/accounts/bob@a.example/agent.crt" |
	    sed "s/^serial=//" >bob.serial &&
	tandem-ca revoke -d "$PD_CA" --reason keyCompromise \
	    "$PD_CA/accounts/bob@a.example/agent.crt" >/dev/null &&
	cp "$PD_CA/crl.pem" www/a.new && mv www/a.new www/a.pem &&
	cat "$TRASH/pki/root/crl.pem" "$PD_CA/crl.pem" >want.pem &&
	i=0 && while [ $i -lt 100 ] && ! cmp -s want.pem crl/crls.pem; do
		sleep 0.2; i=$((i + 1))
	done &&
	cmp want.pem crl/crls.pem &&
	test_wait_log policyd.log "crl status=refreshed file=$TRASH/crl/crls.pem worker=0" 20 &&
	i=0 && while [ $i -lt 50 ] && [ "$(pd_curl bob GET /v1/mailbox)" != 000 ]; do
		sleep 0.2; i=$((i + 1))
	done &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	test_wait_log policyd.log "tls status=refused reason=\"certificate $(cat bob.serial) (bob@a.example) of CA a.example is revoked: keyCompromise\"" 10
'

test_expect_success 'an old list served again is refused, logged, and the file stays as it was: bob stays revoked' '
	cp crl/crls.pem held.pem &&
	cp a-first.pem www/a.new && mv www/a.new www/a.pem &&
	test_wait_log policyd.log "crl status=unfetched file=$TRASH/crl/crls.pem reason=\"the list of a.example is older than the one $TRASH/crl/crls.pem holds (an old list served again?)\"; the file is unchanged, tried again in 2s" 20 &&
	sleep 3 && cmp held.pem crl/crls.pem &&
	pd_status 000 bob GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox
'

test_expect_success 'a list of the same name that another key signed is refused, the file unchanged' '
	tandem-ca root -d evil --name a.example >/dev/null &&
	tandem-ca crl -d evil >/dev/null &&
	cp evil/crl.pem www/a.new && mv www/a.new www/a.pem &&
	test_wait_log policyd.log "crl status=unfetched file=$TRASH/crl/crls.pem reason=\"the list of a.example is signed by no certificate of tls.anchors or tls.chain\"" 20 &&
	sleep 3 && cmp held.pem crl/crls.pem &&
	pd_status 000 bob GET /v1/mailbox
'

test_expect_success 'the CA server gone: logged with the URL, the lists held stay, and the daemon serves on' '
	kill $http_pid 2>/dev/null &&
	test_wait_log policyd.log "crl status=unfetched file=$TRASH/crl/crls.pem reason=\"$url/root.crl: cannot fetch" 30 &&
	cmp held.pem crl/crls.pem &&
	pd_status 200 alice GET /v1/mailbox &&
	pd_status 000 bob GET /v1/mailbox &&
	test_grep_not "worker=[0-9]* pid=[0-9]* status=" policyd.log
'

test_expect_success 'a stop ends the fetching process too' '
	pd_stop &&
	! pgrep -f "tandem-policyd -c $PD_CONF" >/dev/null
'

test_done
