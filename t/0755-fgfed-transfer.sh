test_description='tandem-milter between couriers: a registration transfer (fig. 5, doc/flows.md 9) from private b to public a, the agent played by t/milter-svcmail; who may not take or move an address'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

# Couriers a (public) and b (private, b.example, under a) run, as in
# t/0750; c (private, c.example) does not: its FG element forges. bob
# moves from b to a. His agent's part (doc/flows.md 9 step 7) is
# played with openssl and t/milter-svcmail, which checks nothing.
FGFED_SINK_DOMAINS=c.example
. "$TANDEM_SRC/t/lib-fgfed.sh"

svcmail=$TANDEM_BUILD/t/milter-svcmail

test_expect_success 'three couriers, their FG elements and accounts; a issues for b.example too' '
	fgfed_pki a b c &&
	rm -r a/issuing &&
	tandem-ca issuing -d a --domain a.example --domain b.example >/dev/null
'

test_expect_success_here 'a foreground database for a and for b, each with its background URL' '
	fgfed_databases &&
	for x in a b; do
		printf "background { url = \"https://bg.%s.example:8443\" }\n" \
		    $x >>$x.conf || return 1
	done
'

# sql X QUERY: on X's foreground database, unaligned.
sql() {
	pg_psql fg fg$1 -At -c "$2"
}

# intro X Y: X's FG learns Y's FG introduction.
intro() {
	tandemctl intro add --db "$(pg_conninfo fg fg$1)" \
	    --cert $2/elements/fg.crt --chain $2/chain.pem \
	    --anchors root/root.crt >/dev/null
}

# transfer X VERB ADDRESS [OPTION COURIER]: tandemctl transfer at X.
transfer() {
	_x=$1
	shift
	tandemctl transfer "$1" --db "$(pg_conninfo fg fg$_x)" "${@:2}"
}

# relay X ADDRESS KIND KEY CERT OUT: the newest bg_relay body of KIND
# for ADDRESS at X, opened with KEY for CERT; the signer in OUT.signer.
relay() {
	sql $1 "SELECT encode(body, 'base64') FROM bg_relay WHERE
	    address = '$2' AND kind = '$3' ORDER BY id DESC LIMIT 1" |
	    base64 -d >"$6.der" &&
	test -s "$6.der" &&
	openssl cms -decrypt -inform DER -in "$6.der" -recip "$5" \
	    -inkey "$4" -out "$6.signed" &&
	openssl cms -verify -noverify -inform DER -in "$6.signed" \
	    -signer "$6.signer" -out "$6" 2>/dev/null
}

# agent NAME KEY CERTS KIND FIELD=VALUE...: bob's service mail NAME,
# signed with KEY and the certificates CERTS, enveloped to a's FG
# element, mailed to a; the dialogue in swaks.out.
agent() {
	_n=$1 _k=$2 _c=$3 _kind=$4
	shift 4
	"$svcmail" "$_k" "" "$_c" a/elements/fg.crt bob@b.example \
	    tandem@a.example "$_kind" "$@" >"$_n" &&
	send "$a_addr:$a_port" "$_n" bob@b.example tandem@a.example
}

test_expect_success 'a and b know each other; c is known to a' '
	intro a b && intro b a && intro a c
'

test_expect_success_here 'the milters, the Postfix instances and the sink start' '
	fgfed_start
'

test_expect_success 'expect at a alone moves nothing: b serves bob, a has no account' '
	transfer a expect bob@b.example --from b.example >out &&
	echo "transfer bob@b.example incoming from b.example recorded" >want &&
	test_cmp want out &&
	sleep 12 &&
	test "$(sql a "SELECT count(*) FROM accounts WHERE address = '"'bob@b.example'"'")" = 0 &&
	test "$(sql b "SELECT status FROM accounts WHERE address = '"'bob@b.example'"'")" = active &&
	test "$(sql a "SELECT state FROM transfers")" = recorded
'

# fgmsg NAME SIGNER TO KIND FIELD...: NAME.txt, a protocol message of
# KIND with the FIELDs ("Name: value") and a fresh Id and Date, from
# SIGNER's FG element to TO's (CA folders)
fgmsg() {
	_n=$1 _s=$2 _k=$4
	shift 4
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: application/vnd.tandem.%s\r\n" "$_k"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s@%s.example\r\nDate: %s\r\n" "$_n" "$_s" \
		    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		for _f; do printf "%s\r\n" "$_f"; done
	} >"$_n.txt"
}

