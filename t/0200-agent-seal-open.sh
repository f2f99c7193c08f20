#!/bin/sh
test_description='tandem seal and open: the two halves of a private message'
. "$TANDEM_SRC/t/test-lib.sh"

TANDEM_PASSWORD=alice-pw
export TANDEM_PASSWORD
echo bob-pw >bob.pw

# hex of a file's SHA-256, and of a string's bytes
sha256_hex() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
str_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
arm_field() { tr -d '\r' <"$2" | sed -n "s/^$1: //p"; }
# flip_byte IN OUT: a copy of IN with its last-but-tenth byte changed
flip_byte() {
	_n=$(($(wc -c <"$1") - 10))
	{ head -c "$_n" "$1"; tail -c 10 "$1" | tr '\000-\377' '\001-\377\000'; } >"$2"
}

msg() {
	printf 'From: %s\r\nTo: bob@a.example\r\nSubject: the real subject\r\nMessage-ID: <%s>\r\n\r\nMeet at noon.\r\n' "$1" "$2"
}

test_expect_success 'a root, a courier and agents with certificates' '
	tandem-ca root -d root --name root.example &&
	tandem-ca courier -d ca --name a.example --role public --superior root &&
	tandem init -d alice --address alice@a.example --csr alice.csr &&
	tandem init -d bob --address bob@a.example --password-file bob.pw >bob.csr &&
	tandem-ca account -d ca --address alice@a.example --csr alice.csr &&
	tandem-ca account -d ca --address bob@a.example --csr bob.csr &&
	tandem import -d alice --cert ca/accounts/alice@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem &&
	tandem import -d bob --password-file bob.pw \
		--cert ca/accounts/bob@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem
'

test_expect_success 'the store holds the key only encrypted, with scrypt' '
	test_grep "BEGIN ENCRYPTED PRIVATE KEY" alice/store.db &&
	test_grep_not "BEGIN PRIVATE KEY" alice/store.db &&
	sqlite3 alice/store.db "SELECT value FROM config WHERE name = '\''key'\''" >key.pem &&
	openssl asn1parse -in key.pem >key.asn1 &&
	test_grep ":PBES2" key.asn1 &&
	test_grep ":scrypt" key.asn1 &&
	test_must_fail openssl pkey -in key.pem -passin pass:wrong -noout &&
	openssl pkey -in key.pem -passin pass:alice-pw -noout
'

test_expect_success 'init refuses a store that exists, and a bad address' '
	test_expect_code 73 tandem init -d alice --address alice@a.example 2>err &&
	test_grep "already exists" err &&
	test_expect_code 64 tandem init -d x --address "no address" 2>err &&
	test_grep "need one mail address" err
'

test_expect_success 'import refuses a certificate for another key' '
	test_expect_code 65 tandem import -d alice \
		--cert ca/accounts/bob@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem 2>err &&
	test_grep "not for this agent.s key" err
'

test_expect_success 'seal, then open: the same bytes' '
	msg "Alice <alice@a.example>" m1@a.example >m1.eml &&
	tandem seal -d alice --to bob@a.example --in m1.eml \
		--sealed m1.der --arm m1.arm >id &&
	echo m1@a.example >id.want && test_cmp id.want id &&
	test "$(arm_field Content-Digest m1.arm)" = "$(sha256_hex m1.der)" &&
	tandem open -d bob --password-file bob.pw --sealed m1.der --arm m1.arm \
		--out m1.out &&
	test_cmp m1.eml m1.out
'

test_expect_success 'stock openssl opens the sealed content' '
	openssl cms -decrypt -inform DER -in m1.der -binary \
		-secretkey "$(arm_field Content-Key m1.arm)" \
		-secretkeyid "$(str_hex m1@a.example)" -out m1.signed &&
	openssl cms -verify -inform DER -in m1.signed -binary \
		-CAfile root/root.crt -out m1.openssl &&
	test_cmp m1.eml m1.openssl
'

test_expect_success 'a wrong password cannot seal' '
	test_expect_code 77 env TANDEM_PASSWORD=wrong tandem seal -d alice \
		--to bob@a.example --in m1.eml --sealed x.der --arm x.arm 2>err &&
	test_grep "wrong password" err
'

test_expect_success 'altered sealed content: digest mismatch (11)' '
	flip_byte m1.der bad.der &&
	test_expect_code 11 tandem open -d bob --sealed bad.der --arm m1.arm 2>err &&
	test_grep "refused: sealed content does not match the digest" err
'

test_expect_success 'altered content with the digest fixed: tampered (10)' '
	sed "s/^Content-Digest: .*\$/Content-Digest: $(sha256_hex bad.der)\r/" \
		m1.arm >bad.arm &&
	test_expect_code 10 tandem open -d bob --sealed bad.der --arm bad.arm 2>err &&
	test_grep "refused: cannot decrypt" err
'

test_expect_success 'garbage is refused as bad data (65)' '
	echo "not CMS" >junk &&
	sed "s/^Content-Digest: .*\$/Content-Digest: $(sha256_hex junk)\r/" \
		m1.arm >junk.arm &&
	test_expect_code 65 tandem open -d bob --sealed junk --arm junk.arm 2>err &&
	test_grep "not a CMS" err &&
	test_expect_code 65 tandem open -d bob --sealed m1.der --arm junk 2>err
'

