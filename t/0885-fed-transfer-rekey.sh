test_description='federation: a registration transfer (figure 5) from private corp to public isp, then a rekey (figure 4) at isp, with mail before, during and after each'
. "$TANDEM_SRC/t/test-lib.sh"

# bob@corp.example moves from corp (private, under isp) to isp, whose
# issuing CA covers corp.example too. Both operators act (expect at
# isp, start at corp); the milters carry the rest, bob's own agent
# moves with "tandem fetch". alice@isp.example writes to bob before,
# during and after; dave@corp.example after. Each message is read byte
# for byte; split trust holds on the four elements.

test_expect_success_here 'isp and corp run; alice at isp, bob and dave at corp' '
	fed_pki isp corp &&
	(cd "$FED_TOP/pki" && rm -r isp/issuing &&
	    tandem-ca issuing -d isp --domain isp.example \
	    --domain corp.example) >/dev/null &&
	fed_start isp corp &&
	fed_register isp alice && fed_register corp bob &&
	fed_register corp dave
'

# eml NAME FROM: a message NAME to bob with a secret of its own.
eml() {
	_s=secret-$1-$(od -An -N8 -tx1 /dev/urandom | tr -d " \n")
	printf "From: %s\r\nTo: bob@corp.example\r\nSubject: %s\r\nMessage-ID: <%s@x.example>\r\n\r\nBob, %s.\r\n" \
	    "$2" "$_s" "$1" "$_s" >$1.eml &&
	echo "$_s" >$1.secret
}

# readable NAME X: bob (his agent at courier X's folder) fetched and
# reads NAME byte for byte.
readable() {
	fed_agent corp bob read --id $1@x.example >$1.got &&
	test_cmp $1.eml $1.got
}

# arm_at X NAME: the ARM of NAME waits for bob at X's background.
arm_at() {
	fed_wait_bg $1 "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$2@x.example\$\$ AND address = \$\$bob@corp.example\$\$" 1 60
}

bob_conf=$FED_TOP/corp/agent-bob/tandem.conf

# store NAME: a setting in bob's agent store.
store() {
	sqlite3 "$FED_TOP/corp/agent-bob/store.db" \
	    "SELECT value FROM config WHERE name = \"$1\""
}

test_expect_success 'before: alice writes to bob at corp, he reads it' '
	eml m1 alice@isp.example &&
	fed_agent isp alice send --to bob@corp.example --in m1.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m1@x.example>" 60 >/dev/null &&
	arm_at corp m1 &&
	fed_agent corp bob fetch >/dev/null && readable m1
'

test_expect_success 'the operators: expect at isp, start at corp, while isp.s milter is down' '
	tandemctl transfer expect --db "$(fed_var isp CR_FG_DB)" \
	    bob@corp.example --from corp.example >out &&
	test_grep "^transfer bob@corp.example incoming from corp.example recorded\$" out &&
	fed_in isp courier_milter_stop &&
	tandemctl transfer start --db "$(fed_var corp CR_FG_DB)" \
	    bob@corp.example --to isp.example >out &&
	test_grep "^transfer bob@corp.example outgoing to isp.example started\$" out
'

test_expect_success 'the subscription waits in corp.s queue while isp.s milter is down, nothing changed at either; then it goes' '
	fed_wait_fg corp "SELECT state FROM transfers" subscribed &&
	q=$(fed_in corp postfix_dir fg) &&
	wait_until 60 sh -c "postqueue -c $q -p | grep -q tandem@isp.example" &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM accounts WHERE address = \$\$bob@corp.example\$\$")" = 0 &&
	test "$(fed_fg_sql corp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$")" = active &&
	fed_in isp courier_milter_start && postqueue -c "$q" -f
'

test_expect_success 'the milters: subscription, pending account at isp, notice at corp' '
	fed_wait_fg corp "SELECT state FROM transfers" rekeying &&
	fed_wait_fg isp "SELECT status || transferred_from FROM accounts WHERE address = \$\$bob@corp.example\$\$" pendingcorp.example &&
	fed_wait_bg isp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$" pending &&
	fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE address = \$\$bob@corp.example\$\$ AND kind = \$\$notice-to-rekey\$\$" 1 &&
	printf "%s\n" "bob@corp.example|incoming|corp.example|subscribed" >want &&
	fed_fg_sql isp "SELECT address, direction, other_courier, state FROM helpdesk.transfers_in_flight" >got &&
	test_cmp want got
'

test_expect_success 'during: alice writes again; isp still routes bob to corp' '
	eml m2 alice@isp.example &&
	fed_agent isp alice send --to bob@corp.example --in m2.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m2@x.example>" 60 >/dev/null &&
	arm_at corp m2