# sub NAME SIGNER FROM-COURIER TO-COURIER ADDRESS: a transfer-subscription
# signed by SIGNER's FG element, enveloped to a's, mailed to a as from
# SIGNER's service mailbox.
sub() {
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.transfer-subscription\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s@%s.example\r\nDate: %s\r\n" "$1" "$2" \
		    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf "Address: %s\r\nFrom-Courier: %s\r\n" "$5" "$3"
		printf "To-Courier: %s\r\n" "$4"
		printf -- "--b1\r\nContent-Type: application/pem-certificate-chain\r\n"
		printf "Content-Transfer-Encoding: base64\r\nTandem-Part: agent-cert\r\n\r\n"
		cat b/accounts/bob@b.example/agent.crt b/chain.pem |
		    base64 -w 76 | sed "s/\$/\r/"
		printf -- "--b1--\r\n"
	} >"$1.txt" &&
	ic_send "$1" $2 a $2
}

test_expect_success 'a subscription for bob signed by c, a third courier, is refused' '
	test_must_fail sub s1 c c.example a.example bob@b.example &&
	test_grep "5.7.1 transfer-subscription: no transfer of bob@b.example from c.example awaits" swaks.out &&
	test_grep "transfer=refused kind=transfer-subscription address=bob@b.example courier=c.example" a.log &&
	test "$(sql a "SELECT count(*) FROM accounts WHERE address = '"'bob@b.example'"'")" = 0
'

test_expect_success 'c naming itself b in From-Courier is refused too' '
	test_must_fail sub s2 c b.example a.example bob@b.example &&
	test_grep "5.7.1 transfer-subscription: From-Courier b.example is not the signer.s courier" swaks.out &&
	test "$(sql a "SELECT state FROM transfers")" = recorded
'

test_expect_success 'start at b with no expect at a (dave): a refuses it, logs it, makes nothing' '
	transfer b start dave@b.example --to a.example >out &&
	echo "transfer dave@b.example outgoing to a.example started" >want &&
	test_cmp want out &&
	test_wait_log b.log "transfer address=dave@b.example to=a.example status=subscribed" &&
	test_wait_log a.log "transfer=refused kind=transfer-subscription address=dave@b.example courier=b.example reason=\"no.transfer.of.dave@b.example.from.b.example" &&
	test "$(sql a "SELECT count(*) FROM accounts WHERE address = '"'dave@b.example'"'")" = 0 &&
	test "$(sql b "SELECT status FROM accounts WHERE address = '"'dave@b.example'"'")" = active &&
	transfer b cancel dave@b.example >/dev/null
'

test_expect_success 'into private b, alice of a.example is refused: outside its domains' '
	transfer b expect alice@a.example --from a.example >/dev/null &&
	transfer a start alice@a.example --to b.example >/dev/null &&
	test_wait_log b.log "transfer=refused kind=transfer-subscription address=alice@a.example courier=a.example reason=\"alice@a.example.is.outside.the.domains.of.this.private.courier\"" &&
	test "$(sql b "SELECT count(*) FROM accounts WHERE address = '"'alice@a.example'"'")" = 0 &&
	test "$(sql a "SELECT status FROM accounts WHERE address = '"'alice@a.example'"'")" = active &&
	transfer a cancel alice@a.example >/dev/null &&
	transfer b cancel alice@a.example >/dev/null
'

test_expect_success 'start at b: subscription (504), pending account at a (505), config-update (508)' '
	transfer b start bob@b.example --to a.example >/dev/null &&
	test_wait_log b.log "transfer address=bob@b.example to=a.example status=subscribed" &&
	test_wait_log a.log "transfer=bob@b.example from=b.example status=subscribed" &&
	echo "pending|b.example|t" >want &&
	sql a "SELECT a.status, a.transferred_from, t.made_account FROM accounts a JOIN transfers t USING (address) WHERE address = '"'bob@b.example'"'" >got &&
	test_cmp want got &&
	sql a "SELECT agent_cert FROM accounts WHERE address = '"'bob@b.example'"'" >pinned.crt &&
	openssl x509 -in pinned.crt -noout -fingerprint -sha256 >fp1 &&
	openssl x509 -in b/accounts/bob@b.example/agent.crt -noout -fingerprint -sha256 >fp2 &&
	test_cmp fp2 fp1 &&
	echo "2|noticed|transfer" >want &&
	sql a "SELECT generation, state, requested_by FROM rekeys WHERE address = '"'bob@b.example'"'" >got &&
	test_cmp want got