test_expect_success 'signer under another root: untrusted (12)' '
	tandem-ca root -d root2 --name evil.example &&
	tandem-ca courier -d ca2 --name m.example --role public --superior root2 &&
	tandem init -d mallory --address mallory@m.example --csr mallory.csr &&
	tandem-ca account -d ca2 --address mallory@m.example --csr mallory.csr &&
	tandem import -d mallory --cert ca2/accounts/mallory@m.example/agent.crt \
		--anchor root2/root.crt --chain ca2/chain.pem &&
	msg mallory@m.example m2@m.example >m2.eml &&
	tandem seal -d mallory --to bob@a.example --in m2.eml \
		--sealed m2.der --arm m2.arm &&
	test_expect_code 12 tandem open -d bob --sealed m2.der --arm m2.arm 2>err &&
	test_grep "refused: signer certificate does not chain" err
'

test_expect_success 'seal refuses a From: that is not the sender (65), writes nothing' '
	msg carol@a.example m3@a.example >m3.eml &&
	test_expect_code 65 tandem seal -d alice --to bob@a.example \
		--in m3.eml --sealed m3.der --arm m3.arm 2>err &&
	test_grep "From: carol@a.example is not your address alice@a.example" err &&
	! test -e m3.der && ! test -e m3.arm &&
	printf "From: alice@a.example\r\nFrom: carol@a.example\r\nTo: bob@a.example\r\n\r\nhi\r\n" >mf5.eml &&
	test_expect_code 65 tandem seal -d alice --to bob@a.example \
		--in mf5.eml --sealed mf5.der --arm mf5.arm 2>err &&
	test_grep "inner message has 2 From: headers" err &&
	printf "To: bob@a.example\r\n\r\nhi\r\n" >mf6.eml &&
	test_expect_code 65 tandem seal -d alice --to bob@a.example \
		--in mf6.eml --sealed mf6.der --arm mf6.arm 2>err &&
	test_grep "inner message has 0 From: headers" err
'

# What a modified agent would make: alice signs carol's From: with
# openssl, wraps it under a fresh content key, and writes the ARM.
forge_sealed() {
	sqlite3 alice/store.db "SELECT value FROM config WHERE name = 'key'" >ak.enc &&
	openssl pkey -in ak.enc -passin pass:alice-pw -out ak.pem &&
	openssl cms -sign -binary -nodetach -outform DER \
		-signer ca/accounts/alice@a.example/agent.crt -inkey ak.pem \
		-certfile ca/chain.pem -in "$1" -out "$2.signed" &&
	_k=$(openssl rand -hex 32) &&
	_kid=$(printf %s "$3" | od -An -tx1 | tr -d " \n") &&
	openssl cms -encrypt -binary -aes-256-gcm -secretkey "$_k" \
		-secretkeyid "$_kid" -in "$2.signed" -outform DER -out "$2.der" &&
	_d=$(sha256_hex "$2.der") &&
	sed -e "s/^Message-Id: .*/Message-Id: $3/" \
		-e "s/^Content-Key: .*/Content-Key: $_k/" \
		-e "s/^Content-Digest: .*/Content-Digest: $_d/" m1.arm >"$2.arm"
}

test_expect_success 'signer is not the From: address (13)' '
	forge_sealed m3.eml m3 m3@a.example &&
	test_expect_code 13 tandem open -d bob --sealed m3.der --arm m3.arm 2>err &&
	test_grep "refused: signer certificate is not for the From: address carol@a.example" err
'

test_expect_success 'an expired restricted message is refused (14)' '
	msg alice@a.example m4@a.example >m4.eml &&
	test_expect_code 64 tandem seal -d alice --to bob@a.example \
		--expires 2020-01-01 --in m4.eml --sealed m4.der --arm m4.arm 2>err &&
	test_grep "future date" err &&
	tandem seal -d alice --to bob@a.example --expires 1 --no-forward \
		--in m4.eml --sealed m4.der --arm m4.arm &&
	sleep 2 &&
	test_expect_code 14 tandem open -d bob --sealed m4.der --arm m4.arm 2>err &&
	test_grep "refused: message m4@a.example expired" err
'

test_expect_success 'opens beyond the maximum are refused (15)' '
	msg alice@a.example m5@a.example >m5.eml &&
	tandem seal -d alice --to bob@a.example --max-opens 2 --expires 3600 \
		--in m5.eml --sealed m5.der --arm m5.arm &&
	tandem open -d bob --sealed m5.der --arm m5.arm >o1 &&
	tandem open -d bob --sealed m5.der --arm m5.arm >o2 &&
	test_cmp m5.eml o2 &&
	test_expect_code 15 tandem open -d bob --sealed m5.der --arm m5.arm 2>err &&
	test_grep "already opened 2 times (at most 2)" err
'

test_expect_success 'an RSA agent seals and opens too' '
	tandem init -d carol --key rsa --address carol@a.example --csr carol.csr &&
	tandem-ca account -d ca --address carol@a.example --csr carol.csr &&
	tandem import -d carol --cert ca/accounts/carol@a.example/agent.crt \
		--anchor root/root.crt --chain ca/chain.pem &&
	tandem seal -d carol --to bob@a.example --in m3.eml \
		--sealed m6.der --arm m6.arm &&
	tandem open -d bob --sealed m6.der --arm m6.arm >m6.out &&
	test_cmp m3.eml m6.out
'

test_expect_success 'usage errors' '
	test_expect_code 64 tandem 2>err &&
	test_expect_code 64 tandem frobnicate 2>err &&
	test_expect_code 64 tandem open -d bob --sealed m1.der 2>err &&
	test_grep "need --sealed and --arm" err &&
	test_expect_code 66 tandem open -d nowhere --sealed m1.der --arm m1.arm 2>err &&
	test_grep "tandem init" err
'

test_done
