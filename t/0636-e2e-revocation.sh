#!/bin/sh
test_description='end to end: revocation lists on a live courier (tls.crl_file): a missing list keeps mail waiting, a revoked agent is refused'
. "$TANDEM_SRC/t/test-lib.sh"

# The agents of this courier are certified by its issuing CA
# ($CR_CA/issuing, the milter's CA process): their chains need the
# lists of the root, the courier and the issuing CA.

letter() {
	printf "From: %s@a.example\r\nTo: %s@a.example\r\nSubject: %s\r\n" "$1" "$2" "$3"
	printf "Message-ID: <%s@a.example>\r\n\r\n%s\r\n" "$3" "text of $3"
}

test_expect_success_here 'a courier; alice, bob and carol register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob && agent_register carol
'

test_expect_success 'the lists of the root and the courier, not the issuing CA.s' '
	tandem-ca crl -d "$CR_PKI/root" >/dev/null &&
	tandem-ca crl -d "$CR_CA" >/dev/null &&
	cat "$CR_PKI/root/crl.pem" "$CR_CA/crl.pem" >"$TRASH/crls.pem" &&
	courier_milter_stop && test_conf_crl "$CR_FG_CONF" "$TRASH/crls.pem" &&
	courier_milter_start
'

test_expect_success 'alice sends: 451 4.7.0 while a list is missing; her agent sends the same mail again once it is there' '
	letter alice bob m1 >m1.eml &&
	{ agent alice send --to bob@a.example --in m1.eml --retry-for 120 \
	    >send.out 2>send.err; echo $? >send.rc; } &
	test_wait_log "$TRASH/fg/milter.log" "from=alice@a.example status=tempfail reason=\"4.7.0 Tandem content: signer certificate cannot be checked: unable to get certificate CRL (tls.crl_missing = refuse)\"" 60 &&
	test_must_fail cr_maildir_match bob "^Message-ID: <m1@a.example>" &&
	tandem-ca crl -d "$CR_CA/issuing" >/dev/null &&
	cat "$CR_PKI/root/crl.pem" "$CR_CA/crl.pem" "$CR_CA/issuing/crl.pem" >"$TRASH/crls.pem" &&
	courier_milter_stop && courier_milter_start &&
	wait_until 120 test -s send.rc &&
	test "$(cat send.rc)" = 0 && echo m1@a.example >want && test_cmp want send.out
'

test_expect_success 'bob gets one copy and reads exactly what alice wrote' '
	maildir_wait bob "^Message-ID: <m1@a.example>" 30 >/dev/null &&
	test "$(cr_maildir_match bob "^Message-ID: <m1@a.example>" | wc -l)" = 1 &&
	agent bob fetch >/dev/null &&
	mkdir got && agent bob read --id m1@a.example --out-dir got >/dev/null &&
	cmp m1.eml "got/$(ls got)"
'

test_expect_success 'the issuing CA revokes carol; both elements take the new lists' '
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = \$\$carol@a.example\$\$" >carol.crt &&
	openssl x509 -noout -serial -in carol.crt | sed "s/^serial=//" >carol.serial &&
	tandem-ca revoke -d "$CR_CA/issuing" --reason affiliationChanged carol.crt >/dev/null &&
	cat "$CR_PKI/root/crl.pem" "$CR_CA/crl.pem" "$CR_CA/issuing/crl.pem" >"$TRASH/crls.pem" &&
	courier_milter_stop && courier_milter_start &&
	courier_policyd_stop && test_conf_crl "$CR_BG_CONF" "$TRASH/crls.pem" &&
	courier_policyd_start
'

test_expect_success 'carol cannot send: her background refuses her at the handshake, naming the certificate' '
	letter carol bob m2 >m2.eml &&
	test_must_fail agent carol send --to bob@a.example --in m2.eml \
	    --retry-for 0 >out 2>err &&
	test_wait_log "$TRASH/bg/policyd.log" "tls status=refused reason=\"certificate $(cat carol.serial) (carol@a.example) of CA .* is revoked: affiliationChanged\"" 10 &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$m2@a.example\$\$")" = 0
'

test_expect_success 'nor fetch; alice and bob still do' '
	test_must_fail agent carol fetch >out 2>err &&
	agent alice fetch >/dev/null &&
	agent bob fetch >/dev/null
'

test_done