'

test_expect_success 'b relays the notice naming a to bob (509-511); the transfer is rekeying' '
	test_wait_log b.log "transfer=bob@b.example to=a.example status=rekeying" &&
	relay b bob@b.example notice-to-rekey bob@b.example.key \
	    b/accounts/bob@b.example/agent.crt notice &&
	openssl x509 -in notice.signer -noout -fingerprint -sha256 >fp1 &&
	openssl x509 -in b/elements/fg.crt -noout -fingerprint -sha256 >fp2 &&
	test_cmp fp2 fp1 &&
	test_grep "^Address: bob@b.example" notice &&
	test_grep "^Generation: 2" notice &&
	test_grep "^Courier: a.example" notice &&
	test_grep "^Foreground-Address: tandem@a.example" notice &&
	test_grep "^Background-Url: https://bg.a.example:8443" notice &&
	test "$(sql b "SELECT state FROM transfers WHERE address = '"'bob@b.example'"' AND state <> '"'cancelled'"'")" = rekeying &&
	test "$(sql b "SELECT status FROM accounts WHERE address = '"'bob@b.example'"'")" = active
'

# seal NAME SENDER X [RCPT]: SENDER's content mail NAME for RCPT (bob):
# a sealed content of its own (NAME.sealed), signed and wrapped to
# SENDER's courier at X.
seal() {
	printf "sealed content %s stand-in\n" $1 >$1.inner &&
	openssl cms -sign -binary -nodetach -outform DER -in $1.inner \
	    -signer $3/accounts/$2/agent.crt -inkey $2.key -out $1.sealed &&
	openssl cms -sign -binary -nodetach -outform DER -in $1.sealed \
	    -signer $3/accounts/$2/agent.crt -inkey $2.key \
	    -certfile $3/chain.pem -out $1.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in $1.signed \
	    -out $1.der $3/accounts/$2/courier.crt &&
	mail $1 content $2 ${4:-bob@b.example} $1.der
}

# opened NAME CERT KEY: the sink's dump of NAME for bob opens with
# bob's CERT and KEY, to the sealed content as sent.
opened() {
	f=$(sink_wait "^Message-ID: <$1@") &&
	test_grep "X-Rcpt-Args: <bob@b.example>" "$f" &&
	smtp_sink_body "$f" | base64 -d >$1.new &&
	openssl cms -decrypt -inform DER -in $1.new -recip "$2" \
	    -inkey "$3" -out $1.got.signed &&
	openssl cms -verify -inform DER -in $1.got.signed \
	    -CAfile root/root.crt -purpose any -out $1.got 2>/dev/null &&
	cmp $1.sealed $1.got
}

test_expect_success 'b'"'"'s subscription said again: a answers again, b takes it as said already' '
	sub s3 b b.example a.example bob@b.example &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "transfer=bob@b.example from=b.example status=subscribed answer=.* again=1" &&
	test_wait_log b.log "transfer=bob@b.example to=a.example status=rekeying again=1" &&
	test "$(sql a "SELECT count(*) FROM rekeys WHERE address = '"'bob@b.example'"'")" = 1 &&
	test "$(sql b "SELECT count(*) FROM bg_relay WHERE address = '"'bob@b.example'"'")" = 1
'

test_expect_success 'while bob moves, b still serves him: mail from a reaches his old certificate' '
	seal m1 alice@a.example a &&
	send "$a_addr:$a_port" m1 alice@a.example bob@b.example &&
	test_wait_log a.log "m1@a.example.*rcpt=bob@b.example route=to-introduced-courier.*to=b.example" &&
	test_wait_log b.log "msgid=m1@a.example origin=a.example hops=1 rcpt=bob@b.example route=deliver-local" &&
	opened m1 b/accounts/bob@b.example/agent.crt bob@b.example.key
'

