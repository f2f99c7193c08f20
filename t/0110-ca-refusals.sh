#!/bin/sh
test_description='pki_verify refuses forged, foreign, expired, tampered and garbled certificates'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

OID=2.25.109992342083808958172386236843414805153
AGENT=$OID.1.5

# forge NAME CADIR DAYS EXT...: a certificate made with plain openssl,
# signed with CADIR's CA key, with the given extension lines.
forge() {
	_n=$1 _ca=$2 _days=$3
	shift 3
	printf '[v3]\n' >"$_n.cnf"
	for _l; do printf '%s\n' "$_l" >>"$_n.cnf"; done
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$_n.key" -subj "/CN=$_n" -out "$_n.csr" 2>/dev/null &&
	openssl x509 -req -in "$_n.csr" -CA "$_ca/ca.crt" -CAkey "$_ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days "$_days" \
		-extfile "$_n.cnf" -extensions v3 -out "$_n.crt" 2>/dev/null
}

leaf_ext() {
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyAgreement" \
		"extendedKeyUsage=emailProtection" \
		"certificatePolicies=$AGENT" "subjectAltName=$1"
}

test_expect_success 'hierarchies root -> isp -> corp and root -> gw -> corp2, and a stranger' '
	tandem-ca root -d root --name "Tandem Root" &&
	tandem-ca courier -d isp --name isp.example --role public --superior root &&
	tandem-ca courier -d corp --name example.org --role private \
		--domain example.org --superior isp &&
	tandem-ca courier -d gw --name gw.example --role gateway --superior root &&
	tandem-ca courier -d corp2 --name corp2.example --role private \
		--domain corp2.example --superior gw &&
	tandem-ca root -d evil --name "Evil Root" &&
	tandem-ca courier -d evilsub --name evil.example --role public \
		--superior evil
'

test_expect_success 'a forged in-domain leaf passes (the forgery itself is sound)' '
	forge good corp 30 "$(leaf_ext email:eve@example.org)" &&
	tandem-ca verify -d corp --email eve@example.org good.crt >out &&
	echo ok >expect && test_cmp expect out
'

test_expect_success 'forged out-of-domain email under a private courier: status 4' '
	forge outmail corp 30 "$(leaf_ext email:eve@evil.example)" &&
	test_expect_code 4 tandem-ca verify -d corp outmail.crt >out 2>err &&
	test_grep "outmail.crt: outmail: permitted subtree violation" err &&
	test_must_fail test -s out
'

test_expect_success 'forged DNS name outside the domain: status 4' '
	forge outdns corp2 30 \
		"$(leaf_ext "email:eve@corp2.example,DNS:www.evil.example")" &&
	test_expect_code 4 tandem-ca verify -d corp2 outdns.crt 2>err &&
	test_grep "permitted subtree violation" err
'

test_expect_success 'forged IP address under a private courier: status 4' '
	forge outip corp 30 "$(leaf_ext "email:eve@example.org,IP:192.0.2.1")" &&
	test_expect_code 4 tandem-ca verify -d corp outip.crt 2>err &&
	test_grep "excluded subtree violation" err
'

test_expect_success 'an email-only constraint would let any DNS name through' '
	forge weakca root 30 "basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"certificatePolicies=$OID.1.1,$OID.2.3" \
		"nameConstraints=critical,permitted;email:.weak.example" &&
	mkdir weak && cp weakca.crt weak/ca.crt && cp weakca.key weak/ca.key &&
	forge weakleaf weak 30 \
		"$(leaf_ext "email:a@x.weak.example,DNS:www.bank.example")" &&
	openssl verify -CAfile root/root.crt -untrusted weakca.crt \
		weakleaf.crt &&
	test_expect_code 5 tandem-ca verify --anchor root/root.crt \
		--chain weakca.crt weakleaf.crt 2>err &&
	test_grep "weakca: private courier without critical email and DNS name constraints" err
'

test_expect_success 'forged courier CA under a private courier: status 5' '
	forge subca corp 30 "basicConstraints=critical,CA:TRUE" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"certificatePolicies=$OID.1.1,$OID.2.2" &&
	test_expect_code 5 tandem-ca verify -d corp subca.crt 2>err &&
	test_grep "subca: courier signed by example.org, whose role private may not sign couriers" err
'

