#!/bin/sh
test_description='tandem-ca builds the courier hierarchy and every leaf verifies'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

# An agent's key and CSR, as the agent makes them: the key stays here.
agent_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
}

echo ok >expect_ok

test_expect_success 'root courier' '
	tandem-ca root -d root --name "Tandem Root" &&
	test -s root/ca.crt && cmp root/ca.crt root/root.crt &&
	cmp root/ca.crt root/chain.pem
'

test_expect_success 'public, private (RSA) and gateway couriers' '
	tandem-ca courier -d isp --name isp.example --role public \
		--superior root &&
	tandem-ca courier -d corp --name example.org --role private \
		--domain example.org --superior isp --key rsa --days 100 &&
	tandem-ca courier -d gw --name gw.example --role gateway \
		--superior root &&
	tandem-ca courier -d corp2 --name corp2.example --role private \
		--domain corp2.example --superior gw &&
	test $(grep -c "BEGIN CERTIFICATE" corp/chain.pem) = 3 &&
	test $(grep -c "BEGIN CERTIFICATE" corp2/chain.pem) = 3 &&
	cmp root/ca.crt corp/root.crt
'

test_expect_success 'the private courier carries its role, pathlen 1 and critical name constraints' '
	openssl x509 -in corp/ca.crt -noout -text >corp.txt &&
	test_grep "Policy: 2.25.109992342083808958172386236843414805153.2.3" corp.txt &&
	test_grep "CA:TRUE, pathlen:1" corp.txt &&
	test_grep "Name Constraints: critical" corp.txt &&
	test_grep "email:.example.org" corp.txt &&
	test_grep "DNS:example.org" corp.txt &&
	test_grep "IP:0.0.0.0/0.0.0.0" corp.txt &&
	test_grep "Public Key Algorithm: rsaEncryption" corp.txt &&
	test_grep "Public-Key: (3072 bit)" corp.txt &&
	openssl x509 -in isp/ca.crt -noout -text >isp.txt &&
	test_grep_not "Name Constraints" isp.txt
'

test_expect_success 'every courier CA verifies to the root' '
	for d in root isp corp gw corp2; do
		tandem-ca verify -d $d $d/ca.crt >out &&
		test_cmp expect_ok out || return 1
	done
'