# Once bob is active at a, what a delivers to him crosses b's mail
# server on its way to his mailbox, and b cannot open it; until a's
# transfer-complete comes, b cannot tell it from a forgery. Alice's
# content, sealed for a, stands in for it.
test_expect_success 'while bob moves, content for him that b cannot open waits: 4.2.0 at b' '
	seal m4 alice@a.example a &&
	test_must_fail send "$b_addr:$b_port" m4 alice@a.example bob@b.example &&
	test_grep "4.2.0 a recipient is moving to another courier: try again later" swaks.out &&
	test_wait_log b.log "from=alice@a.example status=tempfail reason=\"4.2.0 a recipient is moving" &&
	test "$(sql b "SELECT state FROM transfers WHERE address = '"'bob@b.example'"' AND state <> '"'cancelled'"'")" = rekeying
'

test_expect_success 'meanwhile b relays another notice to bob (a rekey.s, not the transfer.s)' '
	sql b "INSERT INTO bg_relay (address, kind, message_id, body) VALUES ('"'bob@b.example'"', '"'notice-to-rekey'"', '"'other-notice@b.example'"', '"'\\x00'"')"
'

test_expect_success 'a refuses exchange-keys signed with another key than the transferred one' '
	cat b/accounts/dave@b.example/agent.crt b/chain.pem >dave.pem &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout bob2.key -subj /CN=bob@b.example -out bob2.csr 2>/dev/null &&
	test_must_fail agent x0 dave@b.example.key dave.pem exchange-keys \
	    Address=bob@b.example Generation=2 @agent-csr=bob2.csr &&
	test_grep "5.7.7 exchange-keys: not signed with the account.s current agent certificate" swaks.out
'

test_expect_success 'bob exchanges keys with a (512-516): generation 2 in a relay for his old certificate' '
	cat b/accounts/bob@b.example/agent.crt b/chain.pem >bob.pem &&
	agent x1 bob@b.example.key bob.pem exchange-keys \
	    Address=bob@b.example Generation=2 @agent-csr=bob2.csr &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "rekey address=bob@b.example generation=2 status=keys-sent" &&
	relay a bob@b.example exchange-keys bob@b.example.key \
	    b/accounts/bob@b.example/agent.crt answer &&
	test_proto_part answer agent-cert bob2.crt &&
	openssl x509 -in bob2.crt -noout -ext subjectAltName >san &&
	test_grep "email:bob@b.example" san &&
	openssl verify -CAfile root/root.crt -untrusted a/issuing/chain.pem \
	    -purpose any bob2.crt
'

test_expect_success 'rekeying-complete with the new key (517-523): active at a, transfer-complete to b' '
	cat bob2.crt a/issuing/chain.pem >bob2.pem &&
	agent x2 bob2.key bob2.pem rekeying-complete \
	    Address=bob@b.example Generation=2 &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "transfer=bob@b.example from=b.example status=active released=0" &&
	echo "active|complete" >want &&
	sql a "SELECT a.status, t.state FROM accounts a JOIN transfers t USING (address) WHERE address = '"'bob@b.example'"'" >got &&
	test_cmp want got &&
	sql a "SELECT agent_cert FROM accounts WHERE address = '"'bob@b.example'"'" >now.crt &&
	openssl x509 -in now.crt -noout -fingerprint -sha256 >fp1 &&
	openssl x509 -in bob2.crt -noout -fingerprint -sha256 >fp2 &&
	test_cmp fp2 fp1
'

test_expect_success 'after, a delivers mail from alice to bob itself, to his new certificate' '
	seal m3 alice@a.example a &&
	send "$a_addr:$a_port" m3 alice@a.example bob@b.example &&
	test_wait_log a.log "m3@a.example.*rcpt=bob@b.example route=deliver-local" &&
	opened m3 bob2.crt bob2.key
'

test_expect_success 'b marks bob transferred to a (524-526); its notice is withdrawn, not another' '
	test_wait_log b.log "transfer=bob@b.example to=a.example status=transferred released=0" &&
	echo "transferred|a.example" >want &&
	sql b "SELECT status, redirect_to FROM accounts WHERE address = '"'bob@b.example'"'" >got &&
	test_cmp want got &&
	test "$(sql b "SELECT string_agg(message_id, '"','"') FROM bg_relay WHERE address = '"'bob@b.example'"'")" = other-notice@b.example &&
	sql b "DELETE FROM bg_relay WHERE message_id = '"'other-notice@b.example'"'" &&
	test "$(sql b "SELECT state FROM transfers WHERE address = '"'bob@b.example'"' ORDER BY id DESC LIMIT 1")" = complete
