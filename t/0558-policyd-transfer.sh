#!/bin/sh
test_description='policyd: an account a registration transfer brings is served while pending, with the old courier'"'"'s certificate, until its agent offers one of this courier'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# doc/flows.md 9, steps 4 and 7, the new background's part. The test
# acts as the new foreground: dan@mail.example comes from courier
# b.example, whose CA issued the agent certificate the transfer carried
# (dan.pem); this courier (a.example) issued its courier end and, later,
# the agent certificate of the rekey (dan2.pem). erin's account is
# pending for another reason: nothing of hers is served.

test_have_prog curl || test_skip_all 'curl not found'

fg() { pg_psql fg fg -c "$1"; }
bg() { pg_psql bg bg -c "$1"; }

# issue CADIR NAME ADDRESS: an agent key NAME.key and certificate with
# its chain NAME.pem for ADDRESS by the courier in CADIR
issue() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$2.key" -subj "/CN=$2" -out "$2.csr" 2>/dev/null &&
	tandem-ca account -d "$1" --address "$3" --csr "$2.csr" >/dev/null &&
	cp "$1/accounts/$3/agent.crt" "$2.crt" &&
	cat "$2.crt" "$1/chain.pem" >"$2.pem"
}

# pinned_is ADDRESS FILE: the background pinned FILE for ADDRESS
pinned_is() {
	bg "SELECT agent_cert FROM agent_pins WHERE address = \$\$$1\$\$" >pin.got &&
	{ cat "$2" && echo; } >pin.want &&
	test_cmp pin.want pin.got
}

test_expect_success_here 'a courier, the daemon, and an old courier under the same root' '
	pd_setup >setup.log 2>&1 &&
	pd_start &&
	(cd "$TRASH/pki" && tandem-ca courier -d b --name b.example \
		--role public --superior root >/dev/null)
'

test_expect_success 'the foreground makes the pending accounts' '
	issue "$TRASH/pki/b" dan dan@mail.example &&
	issue "$TRASH/pki/b" erin erin@mail.example &&
	issue "$PD_CA" dan2 dan@mail.example &&
	for u in dan erin; do
		d=$PD_CA/accounts/$u@mail.example &&
		if [ $u = erin ]; then
			issue "$PD_CA" erin0 erin@mail.example || return 1
		fi &&
		tandemctl account add --db "$PD_FG" --address "$u@mail.example" \
		    --status pending --courier-key "$d/courier.key" \
		    --courier-cert "$d/courier.crt" --agent-cert "$u.crt" \
		    --keybox-key "$TRASH/pki/keybox.key" >/dev/null || return 1
	done &&
	fg "UPDATE accounts SET transferred_from = \$\$b.example\$\$ WHERE address = \$\$dan@mail.example\$\$" &&
	pg_wait_for bg bg "SELECT string_agg(address || \$\$ \$\$ || coalesce(transferred_from, \$\$-\$\$), \$\$,\$\$ ORDER BY address) FROM accounts" "dan@mail.example b.example,erin@mail.example -"
'

test_expect_success 'the certificate the transfer carried is pinned while pending; no other pending one is' '
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins WHERE address = \$\$dan@mail.example\$\$" 1 &&
	pinned_is dan@mail.example dan.crt &&
	test "$(bg "SELECT count(*) FROM agent_pins WHERE address = \$\$erin@mail.example\$\$")" = 0
'

test_expect_success 'its holder fetches here; a pending account of no transfer is refused' '
	pd_status 200 dan GET /v1/mailbox &&
	test ! -s out.body &&
	pd_status 403 erin GET /v1/mailbox &&
	test_grep "active account" out.body
'

test_expect_success 'an offer of a certificate of the old courier is refused' '
	mv "$TRASH/pki/b/accounts/dan@mail.example" "$TRASH/pki/b/dan.keep" &&
	issue "$TRASH/pki/b" dan3 dan@mail.example &&
	code=$(pd_curl dan POST /v1/rekey dan3.pem) &&
	test "$code" = 403 &&
	echo "the certificate is not issued under this courier'"'"'s CA key" >expect &&
	test_cmp expect out.body
'

test_expect_success 'its offer of this courier'"'"'s certificate is taken' '
	code=$(pd_curl dan POST /v1/rekey dan2.pem) &&
	test "$code" = 200 &&
	test_grep "^offered" out.body &&
	pinned_is dan@mail.example dan.crt
'

test_expect_success 'the foreground activates it with that certificate: the pin moves' '
	{
		printf "UPDATE accounts SET status = \$x\$active\$x\$, agent_cert = \$x\$" &&
		cat dan2.crt &&
		printf "\$x\$ WHERE address = \$\$dan@mail.example\$\$;\n"
	} >upd.sql &&
	pg_psql fg fg -f upd.sql >/dev/null &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$dan@mail.example\$\$" active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins WHERE address = \$\$dan@mail.example\$\$ AND agent_cert LIKE \$\$%$(sed -n 2p dan2.crt)%\$\$" 1 &&
	pinned_is dan@mail.example dan2.crt &&
	pd_status 200 dan2 GET /v1/mailbox &&
	pd_status 403 dan GET /v1/mailbox
'