test_expect_success 'element certificates' '
	tandem-ca element -d corp --fg tandem@example.org &&
	tandem-ca element -d corp --bg https://bg.example.org:8443/tandem &&
	tandem-ca element -d isp --fg tandem@isp.example &&
	tandem-ca element -d isp --bg https://bg.isp.example/ --key rsa &&
	tandem-ca element -d gw --fg tandem@gw.example &&
	tandem-ca element -d corp2 --bg https://bg.corp2.example &&
	for c in corp/elements/fg.crt corp/elements/bg.crt \
	    isp/elements/fg.crt isp/elements/bg.crt gw/elements/fg.crt \
	    corp2/elements/bg.crt; do
		tandem-ca verify -d ${c%%/*} $c >out &&
		test_cmp expect_ok out || return 1
	done &&
	tandem-ca verify -d corp --email tandem@example.org \
		corp/elements/fg.crt >out && test_cmp expect_ok out &&
	openssl x509 -in corp/elements/fg.crt -noout -text >fg.txt &&
	test_grep "Signature Algorithm: rsassaPss" fg.txt &&
	test_grep "ASN1 OID: prime256v1" fg.txt
'

test_expect_success 'BG certificate: URI and DNS names, TLS server and client' '
	openssl x509 -in corp/elements/bg.crt -noout -ext subjectAltName >san &&
	test_grep "DNS:bg.example.org, URI:https://bg.example.org:8443/tandem" san &&
	openssl verify -purpose sslserver -CAfile root/root.crt \
		-untrusted corp/chain.pem corp/elements/bg.crt &&
	openssl verify -purpose sslclient -CAfile root/root.crt \
		-untrusted corp/chain.pem corp/elements/bg.crt
'

test_expect_success 'accounts: courier-end key and certificate, agent certificate from its CSR' '
	agent_csr alice && agent_csr bob && agent_csr carol &&
	tandem-ca account -d corp --address alice@example.org --csr alice.csr &&
	tandem-ca account -d isp --address bob@isp.example --csr bob.csr &&
	tandem-ca account -d corp2 --address carol@corp2.example \
		--csr carol.csr --days 30 &&
	for a in corp/accounts/alice@example.org:alice@example.org \
	    isp/accounts/bob@isp.example:bob@isp.example \
	    corp2/accounts/carol@corp2.example:carol@corp2.example; do
		d=${a%%:*} addr=${a#*:}
		for c in courier agent; do
			tandem-ca verify -d ${d%%/*} --email $addr \
				$d/$c.crt >out &&
			test_cmp expect_ok out || return 1
		done
	done
'

test_expect_success 'the agent certificate holds the agent key, which never left it' '
	openssl x509 -in corp/accounts/alice@example.org/agent.crt -noout \
		-pubkey >cert.pub &&
	openssl pkey -in alice.key -pubout >alice.pub &&
	test_cmp alice.pub cert.pub &&
	test_must_fail ls corp/accounts/alice@example.org/agent.key
'

test_expect_success 'kinds are marked' '
	openssl x509 -in corp/accounts/alice@example.org/courier.crt \
		-noout -text >ce.txt &&
	test_grep "Policy: 2.25.109992342083808958172386236843414805153.1.4" ce.txt &&
	test_grep "Key Agreement" ce.txt &&
	openssl x509 -in corp/accounts/alice@example.org/agent.crt \
		-noout -text >ag.txt &&
	test_grep "Policy: 2.25.109992342083808958172386236843414805153.1.5" ag.txt &&
	test_grep "E-mail Protection" ag.txt
'

test_expect_success 'key files are 0600' '
	for k in root/ca.key corp/ca.key corp/elements/fg.key \
	    corp/elements/bg.key corp/accounts/alice@example.org/courier.key; do
		test "$(stat -c %a $k)" = 600 || { echo "$k"; return 1; }
	done
'

test_expect_success 'nothing is overwritten' '
	cp root/ca.key saved.key &&
	test_expect_code 73 tandem-ca root -d root --name again 2>err &&
	test_grep "root/ca.key: exists, refusing to overwrite" err &&
	cmp saved.key root/ca.key &&
	test_expect_code 73 tandem-ca element -d corp \
		--fg other@example.org 2>err &&
	test_grep "fg.key: exists" err &&
	test_expect_code 73 tandem-ca account -d corp \
		--address alice@example.org --csr alice.csr 2>err &&
	test_grep "courier.key: exists" err
'

test_expect_success 'the CA refuses to issue what the hierarchy refuses' '
	tandem-ca courier -d corp3 --name corp3 --role private \
		--domain corp3.example --superior root &&
	test_expect_code 77 tandem-ca courier -d sub --name sub \
		--role public --superior corp 2>err &&
	test_grep "refusing to issue: sub: courier signed by example.org, whose role private may not sign couriers" err &&
	test_must_fail ls sub/ca.key &&
	test_expect_code 77 tandem-ca element -d corp3 \
		--fg tandem@example.org 2>err &&
	test_grep "refusing to issue: tandem@example.org: permitted subtree violation" err &&
	test_expect_code 77 tandem-ca element -d corp3 \
		--bg https://bg.evil.example/ 2>err &&
	test_grep "permitted subtree violation" err &&
	test_expect_code 77 tandem-ca account -d corp \
		--address mallory@evil.example --csr bob.csr 2>err &&
	test_grep "permitted subtree violation" err &&
	test_must_fail ls corp3/elements/fg.key corp/accounts/mallory@evil.example
'

test_expect_success 'bad usage is refused with status 64' '
	test_expect_code 64 tandem-ca courier -d x --name x --role private \
		--superior root 2>err &&
	test_grep "domain is required for a private courier" err &&
	test_expect_code 64 tandem-ca courier -d x --name x --role public \
		--domain x.example --superior root 2>err &&
	test_expect_code 64 tandem-ca courier -d x --name x --role root \
		--superior root 2>err &&
	test_expect_code 64 tandem-ca root -d x --name x --key dsa 2>err &&
	test_grep "key: ec or rsa" err &&
	test_expect_code 64 tandem-ca root -d x --name x --days 0 2>err &&
	test_expect_code 64 tandem-ca element -d corp --bg http://bg.example.org/ 2>err &&
	test_grep "bad URL" err &&
	test_expect_code 64 tandem-ca element -d corp --fg a@b.example \
		--bg https://b.example/ 2>err &&
	test_expect_code 64 tandem-ca account -d corp --address ../x@example.org \
		--csr bob.csr 2>err &&
	test_grep "bad address" err &&
	test_expect_code 64 tandem-ca account -d corp --address nobody \
		--csr bob.csr 2>err &&
	test_expect_code 64 tandem-ca frobnicate 2>err &&
	test_expect_code 64 tandem-ca 2>err &&
	test_must_fail ls x
'

test_expect_success 'missing and garbled inputs' '
	test_expect_code 66 tandem-ca courier -d y --name y --role public \
		--superior nowhere 2>err &&
	test_grep "nowhere/ca.key: No such file or directory" err &&
	echo garbage >bad.csr &&
	test_expect_code 65 tandem-ca account -d corp \
		--address dave@example.org --csr bad.csr 2>err &&
	test_grep "bad.csr: not a PEM certificate request" err &&
	test_expect_code 66 tandem-ca account -d corp \
		--address dave@example.org --csr none.csr 2>err
'

test_expect_success 'every option is in the manual' '
	sed -n "s/^[[:space:]]*{ \"\([a-z]*\)\", required_argument.*/\1/p" \
		"$TANDEM_SRC/certauth/tandem-ca.c" >opts &&
	test $(wc -l <opts) -ge 14 &&
	while read -r o; do
		grep -q "Fl -$o" "$TANDEM_SRC/certauth/tandem-ca.1" ||
		{ echo "--$o undocumented"; return 1; }
	done <opts
'

test_done
