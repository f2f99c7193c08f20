test_description='end to end: ordinary mail passes the milter byte for byte; forged Tandem mail does not'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

# Mail without a Tandem-Kind header is not Tandem traffic: the milter
# accepts it at end of headers and Postfix delivers it as it came, only
# prefixed with the trace headers of its own delivery.

test_expect_success_here 'a courier foreground element' '
	courier_pki a.example && courier_fg_start
'

# smtp MSGFILE FROM TO...: submit MSGFILE (LF lines) to the milter's
# smtpd, as CRLF with the closing dot; swaks output in swaks.out.
smtp() {
	_m=$1 _f=$2
	shift 2
	sed 's/$/\r/' "$_m" >"$_m.crlf" && printf '.\r\n' >>"$_m.crlf" &&
	_to=$(printf '%s,' "$@") &&
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from "$_f" \
	    --to "${_to%,}" --data @"$_m.crlf" >swaks.out 2>&1
}

# delivered_is FILE ORIGINAL: FILE is ORIGINAL after the headers Postfix
# prepends (Return-Path, X-Original-To, Delivered-To, Received), and
# nothing else.
delivered_is() {
	_n=$(wc -c <"$2") &&
	tail -c "$_n" "$1" >tail.got &&
	test_cmp "$2" tail.got &&
	head -c "$(( $(wc -c <"$1") - _n ))" "$1" >head.got || return 1
	grep -v -e "^Return-Path: " -e "^Delivered-To: " -e "^Received: " \
	    -e "^X-Original-To: " -e "^[ 	]" head.got >extra.got
	test_must_fail test -s extra.got || { cat extra.got; return 1; }
}

milter_plain_eml dave@a.example

test_expect_success 'plain text mail arrives byte for byte' '
	smtp plain.eml carol@a.example dave@a.example &&
	test_grep "^<-  250 2.0.0 Ok: queued" swaks.out &&
	f=$(maildir_wait dave "^Message-ID: <plain-1@a.example>" 30) &&
	delivered_is "$f" plain.eml
'

milter_mime_eml dave@a.example erin@a.example

test_expect_success 'a MIME message to two recipients arrives intact for both' '
	smtp mime.eml carol@a.example dave@a.example erin@a.example &&
	for u in dave erin; do
		f=$(maildir_wait $u "^Message-ID: <mime-1@a.example>" 30) &&
		delivered_is "$f" mime.eml || return 1
	done
'

test_expect_success 'a large message (about 2 MB) passes intact' '
	{
		printf "From: carol@a.example\nTo: erin@a.example\nSubject: big\n"
		printf "Date: Sat, 28 Nov 2026 23:52:00 +0000\n"
		printf "Message-ID: <big-1@a.example>\n\n"
		head -c 1500000 /dev/urandom | base64 -w 76
	} >big.eml &&
	smtp big.eml carol@a.example erin@a.example &&
	f=$(maildir_wait erin "^Message-ID: <big-1@a.example>" 30) &&
	delivered_is "$f" big.eml
'

test_expect_success 'Tandem content from an address with no account is refused for good' '
	{
		printf "From: mallory@a.example\nTo: dave@a.example\n"
		printf "Subject: Tandem private message\nMessage-ID: <forged-1@a.example>\n"
		printf "MIME-Version: 1.0\nTandem-Kind: content\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\n"
		printf "Content-Transfer-Encoding: base64\n\n"
		echo "let me in" | openssl cms -encrypt -binary -aes256 \
		    -outform DER "$CR_CA/elements/fg.crt" | base64 -w 76
	} >forged.eml &&
	test_must_fail smtp forged.eml mallory@a.example dave@a.example &&
	test_grep "^<\*\* 5[0-9][0-9] 5\." swaks.out &&
	sleep 1 &&
	test_must_fail cr_maildir_match dave "forged-1@a.example" &&
	test_grep "from=mallory@a.example status=reject reason=\"5.7.1 sender mallory@a.example is not registered here\"" "$TRASH/fg/milter.log"
'

test_expect_success 'an unknown Tandem-Kind is refused for good, and said so' '
	sed "s/^Tandem-Kind: content/Tandem-Kind: gossip/; s/forged-1/forged-2/" forged.eml >gossip.eml &&
	test_must_fail smtp gossip.eml mallory@a.example dave@a.example &&
	test_grep "^<\*\* 5[0-9][0-9] 5\." swaks.out &&
	sleep 1 &&
	test_must_fail cr_maildir_match dave "forged-2@a.example" &&
	test_grep "^<\*\* 550 5.6.0 bad Tandem mail: Tandem-Kind: unknown kind" swaks.out
'

test_expect_success 'the milter is alive, the queue empty, nothing bounced' '
	cr_daemon_alive milter &&
	postfix_wait_queue_empty fg 30 &&
	test_grep_not "status=bounced" "$TRASH/postfix-fg/maillog" &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/fg/milter.log"
'

test_done