'

test_expect_success 'bob fetches while isp.s background is down: m2, and the notice asks isp for his next key (75)' '
	: corp.s background learns of the move late: what it files meanwhile \
	    waits there for bob &&
	fed_bg_sql corp "ALTER SUBSCRIPTION tandem_bg DISABLE" &&
	fed_in isp courier_policyd_stop &&
	sed -i "s|^\(\tresolve = {\)\(.*\)}|\1\2, \"$(fed_var isp CR_BG_HOST):$(fed_var isp CR_BG_PORT):$(fed_var isp CR_BG_ADDR)\"}|" "$bob_conf" &&
	test_expect_code 75 fed_agent corp bob fetch >fetched 2>err &&
	test_grep "^tandem fetch: GET https://$(fed_var isp CR_BG_HOST):$(fed_var isp CR_BG_PORT)/v1/mailbox: " err &&
	test_grep "^m2@x.example\$" fetched &&
	test_grep "^transfer: asked isp.example for generation 2\$" fetched &&
	test "$(store generation)" = 1 &&
	readable m2
'

test_expect_success 'isp took the exchange-keys signed with the transferred certificate and issued generation 2' '
	fed_in isp wait_until 60 grep -q "rekey address=bob@corp.example generation=2 status=keys-sent" "$(fed_log isp fg)" &&
	test_grep "kind=service passed=another-courier" "$(fed_log corp fg)"
'

test_expect_success 'isp.s background back, corp.s milter down: he moves, his rekeying-complete waits (75)' '
	fed_in isp courier_policyd_start &&
	fed_in corp courier_milter_stop &&
	n=0 && while [ "$(store generation)" != 2 ] && [ $n -lt 30 ]; do
		fed_agent corp bob fetch >>fetched 2>>err; sleep 1; n=$((n + 1))
	done &&
	sed -n "/^rekey:/p; /^transfer: now/p" fetched >got &&
	printf "%s\n" "rekey: now at generation 2" \
	    "transfer: now with isp.example (background $(fed_var isp CR_BG_URL))" >want &&
	test_cmp want got &&
	test "$(store bg-url)" = "$(fed_var isp CR_BG_URL)" &&
	test "$(store register-address)" = tandem@isp.example &&
	test -z "$(store transfer-bg)" &&
	test_grep "rekeying-complete for generation 2 not sent: .*; it is sent again at the next fetch" err &&
	test "$(store rekey-complete-pending)" = 2 &&
	test "$(fed_fg_sql isp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$")" = pending
'

test_expect_success 'corp.s milter back: his next fetch sends it, through corp.s mail server' '
	fed_in corp courier_milter_start &&
	sed -i "s|^\(\tbg_url = \).*|\1\"$(fed_var isp CR_BG_URL)\"|" "$bob_conf" &&
	{ fed_agent corp bob fetch >out 2>err || { cat err; false; }; } &&
	test_grep "^tandem fetch: rekeying-complete for generation 2 sent\$" err &&
	test -z "$(store rekey-complete-pending)"
'

test_expect_success 'isp: active, transfer complete; corp: transferred to isp' '
	fed_wait_fg isp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$" active &&
	fed_wait_fg isp "SELECT state FROM transfers" complete &&
	fed_wait_fg corp "SELECT status || redirect_to FROM accounts WHERE address = \$\$bob@corp.example\$\$" transferredisp.example &&
	fed_wait_fg corp "SELECT state FROM transfers WHERE address = \$\$bob@corp.example\$\$" complete &&
	fed_wait_bg isp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$" active &&
	test "$(fed_bg_sql corp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$")" = active &&
	test -z "$(fed_fg_sql isp "SELECT * FROM helpdesk.transfers_in_flight")" &&
	test -z "$(fed_fg_sql corp "SELECT * FROM helpdesk.transfers_in_flight")"
'

test_expect_success 'bob points his agent at isp (submission and background)' '
	sed -i -e "s|^\(\tsubmission = \).*|\1\"$(fed_var isp CR_FG_ADDR):$(fed_var isp CR_SMTP_PORT)\"|" \
	    -e "s|^\(\tbg_url = \).*|\1\"$(fed_var isp CR_BG_URL)\"|" "$bob_conf" &&
	fed_agent corp bob fetch >out &&
	! test -s out
'

