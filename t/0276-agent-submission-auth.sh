#!/bin/sh
test_description='tandem send over STARTTLS with SMTP AUTH to a real Postfix'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

# A private Postfix offers submission with STARTTLS (a certificate of a
# test CA for mail.a.example) and Cyrus SASL over a sasldb in $TRASH,
# AUTH after STARTTLS only, relaying for authenticated clients only to
# an smtp-sink. A second one ("rogue") is the same with a certificate
# for the same name from another CA; a third ("noauth") has the right
# certificate, no AUTH, and relays for anyone on 127/8. The background
# is the stub.

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mx=$(pf_random_addr) mport=$(pf_random_port)
rx=$(pf_random_addr) rport=$(pf_random_port)
nx=$(pf_random_addr) nport=$(pf_random_port)
sink=$(pf_random_addr) sport=$(pf_random_port) pport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port)
bgnet="--bg https://bg.a.example:$bport --resolve bg.a.example:$bport:$bg"
net="$bgnet --smtp mail.a.example:$mport --resolve mail.a.example:$mport:$mx"
auth="--smtp-starttls --smtp-ca tls/ca.crt --smtp-user alice"
alice=ca/accounts/alice@a.example

# tls_cert NAME CA: NAME.key and NAME.crt, for mail.a.example, by CA
tls_cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout tls/$1.key -out tls/$1.csr -subj /CN=mail.a.example \
		2>/dev/null &&
	printf '%s\n' 'subjectAltName = DNS:mail.a.example' \
		'extendedKeyUsage = serverAuth' >tls/$1.ext &&
	openssl x509 -req -in tls/$1.csr -CA tls/$2.crt -CAkey tls/$2.key \
		-CAcreateserial -days 30 -extfile tls/$1.ext \
		-out tls/$1.crt 2>/dev/null &&
	chmod 600 tls/$1.key
}

tls_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout tls/$1.key -out tls/$1.crt -days 30 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# pf_tls NAME ADDR PORT CERT [main.cf line ...]: a Postfix with
# STARTTLS (CERT) relaying to the sink. Its smtpd needs tlsmgr (else
# "no entropy for TLS key generation"), which lib-postfix.sh's
# master.cf has not: added, then a reload.
pf_tls() {
	_n=$1 _a=$2 _p=$3 _c=$4
	shift 4
	postfix_start $_n $_a $_p "relayhost = [$sink]:$sport" \
		"smtpd_tls_security_level = may" \
		"smtpd_tls_cert_file = $TRASH/tls/$_c.crt" \
		"smtpd_tls_key_file = $TRASH/tls/$_c.key" \
		"smtpd_tls_loglevel = 1" "$@" &&
	echo "tlsmgr unix - - n 1000? 1 tlsmgr" >>"$(postfix_dir $_n)/master.cf" &&
	pf_pty "postfix -c $(postfix_dir $_n) reload"
}

# pf_auth NAME ADDR PORT CERT: the submission Postfix, with Cyrus SASL.
# Debian's Postfix reads smtpd.conf from $config_directory/sasl, not
# from cyrus_sasl_config_path (set all the same): a copy goes there.
pf_auth() {
	mkdir -p "$(postfix_dir $1)/sasl" &&
	cp sasl/smtpd.conf "$(postfix_dir $1)/sasl/" &&
	pf_tls $1 $2 $3 $4 \
		"smtpd_sasl_auth_enable = yes" \
		"smtpd_tls_auth_only = yes" \
		"smtpd_sasl_type = cyrus" \
		"smtpd_sasl_path = smtpd" \
		"smtpd_sasl_local_domain = tandem.test" \
		"smtpd_sasl_authenticated_header = yes" \
		"cyrus_sasl_config_path = $TRASH/sasl" \
		"smtpd_relay_restrictions = permit_sasl_authenticated, reject" \
		"smtpd_recipient_restrictions = permit_sasl_authenticated, reject"
}

test_expect_success 'a courier, alice with her certificates; a test CA, two servers' '
	ag_courier &&
	tandem init -d alice --address alice@a.example --csr alice.csr &&
	tandem-ca account -d ca --address alice@a.example --csr alice.csr &&
	tandem import -d alice --cert $alice/agent.crt --anchor root/root.crt \
		--chain ca/chain.pem --courier-cert $alice/courier.crt &&
	printf "From: Alice <alice@a.example>\r\nTo: bob@a.example\r\nSubject: lunch\r\n\r\nMeet at noon.\r\n" >m.eml &&
	mkdir tls &&
	tls_ca ca "Submission test CA" && tls_cert mail ca &&
	tls_ca other "Another CA" && tls_cert rogue other
