test_description='tandem-milter: key replacement, the foreground part (notice, exchange-keys, rekeying-complete, grace, policy)'
. "$TANDEM_SRC/t/test-lib.sh"

# doc/flows.md section 8, seen from the foreground, with real Postfix,
# PostgreSQL, tandem-milter and tandem-policyd. The test plays alice's
# agent for the rekey itself: it reads what the milter files in
# bg_relay with alice's key (openssl cms), and sends exchange-keys and
# rekeying-complete built by t/milter-svcmail, which checks nothing,
# so that it can also send what the milter must refuse.

test_have_prog swaks || test_skip_all 'swaks is missing'
svcmail=$TANDEM_BUILD/t/milter-svcmail

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice &&
	agent_register bob
'

# store NAME FILE: a value of alice's agent store.
store() {
	sqlite3 "$TRASH/agent-alice/store.db" \
	    "SELECT value FROM config WHERE name = '$1'" >"$2"
}

# relay KIND OUT: the newest bg_relay body of KIND for alice, opened
# with the key KEY (PASS) and certificate CRT; the text in OUT, the
# signer in OUT.signer.
relay() {
	courier_fg_sql "SELECT encode(body, 'base64') FROM bg_relay WHERE
	    address = 'alice@a.example' AND kind = '$1' ORDER BY id DESC
	    LIMIT 1" | base64 -d >"$2.der" &&
	test -s "$2.der" &&
	openssl cms -decrypt -inform DER -in "$2.der" -recip "$3" \
	    -inkey "$4" -passin "pass:$5" -out "$2.signed" &&
	openssl cms -verify -noverify -inform DER -in "$2.signed" \
	    -signer "$2.signer" -out "$2" 2>/dev/null
}

# send FROM FILE: FILE to the service mailbox; the dialogue in swaks.out.
send() {
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from "$1" \
	    --to tandem@a.example --data "@$2" >swaks.out 2>&1
}

# mail KEY PASS CERT TO-CERT KIND FIELD=VALUE...: alice's service mail.
mail() {
	_k=$1 _p=$2 _c=$3 _t=$4 _kind=$5
	shift 5
	"$svcmail" "$_k" "$_p" "$_c" "$_t" alice@a.example tandem@a.example \
	    "$_kind" "$@"
}

state() {
	courier_fg_sql "SELECT generation || ' ' || state FROM rekeys WHERE
	    address = 'alice@a.example' ORDER BY id DESC LIMIT 1"
}

# test_cmp_fp A B: the two PEM certificates are the same.
test_cmp_fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 >"$1.fp" &&
	openssl x509 -in "$2" -noout -fingerprint -sha256 >"$2.fp" &&
	cmp -s "$1.fp" "$2.fp"
}