test_expect_success 'dave writes before corp.s background knows: the ARM waits there, bob fetches it with the key he left with' '
	eml m5 dave@corp.example &&
	fed_agent corp dave send --to bob@corp.example --in m5.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m5@x.example>" 60 >/dev/null &&
	test_grep "m5@x.example.*rcpt=bob@corp.example route=to-new-courier" "$(fed_log corp fg)" &&
	arm_at corp m5 &&
	fed_agent corp bob fetch >out && test_grep "^m5@x.example\$" out &&
	test "$(store left-generation)" = 1 &&
	readable m5 &&
	test "$(fed_bg_sql corp "SELECT count(*) FROM agent_mailbox WHERE address = \$\$bob@corp.example\$\$ AND kind = \$\$arm\$\$")" = 0
'

test_expect_success 'corp.s background learns of the move: it answers 410 and bob forgets it' '
	fed_bg_sql corp "ALTER SUBSCRIPTION tandem_bg ENABLE" &&
	fed_wait_bg corp "SELECT status FROM accounts WHERE address = \$\$bob@corp.example\$\$" transferred &&
	fed_agent corp bob fetch >out 2>err &&
	! test -s out &&
	test_grep "the courier this agent left holds nothing more for it" err &&
	test -z "$(store left-bg)" &&
	test_grep "mailbox client=bob@corp.example status=drained" "$(fed_log corp bg)"
'

test_expect_success 'after: alice writes to bob; isp delivers it itself, he reads it' '
	eml m3 alice@isp.example &&
	fed_agent isp alice send --to bob@corp.example --in m3.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m3@x.example>" 60 >/dev/null &&
	arm_at isp m3 &&
	test_grep "m3@x.example.*rcpt=bob@corp.example route=deliver-local" "$(fed_log isp fg)" &&
	fed_agent corp bob fetch >out && test_grep "^m3@x.example\$" out &&
	readable m3
'

test_expect_success 'after: dave writes from corp; corp sends both halves on to isp' '
	eml m4 dave@corp.example &&
	fed_agent corp dave send --to bob@corp.example --in m4.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m4@x.example>" 60 >/dev/null &&
	arm_at isp m4 &&
	test_grep "m4@x.example.*rcpt=bob@corp.example route=to-new-courier" "$(fed_log corp fg)" &&
	fed_agent corp bob fetch >out && test_grep "^m4@x.example\$" out &&
	readable m4
'

test_expect_success 'then a rekey (figure 4) at isp: the notice reaches bob through isp.s background' '
	tandemctl account rekey --db "$(fed_var isp CR_FG_DB)" --reason yearly \
	    bob@corp.example >out &&
	echo "account bob@corp.example rekey to generation 3 requested" >want &&
	test_cmp want out &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE address = \$\$bob@corp.example\$\$ AND kind = \$\$notice-to-rekey\$\$ AND fetched_at IS NULL" 1 &&
	fed_agent corp bob fetch >out 2>err &&
	test_grep "^rekey: asked for generation 3\$" out &&
	test "$(store generation)" = 2
'

test_expect_success 'during it, alice writes to his generation 2; he installs generation 3, both read' '
	eml m6 alice@isp.example &&
	fed_agent isp alice send --to bob@corp.example --in m6.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m6@x.example>" 60 >/dev/null &&
	arm_at isp m6 &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE address = \$\$bob@corp.example\$\$ AND kind = \$\$exchange-keys\$\$ AND fetched_at IS NULL" 1 &&
	fed_agent corp bob fetch >out 2>err &&
	test_grep "^rekey: now at generation 3\$" out &&
	test_grep "^m6@x.example\$" out &&
	fed_wait_fg isp "SELECT generation || state FROM rekeys WHERE address = \$\$bob@corp.example\$\$ ORDER BY id DESC LIMIT 1" 3complete &&
	eml m7 dave@corp.example &&
	fed_agent corp dave send --to bob@corp.example --in m7.eml >/dev/null &&
	fed_in corp maildir_wait bob "^Message-ID: <m7@x.example>" 60 >/dev/null &&
	arm_at isp m7 &&
	fed_agent corp bob fetch >out && test_grep "^m7@x.example\$" out &&
	readable m6 && readable m7
'

test_expect_success 'what bob read before the move and the rekey still opens with his old keys' '
	readable m1 && readable m2 && readable m3
'

test_expect_success 'split trust holds on the four elements' '
	for m in m1 m3 m4 m5 m6 m7; do
		key=$(fed_content_key corp bob $m@x.example) &&
		test ${#key} = 64 &&
		fed_split_trust isp "$(cat $m.secret)" "$key" &&
		fed_split_trust corp "$(cat $m.secret)" "$key" || return 1
	done
'

test_done