# A private courier's path length 1 leaves room for its issuing CA
# only: a leaf under a forged courier is refused by the role rule, and
# one more level by OpenSSL's path length.
test_expect_success 'a leaf under that forged courier: status 5, one more level: 7' '
	mkdir subca && cp subca.crt subca/ca.crt && cp subca.key subca/ca.key &&
	forge deep subca 30 "$(leaf_ext email:x@example.org)" &&
	cat subca.crt corp/chain.pem >deepchain.pem &&
	test_expect_code 5 tandem-ca verify --anchor root/root.crt \
		--chain deepchain.pem deep.crt 2>err &&
	test_grep "subca: courier signed by example.org, whose role private may not sign couriers" err &&
	forge subsub subca 30 "basicConstraints=critical,CA:TRUE" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"certificatePolicies=$OID.1.1,$OID.2.2" &&
	mkdir subsub && cp subsub.crt subsub/ca.crt &&
	cp subsub.key subsub/ca.key &&
	forge deeper subsub 30 "$(leaf_ext email:y@example.org)" &&
	cat subsub.crt deepchain.pem >deeperchain.pem &&
	test_expect_code 7 tandem-ca verify --anchor root/root.crt \
		--chain deeperchain.pem deeper.crt 2>err &&
	test_grep "path length constraint exceeded" err
'

test_expect_success 'a certificate without a Tandem kind: status 5' '
	forge nokind isp 30 "basicConstraints=critical,CA:FALSE" \
		"subjectAltName=email:x@isp.example" &&
	test_expect_code 5 tandem-ca verify -d isp nokind.crt 2>err &&
	test_grep "nokind: not a Tandem certificate" err
'

test_expect_success 'a certificate under an untrusted root: status 1' '
	forge stranger evilsub 30 "$(leaf_ext email:x@evil.example)" &&
	tandem-ca verify -d evilsub stranger.crt &&
	test_expect_code 1 tandem-ca verify --anchor root/root.crt \
		--chain evilsub/chain.pem stranger.crt 2>err &&
	test_grep "stranger.crt: Evil Root: self-signed certificate in certificate chain" err &&
	test_expect_code 1 tandem-ca verify --anchor root/root.crt \
		stranger.crt 2>err &&
	test_grep "stranger.crt: stranger: unable to get local issuer certificate" err
'

test_expect_success 'a root that is not a root courier is no anchor: status 5' '
	tandem-ca verify -d evilsub evilsub/ca.crt &&
	forge plain corp 30 "$(leaf_ext email:p@example.org)" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout anchor.key -subj /CN=anchor -out anchor.crt 2>/dev/null &&
	mkdir an && cp anchor.crt an/ca.crt && cp anchor.key an/ca.key &&
	forge underanchor an 30 "$(leaf_ext email:u@x.example)" &&
	test_expect_code 5 tandem-ca verify --anchor anchor.crt underanchor.crt 2>err &&
	test_grep "trust anchor anchor is not a root courier" err
'

test_expect_success 'an expired certificate: status 3' '
	forge old corp -1 "$(leaf_ext email:old@example.org)" &&
	test_expect_code 3 tandem-ca verify -d corp old.crt 2>err &&
	test_grep "old: certificate has expired" err
'

test_expect_success 'the wrong address on --email: status 6' '
	test_expect_code 6 tandem-ca verify -d corp --email mallory@example.org \
		good.crt 2>err &&
	test_grep "good: certificate is not for mallory@example.org" err
'

test_expect_success 'a tampered certificate: status 2' '
	openssl x509 -in good.crt -outform DER -out good.der &&
	off=$(grep -obUa "eve@example.org" good.der | head -n 1 | cut -d: -f1) &&
	test -n "$off" &&
	printf M | dd of=good.der bs=1 seek="$off" conv=notrunc 2>/dev/null &&
	openssl x509 -inform DER -in good.der -out tampered.crt &&
	test_expect_code 2 tandem-ca verify -d corp tampered.crt 2>err &&
	test_grep "certificate signature failure" err
'

test_expect_success 'truncated and garbled PEM: status 65' '
	head -n 4 good.crt >trunc.crt &&
	test_expect_code 65 tandem-ca verify -d corp trunc.crt 2>err &&
	test_grep "trunc.crt: not a PEM certificate" err &&
	sed "3s/^..../!!!!/" good.crt >garbled.crt &&
	test_expect_code 65 tandem-ca verify -d corp garbled.crt 2>err &&
	test_grep "garbled.crt: not a PEM certificate" err &&
	: >empty.crt &&
	test_expect_code 65 tandem-ca verify -d corp empty.crt 2>err &&
	test_grep "empty.crt: not a PEM certificate" err &&
	head -c 3000 /dev/urandom >noise.crt &&
	test_expect_code 65 tandem-ca verify -d corp noise.crt 2>err &&
	test_expect_code 65 tandem-ca verify --anchor trunc.crt good.crt 2>err &&
	test_grep "trunc.crt: not a PEM certificate" err
'

test_expect_success 'missing files: status 66; bad usage: 64' '
	test_expect_code 66 tandem-ca verify -d corp nothere.crt 2>err &&
	test_grep "nothere.crt: No such file or directory" err &&
	test_expect_code 66 tandem-ca verify --anchor nothere.crt good.crt 2>err &&
	test_expect_code 64 tandem-ca verify good.crt 2>err &&
	test_expect_code 64 tandem-ca verify -d corp --anchor root/root.crt \
		good.crt 2>err &&
	test_expect_code 64 tandem-ca verify -d corp 2>err
'

test_done
