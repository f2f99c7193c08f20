#!/bin/sh
test_description='tandem open: an inner message beyond the MIME limits, and content sealed with CBC, are refused'
. "$TANDEM_SRC/t/test-lib.sh"

# A sender's agent is not trusted to seal only what an honest agent
# would: the inner message it seals is held to the limits the elements
# apply to outer mail (8 MIME levels, 256 parts) before the recipient's
# agent parses it, and content encrypted without authentication
# (EnvelopedData with AES-CBC: a changed ciphertext goes unnoticed) is
# refused whoever made it.

TANDEM_PASSWORD=alice-pw
export TANDEM_PASSWORD
echo bob-pw >bob.pw

sha256_hex() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
str_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
arm_field() { tr -d '\r' <"$2" | sed -n "s/^$1: //p"; }

# nested DEPTH PARTS MSGID: a message of DEPTH nested multiparts, the
# innermost holding PARTS text parts.
nested() {
	printf 'From: alice@a.example\r\nTo: bob@a.example\r\n'
	printf 'Subject: deep\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n' "$3"
	i=0
	while [ $i -lt $1 ]; do
		printf 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' $i $i
		i=$((i + 1))
	done
	printf 'Content-Type: text/plain\r\n\r\nhello\r\n'
	j=1
	while [ $j -lt $2 ]; do
		printf -- '--b%d\r\nContent-Type: text/plain\r\n\r\npart %d\r\n' $(($1 - 1)) $j
		j=$((j + 1))
	done
	while [ $i -gt 0 ]; do
		i=$((i - 1))
		printf -- '--b%d--\r\n' $i
	done
}

open_bob() {
	tandem open -d bob --password-file bob.pw --sealed "$1.der" \
		--arm "$1.arm" --out "$1.out"
}

test_expect_success 'a root, a courier and agents alice and bob' '
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

test_expect_success 'nested to the limit (7 multiparts, 8 levels): opened' '
	nested 7 1 m1@a.example >m1.eml &&
	tandem seal -d alice --to bob@a.example --in m1.eml \
		--sealed m1.der --arm m1.arm >/dev/null &&
	open_bob m1 &&
	test_cmp m1.eml m1.out
'

test_expect_success 'one level deeper: refused (65), nothing written' '
	nested 8 1 m2@a.example >m2.eml &&
	tandem seal -d alice --to bob@a.example --in m2.eml \
		--sealed m2.der --arm m2.arm >/dev/null &&
	test_expect_code 65 open_bob m2 2>err &&
	test_grep "inner message: MIME nesting deeper than 8 levels" err &&
	test ! -e m2.out
'

test_expect_success 'far deeper (200 levels): refused before the parser sees it' '
	nested 200 1 m3@a.example >m3.eml &&
	tandem seal -d alice --to bob@a.example --in m3.eml \
		--sealed m3.der --arm m3.arm >/dev/null &&
	test_expect_code 65 open_bob m3 2>err &&
	test_grep "inner message: MIME nesting deeper than 8 levels (200 multipart or message types)" err
'

test_expect_success 'too many parts (257): refused (65); 256 are opened' '
	nested 1 257 m4@a.example >m4.eml &&
	tandem seal -d alice --to bob@a.example --in m4.eml \
		--sealed m4.der --arm m4.arm >/dev/null &&
	test_expect_code 65 open_bob m4 2>err &&
	test_grep "inner message: more than 256 MIME parts" err &&
	nested 1 256 m5@a.example >m5.eml &&
	tandem seal -d alice --to bob@a.example --in m5.eml \
		--sealed m5.der --arm m5.arm >/dev/null &&
	open_bob m5 &&
	test_cmp m5.eml m5.out
'

test_expect_success 'the sealed content re-encrypted with AES-CBC under the same key: refused (65)' '
	key=$(arm_field Content-Key m1.arm) &&
	openssl cms -decrypt -inform DER -in m1.der -binary \
		-secretkey "$key" -secretkeyid "$(str_hex m1@a.example)" \
		-out m1.signed &&
	openssl cms -encrypt -binary -aes256 -inform DER -outform DER \
		-in m1.signed -secretkey "$key" \
		-secretkeyid "$(str_hex m1@a.example)" -out cbc.der &&
	openssl cms -cmsout -inform DER -in cbc.der -print >cbc.txt &&
	test_grep "contentType: pkcs7-envelopedData" cbc.txt &&
	test_grep "aes-256-cbc" cbc.txt &&
	sed "s/^Content-Digest: .*\$/Content-Digest: $(sha256_hex cbc.der)\r/" \
		m1.arm >cbc.arm &&
	test_expect_code 65 open_bob cbc 2>err &&
	test_grep "content encrypted without authentication (CMS EnvelopedData) refused" err &&
	test ! -e cbc.out
'

test_done
