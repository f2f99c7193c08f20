test_description='tandem-milter: Tandem content encrypted with CBC is refused, foreign S/MIME passes, a hostile courier name comes out escaped'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

# The foreground of 0500 (a public courier a.example, alice and bob
# registered), then three kinds of hostile mail:
#  - Tandem content whose wrap is EnvelopedData with AES-256-CBC (a
#    changed ciphertext would go unnoticed): refused, 5.6.0, saying so;
#  - ordinary S/MIME encrypted with AES-256-CBC by someone outside:
#    not Tandem's business, it passes byte for byte;
#  - inter-courier mail from a courier that the root certified under a
#    name with quotes, control bytes, a percent sign and key=value text:
#    refused, with the name escaped in the SMTP reply and in the log.

test_have_prog swaks || test_skip_all 'swaks is missing'

fg_addr=$(pf_random_addr) re_addr=$(pf_random_addr) sink_addr=$(pf_random_addr)
fg_port=$(pf_random_port) re_port=$(pf_random_port) sink_port=$(pf_random_port)

test_expect_success 'a courier with an FG element and two accounts' '
	milter_pki alice bob mallory
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob
'

milter_conf "$re_addr:$re_port"

test_expect_success 'tandem-milter -n checks the configuration' '
	tandem-milter -c tandem.conf -n >out &&
	echo "configuration OK" >want && test_cmp want out &&
	echo "courier { colour = red }" >bad.conf &&
	test_expect_code 78 tandem-milter -c bad.conf -n >out &&
	test_grep "bad.conf:1" out
'

test_expect_success_here 'the milter, the reinjection smtpd and the MTA start' '
	milter_mta_start
'

# send FILE FROM TO...: swaks through the FG's Postfix, reply in swaks.out
send() {
	f=$1 from=$2; shift 2
	to=$(echo "$@" | tr " " ",")
	swaks --server "$fg_addr:$fg_port" --from "$from" --to "$to" \
	    --data "@$f" >swaks.out 2>&1
}

# wrap NAME SIGNER-CERT SIGNER-KEY CHAIN TO-CERT CIPHER: IN signed, then
# enveloped with CIPHER (-aes-256-gcm or -aes256), DER in NAME.der
wrap() {
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer "$2" -inkey "$3" -certfile "$4" -out "$1.signed" &&
	openssl cms -encrypt -binary "$6" -outform DER -in "$1.signed" \
	    -out "$1.der" "$5"
}

# mail NAME KIND FROM TO: the Tandem mail carrying NAME.der
mail() {
	{
		printf "From: %s\r\nTo: %s\r\n" "$3" "$4"
		printf "Subject: Tandem private message\r\nMessage-ID: <%s@a.example>\r\n" "$1"
		printf "MIME-Version: 1.0\r\nTandem-Kind: %s\r\n" "$2"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 "$1.der" | sed "s/\$/\r/"
	} >"$1"
}

test_expect_success 'a content mail from alice wrapped with GCM is accepted' '
	printf "sealed content stand-in\n" >inner &&
	a=isp/accounts/alice@a.example &&
	wrap gcm $a/agent.crt alice.key isp/chain.pem $a/courier.crt -aes-256-gcm &&
	mail gcm content alice@a.example bob@a.example &&
	send gcm alice@a.example bob@a.example &&
	test_grep "250 " swaks.out
'

test_expect_success 'the same wrapped with AES-256-CBC: 550 5.6.0, saying why' '
	a=isp/accounts/alice@a.example &&
	wrap cbc $a/agent.crt alice.key isp/chain.pem $a/courier.crt -aes256 &&
	openssl cms -cmsout -inform DER -in cbc.der -print | grep -q "contentType: pkcs7-envelopedData" &&
	mail cbc content alice@a.example bob@a.example &&
	test_must_fail send cbc alice@a.example bob@a.example &&
	test_grep "550 5.6.0 bad Tandem content: content encrypted without authentication (CMS EnvelopedData) refused" swaks.out &&
	test_grep "status=reject reason=\"5.6.0 bad Tandem content: content encrypted without authentication" milter.log
'

test_expect_success 'foreign S/MIME encrypted with AES-256-CBC passes byte for byte' '
	printf "Content-Type: text/plain\r\n\r\nfor carol only\r\n" >secret &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout carol.key -out carol.crt -days 2 -subj /CN=carol \
	    -addext subjectAltName=email:carol@b.example 2>/dev/null &&
	openssl cms -encrypt -aes256 -in secret -out smime.part carol.crt &&
	grep -q "smime-type=enveloped-data" smime.part &&
	{
		printf "From: alice@a.example\r\nTo: carol@b.example\r\n"
		printf "Subject: S/MIME from outside\r\nMessage-ID: <smime-1@a.example>\r\n"
		sed "s/\r*\$/\r/" smime.part
	} >smime.eml &&
	sed -n "/^\r*\$/,\$p" smime.eml | sed 1d | tr -d "\r" >want &&
	# swaks ends the data with a CRLF of its own: send it without the last
	head -c -2 smime.eml >smime &&
	n0=$(smtp_sink_files out | wc -l) &&
	send smime alice@a.example carol@b.example &&
	test_grep "250 " swaks.out &&
	postfix_wait_queue_empty fg 30 &&
	grep -l "smime-1@a.example" $(smtp_sink_files out) >sfiles &&
	test $(wc -l <sfiles) -eq 1 &&
	smtp_sink_body "$(cat sfiles)" >got &&
	test_cmp want got &&
	openssl cms -decrypt -in "$(cat sfiles)" -recip carol.crt \
	    -inkey carol.key -out opened &&
	test_grep "for carol only" opened
'

test_expect_success 'the root certifies a courier named with quotes, control bytes, % and fields' '
	tandem-ca courier -d evil --role public --superior root \
	    --name "$(printf "ev\"il\001 100%% status=accepted\r\nforged=yes")" >/dev/null &&
	tandem-ca element -d evil --fg tandem@evil.example >/dev/null &&
	openssl x509 -in evil/ca.crt -noout -subject | grep -q "status=accepted"
'

test_expect_success 'its inter-courier mail: 550 5.7.7, the name escaped in the reply' '
	printf "not even a protocol message\n" >inner &&
	wrap ic evil/elements/fg.crt evil/elements/fg.key evil/chain.pem \
	    isp/elements/fg.crt -aes-256-gcm &&
	mail ic inter-courier tandem@evil.example tandem@a.example &&
	test_must_fail send ic tandem@evil.example tandem@a.example &&
	grep "<\*\* *550" swaks.out >reply &&
	test $(wc -l <reply) = 1 &&
	test_grep "550 5.7.7 inter-courier: signer: introduction: courier CA name \\\\x22ev\\\\x22il? 100\\\\x25 status=accepted??forged=yes\\\\x22 is not a domain-like name" reply
'

test_expect_success 'and in the log: one line, no quote but the reason'"'"'s own' '
	grep "from=tandem@evil.example status=reject" milter.log >line &&
	test $(wc -l <line) = 1 &&
	test "$(grep -o "\"" line | wc -l)" = 2 &&
	test_grep "reason=\"5.7.7 inter-courier: signer: introduction: courier CA name \\\\x22ev" line &&
	test_grep_not "^forged" milter.log
'

test_expect_success 'the milter is still alive' '
	kill -0 "$(cat milter.pid)"
'

test_done