test_expect_success 'dan moves on: what the background signed drains to his pinned certificate, nothing else' '
	bg "INSERT INTO agent_mailbox (address, kind, message_id, body) VALUES (\$\$dan@mail.example\$\$, \$\$arm\$\$, \$\$late@mail.example\$\$, \$\$\\x0102\$\$), (\$\$dan@mail.example\$\$, \$\$notice-to-rekey\$\$, \$\$n@mail.example\$\$, \$\$\\x0304\$\$)" &&
	arm=$(bg "SELECT id FROM agent_mailbox WHERE kind = \$\$arm\$\$") &&
	notice=$(bg "SELECT id FROM agent_mailbox WHERE kind = \$\$notice-to-rekey\$\$") &&
	fg "UPDATE accounts SET status = \$\$transferred\$\$, redirect_to = \$\$b.example\$\$ WHERE address = \$\$dan@mail.example\$\$" &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$dan@mail.example\$\$" transferred &&
	pd_status 200 dan2 GET /v1/mailbox &&
	echo "$arm late@mail.example" >expect && test_cmp expect out.body &&
	pd_status 200 dan2 GET /v1/mailbox/$arm &&
	printf "\001\002" >expect && test_cmp expect out.body &&
	pd_status 404 dan2 GET /v1/mailbox/$notice &&
	pd_status 403 dan2 POST /v1/arm dan2.pem &&
	pd_status 403 dan2 POST /v1/rekey dan3.pem &&
	pd_status 403 dan GET /v1/mailbox
'

test_expect_success 'once it is fetched, the background answers 410: nothing is left for dan here' '
	pd_status 204 dan2 DELETE /v1/mailbox/$(bg "SELECT id FROM agent_mailbox WHERE kind = \$\$arm\$\$") &&
	pd_status 410 dan2 GET /v1/mailbox &&
	echo "account transferred to another courier; nothing is left for it here" >expect &&
	test_cmp expect out.body &&
	pd_status 403 erin GET /v1/mailbox
'

# back FILE ADDRESS: the foreground brings ADDRESS back by a transfer
# from b.example with the certificate (and chain) in FILE
back() {
	{
		printf "UPDATE accounts SET status = \$x\$pending\$x\$, transferred_from = \$x\$b.example\$x\$, agent_cert = \$x\$" &&
		cat "$1" &&
		printf "\$x\$ WHERE address = \$\$%s\$\$;\n" "$2"
	} >back.sql &&
	pg_psql fg fg -f back.sql >/dev/null
}

test_expect_success 'dan comes back with a certificate of this courier.s CA: his old pin stays, logged' '
	mv "$PD_CA/accounts/dan@mail.example" "$PD_CA/dan2.keep" &&
	issue "$PD_CA" dan5 dan@mail.example &&
	back dan5.pem dan@mail.example &&
	test_wait_log "$TRASH/policyd.log" "account address=dan@mail.example status=repin-refused" &&
	test_grep "status=repin-refused .*reason=\"issued under this courier.s CA key, not the one it came from\"" "$TRASH/policyd.log" &&
	pinned_is dan@mail.example dan2.crt &&
	pd_status 403 dan5 GET /v1/mailbox
'

test_expect_success 'dan comes back from b with b.s certificate: the pin the transfer brings replaces the old one' '
	mv "$TRASH/pki/b/accounts/dan@mail.example" "$TRASH/pki/b/dan3.keep" &&
	issue "$TRASH/pki/b" dan6 dan@mail.example &&
	back dan6.pem dan@mail.example &&
	test_wait_log "$TRASH/policyd.log" "account address=dan@mail.example status=repinned by=transfer" &&
	pinned_is dan@mail.example dan6.pem &&
	test "$(bg "SELECT by_transfer, left_at IS NULL FROM agent_pins WHERE address = \$\$dan@mail.example\$\$")" = "t|t" &&
	pd_status 200 dan6 GET /v1/mailbox &&
	pd_status 403 dan2 GET /v1/mailbox
'

test_expect_success 'an address that never left: a transfer row written for it moves no pin' '
	issue "$PD_CA" fay fay@mail.example &&
	d=$PD_CA/accounts/fay@mail.example &&
	tandemctl account add --db "$PD_FG" --address fay@mail.example \
	    --status active --courier-key "$d/courier.key" \
	    --courier-cert "$d/courier.crt" --agent-cert fay.crt \
	    --keybox-key "$TRASH/pki/keybox.key" >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins WHERE address = \$\$fay@mail.example\$\$" 1 &&
	issue "$TRASH/pki/b" fayb fay@mail.example &&
	back fayb.pem fay@mail.example &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$fay@mail.example\$\$" pending &&
	pinned_is fay@mail.example fay.crt &&
	pd_status 403 fayb GET /v1/mailbox &&
	test_grep_not "address=fay@mail.example status=repin" "$TRASH/policyd.log"
'

test_expect_success 'a transfer cancelled here closes the account: the pin it made goes, no other' '
	fg "UPDATE accounts SET status = \$\$closed\$\$ WHERE address IN (\$\$dan@mail.example\$\$, \$\$fay@mail.example\$\$)" &&
	pg_wait_for bg bg "SELECT string_agg(status, \$\$,\$\$) FROM accounts WHERE address IN (\$\$dan@mail.example\$\$, \$\$fay@mail.example\$\$)" "closed,closed" &&
	test "$(bg "SELECT address FROM agent_pins WHERE address IN (\$\$dan@mail.example\$\$, \$\$fay@mail.example\$\$)")" = fay@mail.example
'

test_done
