test_description='tandem-milter between couriers: direct delivery (fig. 7), deferral and the introduction back, forged traffic, hop limit'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

# Couriers a (public), b and c (private, domains b.example and
# c.example, under a). a and b run: each a Postfix with its milter. One
# reinjection Postfix serves both (no milter); mail for users of every
# domain ends in one smtp-sink, service mailboxes at their courier.
FGFED_SINK_DOMAINS=c.example
. "$TANDEM_SRC/t/lib-fgfed.sh"

test_expect_success 'three couriers, their FG elements and accounts' '
	fgfed_pki a b c &&
	tandem-ca root -d evil --name root.example >/dev/null &&
	tandem-ca courier -d evilb --name b.example --role private \
	    --superior evil --domain b.example >/dev/null &&
	tandem-ca element -d evilb --fg tandem@b.example >/dev/null
'

test_expect_success_here 'a foreground database for a and for b' '
	fgfed_databases
'


# intro X Y: X's FG learns Y's FG introduction.
intro() {
	tandemctl intro add --db "$(pg_conninfo fg fg$1)" \
	    --cert $2/elements/fg.crt --chain $2/chain.pem \
	    --anchors root/root.crt >/dev/null
}

test_expect_success 'a knows b and c' '
	intro a b && intro a c
'

test_expect_success_here 'the milters, the Postfix instances and the sink start' '
	fgfed_start
'

test_expect_success 'alice at a writes to bob at b: a sends it to b' '
	printf "sealed content stand-in\n" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -out sealed.der &&
	openssl cms -sign -binary -nodetach -outform DER -in sealed.der \
	    -signer a/accounts/alice@a.example/agent.crt \
	    -inkey alice@a.example.key -certfile a/chain.pem -out m1.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in m1.signed \
	    -out m1.der a/accounts/alice@a.example/courier.crt &&
	mail m1 content alice@a.example bob@b.example m1.der &&
	send "$a_addr:$a_port" m1 alice@a.example bob@b.example &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "m1@a.example.*rcpt=bob@b.example route=to-introduced-courier.*to=b.example"
'

test_expect_success 'b delivers it to bob: his agent key opens the same sealed content' '
	f=$(sink_wait "X-Rcpt-Args: <bob@b.example>") &&
	test_grep "^Tandem-Kind: content" "$f" &&
	test_grep "^From: alice@a.example" "$f" &&
	smtp_sink_body "$f" | base64 -d >new.der &&
	openssl cms -decrypt -inform DER -in new.der \
	    -recip b/accounts/bob@b.example/agent.crt \
	    -inkey bob@b.example.key -out new.signed &&
	openssl cms -verify -inform DER -in new.signed -CAfile root/root.crt \
	    -purpose any -out got.der 2>/dev/null &&
	cmp sealed.der got.der &&
	test_grep "peer=a.example ic=.* msgid=m1@a.example origin=a.example hops=1 rcpt=bob@b.example route=deliver-local" b.log
'

test_expect_success 'b recorded the origin introduction of a' '
	echo "a.example|tandem@a.example" >want &&
	pg_psql fg fgb -At -c "SELECT courier, endpoint FROM introductions WHERE element = '"'fg'"'" >got &&
	test_cmp want got
'

test_expect_success 'dave at private b writes to alice at a: deferred to the superior' '
	openssl cms -sign -binary -nodetach -outform DER -in sealed.der \
	    -signer b/accounts/dave@b.example/agent.crt \
	    -inkey dave@b.example.key -certfile b/chain.pem -out m2.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER -in m2.signed \
	    -out m2.der b/accounts/dave@b.example/courier.crt &&
	mail m2 content dave@b.example alice@a.example m2.der &&
	send "$b_addr:$b_port" m2 dave@b.example alice@a.example &&
	test_wait_log b.log "m2@b.example.*rcpt=alice@a.example route=defer-to-superior.*to=a.example" &&
	f=$(sink_wait "X-Rcpt-Args: <alice@a.example>") &&
	test_grep "^From: dave@b.example" "$f"
'

test_expect_success 'a delivered it and introduced itself back; b learned the route' '
	test_wait_log a.log "msgid=m2@b.example origin=b.example hops=1 rcpt=alice@a.example route=deliver-local introduced=b.example" &&
	test_wait_log b.log "introduction=a.example addresses=1 released=0" &&
	echo "alice@a.example|a.example|introduced" >want &&
	pg_psql fg fgb -At -c "SELECT address, courier, reason FROM address_routes" >got &&
	test_cmp want got
'

test_expect_success 'signed under another root: refused 5.7.7, logged' '
	ic f1 f1@b.example 1 evilb dave@b.example alice@a.example &&
	test_must_fail ic_send f1 evilb &&
	test_grep "550 5.7.7" swaks.out &&
	test_wait_log a.log "status=reject reason=\"5.7.7 inter-courier: signer certificate does not chain to a trust anchor"
'

test_expect_success 'a private courier claiming a sender outside its domain: 5.7.1' '
	ic f2 f2@b.example 1 b mallory@a.example alice@a.example &&
	test_must_fail ic_send f2 b &&
	test_grep "550 5.7.1" swaks.out &&
	test_wait_log a.log "private origin courier claims a sender outside"
'

test_expect_success 'over 8 hops: refused by the parser, 5.6.0' '
	ic f3 f3@b.example 9 b dave@b.example alice@a.example &&
	test_must_fail ic_send f3 b &&
	test_grep "550 5.6.0" swaks.out &&
	test_wait_log a.log "Hops 9, not 1 to 8"
'

test_expect_success 'at hop 8 a courier that must forward mails a notice instead' '
	ic f4 f4@b.example 8 b dave@b.example carol@c.example &&
	ic_send f4 b &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "rcpt=carol@c.example route=to-introduced-courier" &&
	f=$(sink_wait "X-Rcpt-Args: <dave@b.example>") &&
	test_grep "^Subject: Tandem: undeliverable private message" "$f" &&
	test_grep "Your private message f4@b.example could not be delivered to carol@c.example" "$f" &&
	test_grep "Reason: too many couriers crossed (hop limit)" "$f" &&
	sed -n "/^Content-Transfer-Encoding: base64/,/^--=tandem-notice--/p" "$f" |
	    sed "1,2d;\$d" | base64 -d >notice.der &&
	openssl cms -verify -inform DER -in notice.der -CAfile root/root.crt \
	    -purpose any -out notice.txt 2>/dev/null &&
	test_grep "could not be delivered to carol@c.example" notice.txt &&
	test_grep_not "^Tandem-Kind" "$f"
'

test_expect_success 'the same inter-courier message again is dropped' '
	ic_send f4 b &&
	test_grep "250 " swaks.out &&
	test_wait_log a.log "ic=f4@b.example .*duplicate=yes"
'

test_done