'

test_expect_success 'saslpasswd2 and the Cyrus PLAIN, LOGIN and sasldb modules are here' '
	test_have_prog saslpasswd2 ||
	{ echo "saslpasswd2 is missing: apt-get install sasl2-bin"; false; } &&
	for m in plain login sasldb; do
		ls /usr/lib/*/sasl2/lib$m.so* >/dev/null 2>&1 ||
		{ echo "no Cyrus SASL $m module: apt-get install libsasl2-modules"
		  return 1; }
	done
'

test_expect_success 'a sasldb with alice, readable by the postfix user' '
	mkdir sasl &&
	printf "%s\n" "pwcheck_method: auxprop" "auxprop_plugin: sasldb" \
		"sasldb_path: $TRASH/sasl/sasldb2" "mech_list: PLAIN LOGIN" \
		>sasl/smtpd.conf &&
	echo "s3cret submission" | saslpasswd2 -p -c -f sasl/sasldb2 \
		-u tandem.test alice &&
	chown root:postfix sasl/sasldb2 && chmod 640 sasl/sasldb2 &&
	echo "s3cret submission" >alice.pw && chmod 600 alice.pw &&
	echo "wrong" >wrong.pw && chmod 600 wrong.pw
'

test_expect_success_here 'the sink, the submission Postfix, the rogue one, the stub' '
	smtp_sink_start sink $sink $sport &&
	smtp_sink_start plain $sink $pport &&
	pf_auth mx $mx $mport mail &&
	pf_auth rogue $rx $rport rogue &&
	pf_tls noauth $nx $nport mail &&
	ag_stub stub $bg $bport ca
'

mlog=$TRASH/postfix-mx/maillog
rlog=$TRASH/postfix-rogue/maillog

# delivered N: the sink holds N mails once the queue is empty
delivered() {
	postfix_wait_queue_empty mx 30 &&
	test "$(smtp_sink_files sink | wc -l)" = "$1"
}

test_expect_success 'STARTTLS, AUTH as alice (tandem.conf): the mail arrives' '
	cat >agent.conf <<-EOF &&
	agent {
	    submission = "mail.a.example:$mport"
	    submission_tls = "starttls"
	    submission_ca = "$TRASH/tls/ca.crt"
	    submission_user = "alice"
	    submission_password_file = "$TRASH/alice.pw"
	    bg_url = "https://bg.a.example:$bport"
	    resolve = {"bg.a.example:$bport:$bg", "mail.a.example:$mport:$mx"}
	}
	EOF
	tandem send -d alice -c agent.conf --to bob@a.example --in m.eml \
		>id 2>err &&
	id=$(cat id) && test -n "$id" &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	delivered 1 &&
	f=$(smtp_sink_files sink) &&
	test_grep "^Message-ID: <$id>" $f &&
	test_grep "^Tandem-Kind: content" $f &&
	test_grep "^X-Rcpt-Args: <bob@a.example>" $f &&
	test_grep "with ESMTPSA" $f &&
	test_grep "Authenticated sender: alice" $f &&
	test_grep_not "lunch" $f &&
	test_grep "TLS connection established from" $mlog &&
	test_grep "sasl_method=[A-Z]*, sasl_username=alice@tandem.test$" $mlog &&
	tandem status -d alice "$id" >st && test_grep sent st
'

test_expect_success 'the same with the options: --smtp-starttls, --smtp-user ...' '
	: >stub/log &&
	tandem send -d alice --to bob@a.example --in m.eml $net $auth \
		--smtp-password-file alice.pw >id2 &&
	delivered 2 &&
	test_grep "^Message-ID: <$(cat id2)>" $(smtp_sink_files sink | tail -n 1)
'

test_expect_success 'a wrong password: authentication failed, 17, nothing sent' '
	: >stub/log && n=$(grep -c "authentication failed" $mlog || :) &&
	test_expect_code 17 tandem send -d alice --to bob@a.example --in m.eml \
		$net $auth --smtp-password-file wrong.pw >out 2>err &&
	test_grep "smtp://mail.a.example:$mport: authentication as alice failed: 535 " err &&
	! test -s out &&
	test "$(grep -c "authentication failed" $mlog)" -gt "$n" &&
	delivered 2 &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	ag_unwrap stub/posted/3 $alice/courier.crt $alice/courier.key arm3.txt &&
	test_expect_code 66 tandem status -d alice "$(ag_field Message-Id arm3.txt)"
'

test_expect_success 'a certificate from another CA: verification fails, no AUTH, 76' '
	: >stub/log &&
	test_expect_code 76 tandem send -d alice --to bob@a.example --in m.eml \
		$bgnet $auth --smtp-password-file alice.pw \
		--smtp mail.a.example:$rport \
		--resolve mail.a.example:$rport:$rx >out 2>err &&
	test_grep "smtp://mail.a.example:$rport: TLS certificate verification failed (SSL certificate problem: unable to get local issuer certificate; CAs: tls/ca.crt): nothing was sent" err &&
	test_grep_not "again in" err &&
	! test -s out &&
	test_grep "connect from" $rlog &&
	test_grep_not "sasl_method" $rlog &&
	test_grep_not "sasl_username" $rlog &&
	postfix_wait_queue_empty rogue 10 && delivered 2
'

test_expect_success 'the right server under a name not in its certificate: 76' '
	test_expect_code 76 tandem send -d alice --to bob@a.example --in m.eml \
		$bgnet $auth --smtp-password-file alice.pw --smtp $mx:$mport \
		2>err &&
	test_grep "TLS certificate verification failed (SSL: no alternative certificate subject name matches target host name .$mx.;" err &&
	delivered 2
'

test_expect_success 'a server without STARTTLS: left before anything, 76' '
	test_expect_code 76 tandem send -d alice --to bob@a.example --in m.eml \
		$bgnet --smtp-starttls --smtp $sink:$pport 2>err &&
	test_grep "smtp://$sink:$pport does not offer STARTTLS (submission_tls = starttls): nothing was sent" err &&
	test -z "$(smtp_sink_files plain)"
'

test_expect_success 'a server that offers no AUTH, though it would relay: not sent, 76' '
	test_expect_code 76 tandem send -d alice --to bob@a.example --in m.eml \
		$bgnet $auth --smtp-password-file alice.pw \
		--smtp mail.a.example:$nport \
		--resolve mail.a.example:$nport:$nx 2>err &&
	test_grep "smtp://mail.a.example:$nport offers no AUTH that libcurl can use: alice not authenticated, nothing was sent" err &&
	test_grep "TLS connection established from" $TRASH/postfix-noauth/maillog &&
	test_grep "lost connection after DATA" $TRASH/postfix-noauth/maillog &&
	postfix_wait_queue_empty noauth 10 && delivered 2
'

test_expect_success 'a user without STARTTLS: refused before connecting, 78' '
	: >stub/log && n=$(grep -c "connect from" $mlog || :) &&
	test_expect_code 78 tandem send -d alice --to bob@a.example --in m.eml \
		$net --smtp-user alice --smtp-password-file alice.pw 2>err &&
	test_grep "submission_user alice without submission_tls = starttls (--smtp-starttls): refused, a password is never sent in clear" err &&
	sed "s/\"starttls\"/\"none\"/" agent.conf >none.conf &&
	test_expect_code 78 tandem send -d alice -c none.conf --to bob@a.example \
		--in m.eml 2>err &&
	test_grep "a password is never sent in clear" err &&
	! test -s stub/log &&
	test "$(grep -c "connect from" $mlog)" = "$n"
'

test_expect_success 'a user without a password file: refused before connecting, 78' '
	test_expect_code 78 tandem send -d alice --to bob@a.example --in m.eml \
		$net $auth 2>err &&
	test_grep "submission_user alice without submission_password_file (--smtp-password-file): refused, a password is never sent in clear" err &&
	! test -s stub/log
'

test_expect_success 'a password file the group or others may read: refused, named, 78' '
	cp alice.pw open.pw && chmod 644 open.pw &&
	test_expect_code 78 tandem send -d alice --to bob@a.example --in m.eml \
		$net $auth --smtp-password-file open.pw 2>err &&
	test_grep "submission password file open.pw: mode 0644 lets the group or others in: refused (chmod 600 it)" err &&
	chmod 640 open.pw &&
	test_expect_code 78 tandem send -d alice --to bob@a.example --in m.eml \
		$net $auth --smtp-password-file open.pw 2>err &&
	test_grep "open.pw: mode 0640" err &&
	: >empty.pw && chmod 600 empty.pw &&
	test_expect_code 78 tandem send -d alice --to bob@a.example --in m.eml \
		$net $auth --smtp-password-file empty.pw 2>err &&
	test_grep "empty.pw: no password on its first line" err &&
	! test -s stub/log && delivered 2
'

test_expect_success 'without a user, this Postfix relays nothing (17)' '
	test_expect_code 17 tandem send -d alice --to bob@a.example --in m.eml \
		$net --smtp-starttls --smtp-ca tls/ca.crt 2>err &&
	test_grep "answered: 554 5.7.1 " err &&
	delivered 2
'

test_done