'

test_expect_success 'mail for bob that reaches b after goes on to a, and to his new certificate' '
	seal m2 dave@b.example b &&
	send "$b_addr:$b_port" m2 dave@b.example bob@b.example &&
	test_wait_log b.log "m2@b.example.*rcpt=bob@b.example route=to-new-courier.*to=a.example" &&
	test_wait_log a.log "msgid=m2@b.example origin=b.example hops=1 rcpt=bob@b.example route=deliver-local" &&
	opened m2 bob2.crt bob2.key
'

# cseal NAME: a sealed content of its own in NAME.sealed.
cseal() {
	printf "sealed content %s\n" $1 >$1.inner &&
	openssl cms -sign -binary -nodetach -outform DER -in $1.inner \
	    -signer b/accounts/dave@b.example/agent.crt \
	    -inkey dave@b.example.key -out $1.sealed
}

test_expect_success 'private b relays to a what c sent bob, who moved from b to a: taken' '
	cseal c1 &&
	ic c1 c1@b.example 2 c carol@c.example bob@b.example c.example \
	    c1.sealed &&
	ic_send c1 b &&
	test_wait_log a.log "msgid=c1@b.example origin=c.example hops=2 rcpt=bob@b.example route=deliver-local"
'

test_expect_success 'but b relaying what c sent alice, who never was at b, is refused' '
	cseal c2 &&
	ic c2 c2@b.example 2 c carol@c.example alice@a.example c.example \
	    c2.sealed &&
	test_must_fail ic_send c2 b &&
	test_grep "5.7.1 inter-courier: a private courier relays another courier.s message" swaks.out
'

test_expect_success 'once bob is active: his rekeying-complete said again changes nothing; an exchange-keys is refused' '
	agent x3 bob2.key bob2.pem rekeying-complete \
	    Address=bob@b.example Generation=2 &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "rekey address=bob@b.example generation=2 status=complete again=1" &&
	test_must_fail agent x5 bob@b.example.key bob.pem exchange-keys \
	    Address=bob@b.example Generation=3 @agent-csr=bob2.csr &&
	test_grep "5.7.1 service mail from bob@b.example: no transfer of it is in progress here" swaks.out
'

test_expect_success 'dave: a transfer cancelled at both couriers after the notice went; b serves him as before' '
	transfer a expect dave@b.example --from b.example >/dev/null &&
	transfer b start dave@b.example --to a.example >/dev/null &&
	test_wait_log b.log "transfer=dave@b.example to=a.example status=rekeying" &&
	test "$(sql b "SELECT count(*) FROM bg_relay WHERE address = '"'dave@b.example'"'")" = 1 &&
	transfer a cancel dave@b.example >/dev/null &&
	test "$(sql a "SELECT status FROM accounts WHERE address = '"'dave@b.example'"'")" = closed &&
	test_expect_code 65 transfer b cancel dave@b.example 2>err &&
	test_grep "the notice naming a.example went to the agent already" err &&
	transfer b cancel dave@b.example --force >/dev/null &&
	test "$(sql b "SELECT count(*) FROM bg_relay WHERE address = '"'dave@b.example'"'")" = 0 &&
	test "$(sql b "SELECT status FROM accounts WHERE address = '"'dave@b.example'"'")" = active
'

test_expect_success 'after the cancel: his late exchange-keys at a, and a transfer-complete for him at b, are refused' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout dave2.key -subj /CN=dave@b.example -out dave2.csr 2>/dev/null &&
	"$svcmail" dave@b.example.key "" dave.pem a/elements/fg.crt \
	    dave@b.example tandem@a.example exchange-keys \
	    Address=dave@b.example Generation=2 @agent-csr=dave2.csr >x4 &&
	test_must_fail send "$a_addr:$a_port" x4 dave@b.example tandem@a.example &&
	test_grep "5.7.1 service mail from dave@b.example: no transfer of it is in progress here" swaks.out &&
	test "$(sql a "SELECT count(*) FROM account_keys WHERE address = '"'dave@b.example'"' AND retired_at IS NULL")" = 0 &&
	fgmsg tc1 a b transfer-complete "Address: dave@b.example" \
	    "From-Courier: b.example" "To-Courier: a.example" &&
	test_must_fail ic_send tc1 a b a &&
	test_grep "5.7.1 transfer-complete: no transfer of dave@b.example to a.example awaits a transfer-complete" swaks.out &&
	test_grep "transfer=refused kind=transfer-complete address=dave@b.example courier=a.example" b.log &&
	test "$(sql b "SELECT status FROM accounts WHERE address = '"'dave@b.example'"'")" = active