# test_notice_renewed OLD: bob's rekey was noticed again, under a new Id.
test_notice_renewed() {
	_n=$(courier_fg_sql "SELECT state || ' ' || notice_id FROM rekeys
	    WHERE address = 'bob@a.example'")
	test "${_n%% *}" = noticed && test "${_n#* }" != "$1"
}

state_is() {
	test "$(state)" = "$1"
}

# unchanged: alice still at generation 1 with the rekey as it was ($1).
unchanged() {
	test "$(state)" = "$1" &&
	test "$(courier_fg_sql "SELECT count(*) FROM account_keys WHERE
	    address = 'alice@a.example'")" = "${2:-1}" &&
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE
	    address = 'alice@a.example'" >cur.crt &&
	openssl x509 -in cur.crt -noout -fingerprint -sha256 >fp.cur &&
	openssl x509 -in old.crt -noout -fingerprint -sha256 >fp.old &&
	test_cmp fp.old fp.cur
}

test_expect_success 'tandemctl account rekey: usage, unknown account' '
	test_expect_code 64 tandemctl account rekey alice@a.example 2>err &&
	test_grep "account rekey needs --db FGCONNINFO and an address" err &&
	test_expect_code 64 tandemctl account rekey --db "$CR_FG_DB" \
	    --reason "$(printf "two\nlines")" alice@a.example 2>err &&
	test_grep "reason: one line" err &&
	test_expect_code 65 tandemctl account rekey --db "$CR_FG_DB" \
	    carol@a.example 2>err &&
	test_grep "carol@a.example: no active account" err &&
	test "$(courier_fg_sql "SELECT count(*) FROM rekeys")" = 0
'

test_expect_success 'the operator asks; a second ask is refused' '
	tandemctl account rekey --db "$CR_FG_DB" --reason "key seen on a stolen laptop" \
	    alice@a.example >out &&
	echo "account alice@a.example rekey to generation 2 requested" >expect &&
	test_cmp expect out &&
	test_expect_code 65 tandemctl account rekey --db "$CR_FG_DB" \
	    --address alice@a.example 2>err &&
	test_grep "alice@a.example: a rekey to generation 2 is already open" err &&
	courier_fg_sql "SELECT requested_by, reason FROM rekeys" >out &&
	echo "operator|key seen on a stolen laptop" >expect && test_cmp expect out
'

test_expect_success 'within seconds the notice is in bg_relay, signed by the FG element, for alice' '
	wait_until 30 state_is "2 noticed" &&
	store key old.key && store cert old.crt && store courier-cert oldc.crt &&
	store chain chain.pem && cat old.crt chain.pem >old.pem &&
	relay notice-to-rekey notice.txt old.crt old.key "$CR_PASSWORD" &&
	tr -d "\r" <notice.txt >n &&
	test_grep "^Content-Type: application/vnd.tandem.notice-to-rekey" n &&
	test_grep "^Address: alice@a.example$" n &&
	test_grep "^Generation: 2$" n &&
	test_grep "^Reason: key seen on a stolen laptop$" n &&
	test_grep "^Deadline: " n &&
	openssl x509 -in notice.txt.signer -noout -fingerprint -sha256 >a &&
	openssl x509 -in "$CR_CA/elements/fg.crt" -noout -fingerprint -sha256 >b &&
	test_cmp b a &&
	sed -n "s/^Id: //p" n >expect &&
	courier_fg_sql "SELECT notice_id FROM rekeys" >out &&
	test_cmp expect out &&
	courier_fg_sql "SELECT kind, message_id FROM bg_relay" >out &&
	echo "notice-to-rekey|$(cat expect)" >expect2 && test_cmp expect2 out
'

test_expect_success 'new keys for the test to ask with' '
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout new.key -subj /CN=alice@a.example \
	    -addext subjectAltName=email:alice@a.example -out new.csr 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout erin.key -subj /CN=erin@a.example \
	    -addext subjectAltName=email:erin@a.example -out erin.csr 2>/dev/null &&
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout self.key -subj /CN=alice@a.example -days 2 \
	    -addext subjectAltName=email:alice@a.example -out self.crt 2>/dev/null &&
	openssl req -new -key self.key -subj /CN=alice@a.example \
	    -addext subjectAltName=email:alice@a.example -out self.csr 2>/dev/null
'

ask() {
	mail old.key "$CR_PASSWORD" old.pem oldc.crt exchange-keys \
	    Address=alice@a.example "$@"
}

test_expect_success 'exchange-keys for a generation never noticed: 550, nothing changed' '
	ask Generation=3 @agent-csr=new.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 exchange-keys: no rekey of alice@a.example to generation 3 was started" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys dated outside the replay window: 550, nothing changed' '
	ask Generation=2 Date=2020-01-01T00:00:00Z @agent-csr=new.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 exchange-keys: Date 2020-01-01T00:00:00Z is older than the replay window" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys with a request for another address: 550, nothing changed' '
	ask Generation=2 @agent-csr=erin.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 exchange-keys: agent-csr: the request names another address than alice@a.example" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys whose Address is not the sender: 550, nothing changed' '
	mail old.key "$CR_PASSWORD" old.pem oldc.crt exchange-keys \
	    Address=bob@a.example Generation=2 @agent-csr=new.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 exchange-keys: Address bob@a.example is not the sender" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys signed by a key of no agent: 550, nothing changed' '
	mail self.key "" self.crt oldc.crt exchange-keys Address=alice@a.example \
	    Generation=2 @agent-csr=new.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.7 bad service mail: signer certificate does not chain" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys signed by bob'"'"'s agent, well certified: 550, nothing changed' '
	sqlite3 "$TRASH/agent-bob/store.db" "SELECT value FROM config WHERE name = '"'"'key'"'"'" >bob.key &&
	sqlite3 "$TRASH/agent-bob/store.db" "SELECT value FROM config WHERE name = '"'"'cert'"'"'" >bob.pem &&
	cat chain.pem >>bob.pem &&
	mail bob.key "$CR_PASSWORD" bob.pem oldc.crt exchange-keys Address=alice@a.example \
	    Generation=2 @agent-csr=new.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.7 bad service mail: the signer is not the sender'"'"'s agent" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'rekeying-complete before any keys were sent: 550, nothing changed' '
	mail old.key "$CR_PASSWORD" old.pem oldc.crt rekeying-complete \
	    Address=alice@a.example Generation=2 >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 rekeying-complete: no rekey of alice@a.example to generation 2 awaits completion" swaks.out &&
	unchanged "2 noticed"
'

test_expect_success 'exchange-keys as asked: generation 2 issued, not yet current, answer in bg_relay' '
	ask Generation=2 @agent-csr=new.csr >ask.eml &&
	send alice@a.example ask.eml &&
	test_grep "250 " swaks.out &&
	test "$(state)" = "2 keys-sent" &&
	courier_fg_sql "SELECT generation, retired_at IS NULL FROM account_keys
	    WHERE address = '"'"'alice@a.example'"'"' ORDER BY generation" >out &&
	printf "1|t\n2|t\n" >expect && test_cmp expect out &&
	unchanged "2 keys-sent" 2 &&
	courier_fg_sql "SELECT key_generation FROM helpdesk.account_status
	    WHERE address = '"'"'alice@a.example'"'"'" >out &&
	echo 1 >expect && test_cmp expect out &&
	relay exchange-keys answer.txt old.crt old.key "$CR_PASSWORD" &&
	tr -d "\r" <answer.txt >a &&
	test_grep "^Generation: 2$" a &&
	test_grep "^Address: alice@a.example$" a &&
	openssl x509 -in answer.txt.signer -noout -fingerprint -sha256 >s &&
	openssl x509 -in "$CR_CA/elements/fg.crt" -noout -fingerprint -sha256 >f &&
	test_cmp f s
'

test_expect_success 'the answer carries certificates of the key alice asked with' '
	test_proto_part answer.txt agent-cert new.crt &&
	test_proto_part answer.txt courier-cert newc.crt &&
	openssl x509 -in new.crt -noout -pubkey >pub.cert &&
	openssl pkey -in new.key -pubout >pub.key &&
	test_cmp pub.key pub.cert &&
	openssl x509 -in new.crt -noout -ext subjectAltName >san &&
	test_grep "email:alice@a.example" san &&
	openssl x509 -in newc.crt -noout -ext subjectAltName >san &&
	test_grep "email:alice@a.example" san &&
	! test_cmp_fp newc.crt oldc.crt &&
	courier_fg_sql "SELECT new_agent_cert FROM rekeys" >fg-new.crt &&
	test_cmp_fp new.crt fg-new.crt
'

test_expect_success 'the same exchange-keys again is a replay: 550, nothing changed' '
	test_must_fail send alice@a.example ask.eml &&
	test_grep "550 5.7.1 exchange-keys: Id .* was taken already (replay)" swaks.out &&
	courier_fg_sql "SELECT new_agent_cert FROM rekeys" >fg-new.crt &&
	test_cmp_fp new.crt fg-new.crt
'

test_expect_success 'asked again with a new Id for the same key: the same certificates again' '
	ask Generation=2 @agent-csr=new.csr >ask2.eml &&
	send alice@a.example ask2.eml &&
	test_grep "250 " swaks.out &&
	test "$(state)" = "2 keys-sent" &&
	courier_fg_sql "SELECT count(*) FROM bg_relay WHERE kind = '"'"'exchange-keys'"'"'" >out &&
	echo 2 >expect && test_cmp expect out &&
	relay exchange-keys answer2.txt old.crt old.key "$CR_PASSWORD" &&
	test_proto_part answer2.txt agent-cert new2.crt &&
	test_proto_part answer2.txt courier-cert newc2.crt &&
	test_cmp_fp new.crt new2.crt && test_cmp_fp newc.crt newc2.crt &&
	courier_fg_sql "SELECT new_agent_cert FROM rekeys" >fg-new.crt &&
	test_cmp_fp new.crt fg-new.crt
'

test_expect_success 'asked again for another key: 550, the issued generation stays' '
	ask Generation=2 @agent-csr=self.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 exchange-keys: generation 2 of alice@a.example was issued already, for another key" swaks.out &&
	courier_fg_sql "SELECT new_agent_cert FROM rekeys" >fg-new.crt &&
	test_cmp_fp new.crt fg-new.crt
'

test_expect_success 'mail alice sends meanwhile with her old keys still goes' '
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: during\r\nMessage-ID: <during@a.example>\r\n\r\nStill here.\r\n" >during.eml &&
	agent alice send --to bob@a.example --in during.eml >out &&
	maildir_wait bob "during@a.example\|^Tandem-Kind: content" 30 >/dev/null
'

test_expect_success 'rekeying-complete signed with the old key: 550, nothing changed' '
	mail old.key "$CR_PASSWORD" old.pem newc.crt rekeying-complete \
	    Address=alice@a.example Generation=2 >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.1 rekeying-complete: not signed with the new agent certificate" swaks.out &&
	unchanged "2 keys-sent" 2
'

test_expect_success 'rekeying-complete with the new keys: the account switches, the old generation has its grace' '
	cat new.crt chain.pem >new.pem &&
	mail new.key "" new.pem newc.crt rekeying-complete \
	    Address=alice@a.example Generation=2 >done.eml &&
	send alice@a.example done.eml &&
	test_grep "250 " swaks.out &&
	test "$(state)" = "2 complete" &&
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = '"'"'alice@a.example'"'"'" >cur.crt &&
	test_cmp_fp new.crt cur.crt &&
	courier_fg_sql "SELECT courier_cert FROM accounts WHERE address = '"'"'alice@a.example'"'"'" >cur.crt &&
	test_cmp_fp newc.crt cur.crt &&
	courier_fg_sql "SELECT generation, retired_at IS NULL,
	    retired_at > now() + interval '"'"'6 days'"'"' AND
	    retired_at < now() + interval '"'"'8 days'"'"'
	    FROM account_keys WHERE address = '"'"'alice@a.example'"'"'
	    ORDER BY generation" >out &&
	printf "1|f|t\n2|t|\n" >expect && test_cmp expect out &&
	courier_fg_sql "SELECT key_generation FROM helpdesk.account_status
	    WHERE address = '"'"'alice@a.example'"'"'" >out &&
	echo 2 >expect && test_cmp expect out &&
	courier_fg_sql "SELECT address, generation, state, requested_by
	    FROM helpdesk.rekeys" >out &&
	echo "alice@a.example|2|complete|operator" >expect && test_cmp expect out &&
	test_grep "rekey address=alice@a.example generation=2 status=complete" "$TRASH/fg/milter.log"
'

test_expect_success 'rekeying-complete said again (the reply was lost): taken, nothing changes' '
	mail new.key "" new.pem newc.crt rekeying-complete \
	    Address=alice@a.example Generation=2 >done2.eml &&
	send alice@a.example done2.eml &&
	test_grep "250 " swaks.out &&
	test "$(state)" = "2 complete" &&
	test_grep "rekey address=alice@a.example generation=2 status=complete again=1" "$TRASH/fg/milter.log"
'

test_expect_success 'the new generation replicates to the background' '
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE address = \$\$alice@a.example\$\$ AND retired_at IS NULL" 1 30 &&
	pg_wait_for bg bg "SELECT max(generation) FROM account_keys WHERE address = \$\$alice@a.example\$\$" 2 30
'

test_expect_success 'in the grace, alice'"'"'s agent, still at generation 1, sends content: taken' '
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: grace\r\nMessage-ID: <grace@a.example>\r\n\r\nOld keys, in the grace.\r\n" >grace.eml &&
	agent alice send --to bob@a.example --in grace.eml >out &&
	maildir_wait bob "^Message-ID: <grace@a.example>" 30 >/dev/null &&
	agent bob fetch >/dev/null &&
	mkdir gotg && agent bob read --id grace@a.example --out-dir gotg >/dev/null &&
	cmp grace.eml "gotg/$(ls gotg)"
'

test_expect_success 'in the grace, service mail signed and wrapped with the old generation is taken' '
	mail old.key "$CR_PASSWORD" old.pem oldc.crt agent-alive \
	    Address=alice@a.example Generation=1 >alive.eml &&
	send alice@a.example alive.eml &&
	test_grep "250 " swaks.out
'

test_expect_success 'a rekey after it makes generation 3' '
	tandemctl account rekey --db "$CR_FG_DB" alice@a.example >out &&
	echo "account alice@a.example rekey to generation 3 requested" >expect &&
	test_cmp expect out
'

test_expect_success 'exchange-keys for generation 3 signed with the generation in its grace: 550' '
	wait_until 30 state_is "3 noticed" &&
	ask Generation=3 @agent-csr=self.csr >x.eml &&
	test_must_fail send alice@a.example x.eml &&
	test_grep "550 5.7.7 exchange-keys: not signed with the account'"'"'s current agent certificate" swaks.out &&
	test "$(state)" = "3 noticed"
'

test_expect_success 'after the grace, it is refused' '
	courier_fg_sql "UPDATE account_keys SET retired_at = now() - interval '"'"'1 second'"'"'
	    WHERE address = '"'"'alice@a.example'"'"' AND generation = 1" &&
	mail old.key "$CR_PASSWORD" old.pem oldc.crt agent-alive \
	    Address=alice@a.example Generation=1 >alive.eml &&
	test_must_fail send alice@a.example alive.eml &&
	test_grep "550 5.7.7 bad service mail" swaks.out
'

test_expect_success 'by policy: an account older than hygiene.rekey_after gets a rekey, a few a pass' '
	courier_milter_stop &&
	sed -i "s/^hygiene {/hygiene {\n\trekey_after = 1s\n\trekey_batch = 1\n\tpurge_interval = 4s/" "$CR_FG_CONF" &&
	sed -i "0,/purge_interval = 1h/{/purge_interval = 1h/d}" "$CR_FG_CONF" &&
	: alice.s open rekey cancelled: two are due, alice and bob, one a \
	    pass, the older keys first &&
	courier_fg_sql "UPDATE rekeys SET state = '"'"'cancelled'"'"' WHERE address = '"'"'alice@a.example'"'"' AND state NOT IN ('"'"'complete'"'"', '"'"'cancelled'"'"')" &&
	courier_milter_start &&
	pg_wait_for fg fg "SELECT count(*) > 0 FROM rekeys WHERE requested_by = \$\$policy\$\$" t 30 &&
	test "$(courier_fg_sql "SELECT string_agg(address, '"'"','"'"') FROM rekeys WHERE requested_by = '"'"'policy'"'"'")" = bob@a.example &&
	pg_wait_for fg fg "SELECT string_agg(address, \$\$,\$\$ ORDER BY id) FROM rekeys WHERE requested_by = \$\$policy\$\$" bob@a.example,alice@a.example 30 &&
	pg_wait_for fg fg "SELECT requested_by || state FROM rekeys WHERE address = \$\$bob@a.example\$\$" policynoticed 30 &&
	courier_fg_sql "SELECT count(*) FROM rekeys WHERE address = '"'"'alice@a.example'"'"' AND state NOT IN ('"'"'complete'"'"', '"'"'cancelled'"'"')" >out &&
	echo 1 >expect && test_cmp expect out &&
	test_grep "rekey address=bob@a.example generation=2 status=requested by=policy" "$TRASH/fg/milter.log"
'

test_expect_success 'a notice nobody fetched before its deadline goes out again, with a new Id' '
	old=$(courier_fg_sql "SELECT notice_id FROM rekeys WHERE address = '"'"'bob@a.example'"'"'") &&
	test -n "$old" &&
	courier_fg_sql "UPDATE rekeys SET updated_at = now() - interval '"'"'31 days'"'"'
	    WHERE address = '"'"'bob@a.example'"'"';
	    UPDATE bg_relay SET expires_at = now() - interval '"'"'1 second'"'"'
	    WHERE address = '"'"'bob@a.example'"'"'" &&
	wait_until 30 test_notice_renewed "$old" &&
	courier_fg_sql "SELECT count(*) FROM bg_relay WHERE address = '"'"'bob@a.example'"'"'" >out &&
	echo 1 >expect && test_cmp expect out &&
	courier_fg_sql "SELECT r.notice_id = b.message_id FROM rekeys r JOIN bg_relay b USING (address) WHERE r.address = '"'"'bob@a.example'"'"'" >out &&
	echo t >expect && test_cmp expect out
'

test_expect_success 'an account no longer active: its rekey is cancelled, the relay withdrawn; active again, a new rekey makes the same generation' '
	courier_fg_sql "UPDATE accounts SET status = '"'"'closed'"'"' WHERE address = '"'"'bob@a.example'"'"'" &&
	pg_wait_for fg fg "SELECT state FROM rekeys WHERE address = \$\$bob@a.example\$\$ ORDER BY id DESC LIMIT 1" cancelled 30 &&
	courier_fg_sql "SELECT count(*) FROM bg_relay WHERE address = '"'"'bob@a.example'"'"'" >out &&
	echo 0 >expect && test_cmp expect out &&
	courier_fg_sql "UPDATE accounts SET status = '"'"'active'"'"' WHERE address = '"'"'bob@a.example'"'"'" &&
	pg_wait_for fg fg "SELECT generation || state FROM rekeys WHERE address = \$\$bob@a.example\$\$ ORDER BY id DESC LIMIT 1" 2noticed 30 &&
	courier_fg_sql "SELECT tandem_generation(\$\$bob@a.example\$\$)" >out &&
	echo 1 >expect && test_cmp expect out
'

test_done
