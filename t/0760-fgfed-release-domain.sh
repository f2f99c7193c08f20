test_description='tandem-milter: an introduction releases held mail for every address under its Domain fields'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

# Couriers a (public) and b (private, domain b.example, under a). a and
# b run: each a Postfix with its milter.
# One reinjection Postfix serves both (no milter); mail for users of
# every domain ends in one smtp-sink, service mailboxes at their courier.
#
# a does not know b. alice at a writes to bob and dave at b and to
# zed@z.example: a holds the three and invites them. Then b's FG
# introduces itself to a with Domain: b.example and no Address: a sends
# the held mail of bob and dave on to b (its invitations withdrawn), and
# keeps zed's. The next message to dave goes to b by rule 4.
FGFED_SINK_DOMAINS=z.example
. "$TANDEM_SRC/t/lib-fgfed.sh"

test_expect_success 'two couriers, their FG elements and accounts' '
	fgfed_pki a b
'

test_expect_success_here 'a foreground database for a and for b' '
	fgfed_databases
'


test_expect_success_here 'the milters, the Postfix instances and the sink start' '
	fgfed_start
'

# sink_wait_content RCPT: the sink dump of a content mail for RCPT
sink_wait_content() {
	n=0
	while [ $n -lt 150 ]; do
		for f in $(smtp_sink_files out); do
			grep -q "^Tandem-Kind: content" "$f" &&
			grep -q "X-Rcpt-Args: <$1>" "$f" && { echo "$f"; return 0; }
		done
		sleep 0.2; n=$((n + 1))
	done
	echo "sink_wait_content: no content mail for $1" >&2
	return 1
}

# intro OUT ID DOMAIN...: an introduction of b's FG, no Address
intro() {
	_out=$1 _id=$2
	shift 2
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.introduction\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s\r\nDate: %s\r\n" "$_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf "Courier: b.example\r\nRole: private\r\n"
		printf "Element: foreground\r\nElement-Address: tandem@b.example\r\n"
		for _d; do printf "Domain: %s\r\n" "$_d"; done
		for _p in element-cert:b/elements/fg.crt ca-chain:b/chain.pem; do
			printf -- "--b1\r\nContent-Type: application/pem-certificate-chain\r\n"
			printf "Content-Transfer-Encoding: base64\r\nTandem-Part: %s\r\n\r\n" "${_p%%:*}"
			base64 -w 76 "${_p#*:}" | sed "s/\$/\r/"
		done
		printf -- "--b1--\r\n"
	} >"$_out.txt"
}

# intro_send NAME: NAME.txt signed by b's FG, enveloped to a's FG,
# mailed from tandem@b.example to a's service mailbox
intro_send() {
	openssl cms -sign -binary -nodetach -in "$1.txt" -outform DER \
	    -signer b/elements/fg.crt -inkey b/elements/fg.key \
	    -certfile b/chain.pem -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$1.signed" \
	    -inform DER -outform DER -recip a/elements/fg.crt \
	    -keyopt ecdh_kdf_md:sha256 -out "$1.der" &&
	mail "$1" inter-courier tandem@b.example tandem@a.example "$1.der" &&
	send "$a_addr:$a_port" "$1" tandem@b.example tandem@a.example
}

# content NAME TO...: alice's content mail around the sealed stand-in
content() {
	_n=$1
	shift
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in m.signed \
	    -out $_n.der a/accounts/alice@a.example/courier.crt &&
	mail $_n content alice@a.example "$(echo "$@" | sed "s/ /, /g")" $_n.der &&
	swaks --server "$a_addr:$a_port" --from alice@a.example \
	    --to "$(echo "$@" | tr " " ,)" --data "@$_n" >swaks.out 2>&1
}

# held: "recipient released" per held row of a, by recipient
held() {
	pg_psql fg fga -At -c "SELECT recipient, released_at IS NOT NULL FROM held_messages ORDER BY recipient"
}

# invited: "address status" per invitation of a, by address
invited() {
	pg_psql fg fga -At -c "SELECT address, status FROM invitations ORDER BY address"
}