'

test_expect_success 'dave writes to alice through b, his courier still' '
	seal m5 dave@b.example b alice@a.example &&
	send "$b_addr:$b_port" m5 dave@b.example alice@a.example &&
	test_wait_log b.log "m5@b.example.*rcpt=alice@a.example route=defer-to-superior to=a.example" &&
	test_wait_log a.log "msgid=m5@b.example origin=b.example hops=1 rcpt=alice@a.example route=deliver-local"
'

# subscribed N: until b2.log tells of N transfer-subscriptions for dave
# (at most 60 s); their Ids in sent.
subscribed() {
	n=0
	while [ $n -lt 300 ]; do
		sed -n "s/.*transfer address=dave@b.example to=a.example status=subscribed id=//p" \
		    b2.log >sent
		[ "$(wc -l <sent)" -ge "$1" ] && return 0
		sleep 0.2; n=$((n + 1))
	done
	echo "subscribed: b2.log tells of $(wc -l <sent), not $1"; cat b2.log
	return 1
}

# lost ID: the mail of Message-ID ID, once deferred in the queue of the
# Postfix between the couriers, deleted there (at most 30 s).
lost() {
	_l_log=$TRASH/postfix-re/maillog
	n=0
	while [ $n -lt 150 ]; do
		_l_q=$(sed -n "s/.* \([0-9A-Za-z]*\): message-id=<$1>\$/\1/p" \
		    "$_l_log" | head -n 1)
		if [ -n "$_l_q" ] &&
		    grep -q " $_l_q: to=<tandem@a.example>.* status=deferred" \
		    "$_l_log"; then
			postsuper -c "$(postfix_dir re)" -d "$_l_q"
			return
		fi
		sleep 0.2; n=$((n + 1))
	done
	echo "lost: no mail $1 deferred in re"; tail -n 20 "$_l_log"
	return 1
}

test_expect_success_here 'b'"'"'s milter again, with hygiene.hold_limit 15s' '
	kill $(cat b.pid) &&
	n=0 && while kill -0 $(cat b.pid) 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1)); done &&
	printf "hygiene { hold_limit = 15s }\n" >>b.conf &&
	{ tandem-milter -c b.conf -f 2>b2.log & echo $! >b.pid; } &&
	test_wait_log b2.log "started socket="
'

test_expect_success 'dave again: his subscription lost while a is down goes again after hold_limit, and the transfer goes on' '
	wc -l <a.log >a.lines &&
	postfix_stop a &&
	transfer a expect dave@b.example --from b.example >/dev/null &&
	transfer b start dave@b.example --to a.example >/dev/null &&
	subscribed 1 &&
	lost "$(cat sent)" &&
	test "$(sql b "SELECT state FROM transfers WHERE address = '"'dave@b.example'"' AND state <> '"'cancelled'"'")" = subscribed &&
	pf_pty "postfix -c \"$(postfix_dir a)\" start" &&
	pf_wait_listen "$a_addr" "$a_port" 10 &&
	subscribed 2 &&
	test "$(sort -u sent | wc -l)" = 2 &&
	test_wait_log b2.log "transfer=dave@b.example to=a.example status=rekeying notice=" &&
	tail -n +$(($(cat a.lines) + 1)) a.log >a.new &&
	test "$(grep -c "transfer=dave@b.example from=b.example status=subscribed answer=" a.new)" = 1 &&
	test_grep_not "transfer=dave@b.example .*again=1" a.new &&
	sed -n 2p sent >want &&
	sql a "SELECT message_id FROM transfers WHERE address = '"'dave@b.example'"' AND state <> '"'cancelled'"'" >got &&
	test_cmp want got &&
	echo "pending|subscribed" >want &&
	sql a "SELECT a.status, t.state FROM accounts a JOIN transfers t USING (address) WHERE address = '"'dave@b.example'"' AND t.state <> '"'cancelled'"'" >got &&
	test_cmp want got
'

test_done
