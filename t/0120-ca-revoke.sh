#!/bin/sh
test_description='tandem-ca revoke and crl: a signed CRL that openssl checks, entries kept, certificates of another CA refused'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

# agent NAME: an agent certificate for NAME@a.example from courier a
agent() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null &&
	tandem-ca account -d a --address "$1@a.example" --csr "$1.csr" \
	    >/dev/null &&
	cp "a/accounts/$1@a.example/agent.crt" "$1.crt"
}

# checked NAME: openssl's verdict on NAME.crt with a's CRL
checked() {
	openssl verify -crl_check -CRLfile a/crl.pem -CAfile root/root.crt \
	    -untrusted a/chain.pem "$1.crt" 2>&1
}

test_expect_success 'root, courier a with its FG element, agents alice and bob' '
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d a --name a.example --role public \
	    --superior root >/dev/null &&
	tandem-ca element -d a --fg tandem@a.example >/dev/null &&
	agent alice && agent bob &&
	test ! -e a/crl.pem
'

test_expect_success 'revoke alice: the CRL lists her serial with the reason, signed by a' '
	tandem-ca revoke -d a --reason keyCompromise alice.crt >out &&
	test_grep "^alice.crt: revoked\$" out &&
	test_grep "a/crl.pem: 1 revoked, next update in 7 days" out &&
	openssl crl -in a/crl.pem -noout -CAfile a/ca.crt 2>&1 | grep "verify OK" &&
	openssl crl -in a/crl.pem -noout -text >crl.txt &&
	serial=$(openssl x509 -in alice.crt -noout -serial | cut -d= -f2) &&
	test_grep "Serial Number: $serial" crl.txt &&
	test_grep "Key Compromise" crl.txt &&
	test_grep "X509v3 CRL Number:" crl.txt &&
	test_grep "X509v3 Authority Key Identifier" crl.txt &&
	test "$(openssl crl -in a/crl.pem -noout -issuer | sed "s/^issuer=//")" = \
	    "$(openssl x509 -in a/ca.crt -noout -subject | sed "s/^subject=//")"
'

test_expect_success 'openssl: alice revoked, bob not' '
	test_must_fail openssl verify -crl_check -CRLfile a/crl.pem \
	    -CAfile root/root.crt -untrusted a/chain.pem alice.crt >v 2>&1 &&
	test_grep "certificate revoked" v &&
	checked bob | grep ": OK\$"
'

test_expect_success 'revoke bob (no reason given: unspecified) and alice again: both listed once, the number goes up' '
	n1=$(openssl crl -in a/crl.pem -noout -crlnumber | cut -d= -f2) &&
	tandem-ca revoke -d a bob.crt >out &&
	test_grep "^bob.crt: revoked\$" out &&
	tandem-ca revoke -d a alice.crt >out &&
	test_grep "^alice.crt: revoked already\$" out &&
	test_grep "a/crl.pem: 2 revoked" out &&
	n3=$(openssl crl -in a/crl.pem -noout -crlnumber | cut -d= -f2) &&
	test $((n3)) = $((n1 + 2)) &&
	openssl crl -in a/crl.pem -noout -text >crl.txt &&
	test "$(grep -c "Serial Number:" crl.txt)" = 2 &&
	test_grep "Key Compromise" crl.txt &&
	test_grep "Unspecified" crl.txt &&
	test_must_fail openssl verify -crl_check -CRLfile a/crl.pem \
	    -CAfile root/root.crt -untrusted a/chain.pem bob.crt >/dev/null 2>&1
'

test_expect_success 'crl signs the same list again with a later next update' '
	before=$(openssl crl -in a/crl.pem -noout -nextupdate) &&
	tandem-ca crl -d a --days 30 >out &&
	test_grep "a/crl.pem: 2 revoked, next update in 30 days" out &&
	after=$(openssl crl -in a/crl.pem -noout -nextupdate) &&
	test "$before" != "$after" &&
	test "$(date -d "${after#nextUpdate=}" +%s)" -gt "$(( $(date +%s) + 29 * 86400 ))" &&
	test "$(openssl crl -in a/crl.pem -noout -text | grep -c "Serial Number:")" = 2
'

test_expect_success 'refused: a certificate a did not issue, an unknown reason, a CRL that is not a'"'"'s' '
	cp a/crl.pem keep.pem &&
	test_expect_code 65 tandem-ca revoke -d a a/ca.crt 2>err &&
	test_grep "was not issued by this CA" err &&
	test_expect_code 65 tandem-ca revoke -d root a/elements/fg.crt 2>err &&
	test_grep "was not issued by this CA" err &&
	test_expect_code 64 tandem-ca revoke -d a --reason certificateHold bob.crt 2>err &&
	test_grep "one of unspecified" err &&
	tandem-ca revoke -d root a/ca.crt >/dev/null &&
	cp root/crl.pem a/crl.pem &&
	test_expect_code 65 tandem-ca crl -d a 2>err &&
	test_grep "the CRL there is not this CA.s" err &&
	cp keep.pem a/crl.pem &&
	cmp keep.pem a/crl.pem
'

test_done