test_expect_success 'alice writes to bob, dave and zed: a knows no route, holds and invites each' '
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -out sealed.der &&
	openssl cms -sign -binary -nodetach -outform DER -in sealed.der \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -certfile a/chain.pem -out m.signed &&
	content m1 bob@b.example dave@b.example zed@z.example &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "m1@a.example.*rcpt=zed@z.example route=hold-and-invite" &&
	printf "%s|f\n" bob@b.example dave@b.example zed@z.example >want &&
	held >got && test_cmp want got &&
	printf "%s|pending\n" bob@b.example dave@b.example zed@z.example >want &&
	invited >got && test_cmp want got &&
	sink_wait "X-Rcpt-Args: <dave@b.example>" >/dev/null
'

test_expect_success 'b claims a domain outside its name constraints: refused, nothing released' '
	intro i0 i0@b.example b.example z.example &&
	test_must_fail intro_send i0 &&
	test_grep "550 5.7.7" swaks.out &&
	test_wait_log a.log "reason=\"5.7.7 introduction: .*z.example" &&
	printf "%s|f\n" bob@b.example dave@b.example zed@z.example >want &&
	held >got && test_cmp want got &&
	test "$(pg_psql fg fga -At -c "SELECT count(*) FROM introductions")" = 0
'

test_expect_success 'b introduces itself with Domain: b.example only: a sends bob'"'"'s and dave'"'"'s mail on' '
	intro i1 i1@b.example b.example &&
	intro_send i1 &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "introduction=b.example addresses=0 released=2" &&
	test_grep "released msgid=m1@a.example rcpt=bob@b.example to=b.example" a.log &&
	test_grep "released msgid=m1@a.example rcpt=dave@b.example to=b.example" a.log &&
	test_grep "withdrawn invitation rcpt=bob@b.example courier=b.example" a.log &&
	printf "bob@b.example|t\ndave@b.example|t\nzed@z.example|f\n" >want &&
	held >got && test_cmp want got &&
	printf "bob@b.example|rejected\ndave@b.example|rejected\nzed@z.example|pending\n" >want &&
	invited >got && test_cmp want got &&
	echo "b.example|{b.example}" >want &&
	pg_psql fg fga -At -c "SELECT courier, domains FROM introductions" >got &&
	test_cmp want got
'

test_expect_success 'b delivers both to its users; the sealed content is the one alice sent' '
	test_wait_log b.log "msgid=m1@a.example origin=a.example hops=1 rcpt=bob@b.example route=deliver-local" &&
	test_wait_log b.log "msgid=m1@a.example origin=a.example hops=1 rcpt=dave@b.example route=deliver-local" &&
	f=$(sink_wait_content dave@b.example) &&
	test_grep "^From: alice@a.example" "$f" &&
	smtp_sink_body "$f" | base64 -d >new.der &&
	openssl cms -decrypt -inform DER -in new.der \
	    -recip b/accounts/dave@b.example/agent.crt \
	    -inkey dave@b.example.key -out new.signed &&
	openssl cms -verify -inform DER -in new.signed -CAfile root/root.crt \
	    -purpose any -out got.der 2>/dev/null &&
	cmp sealed.der got.der
'

test_expect_success 'the same introduction again is a duplicate and releases nothing' '
	intro_send i1 &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "introduction=b.example duplicate=yes" &&
	test "$(grep -c "released msgid=m1@a.example rcpt=dave@b.example" a.log)" = 1
'

test_expect_success 'the next message to dave goes to b by the domain (rule 4), not held' '
	printf "another sealed content stand-in\n" >inner2 &&
	openssl cms -sign -binary -nodetach -outform DER -in inner2 \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -out sealed2.der &&
	openssl cms -sign -binary -nodetach -outform DER -in sealed2.der \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -certfile a/chain.pem -out m.signed &&
	content m2 dave@b.example &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "m2@a.example.*rcpt=dave@b.example route=to-introduced-courier.*to=b.example" &&
	test_wait_log b.log "msgid=m2@a.example origin=a.example hops=1 rcpt=dave@b.example route=deliver-local" &&
	test "$(pg_psql fg fga -At -c "SELECT count(*) FROM held_messages WHERE message_id = \$\$m2@a.example\$\$")" = 0
'

test_done
