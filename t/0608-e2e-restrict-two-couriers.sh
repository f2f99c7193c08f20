test_description='end to end: a read receipt across two couriers (recipient agent -> its background -> the sender'"'"'s background -> the sender'"'"'s agent), once; No-Forward refused there too'
. "$TANDEM_SRC/t/test-lib.sh"

# Issue 15, part 2 (doc/flows.md 10): alice@isp.example writes to
# bob@corp.example with a read receipt and No-Forward. bob's first open
# posts the receipt to corp's background, which sends it to isp's (the
# ARM's origin) as an inter-courier receipt; isp's files it for alice.

test_expect_success_here 'isp and corp run; alice registers at isp, bob at corp' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register isp alice && fed_register corp bob
'

printf "From: alice@isp.example\r\nTo: bob@corp.example\r\nSubject: sealed\r\nMessage-ID: <rr@isp.example>\r\n\r\nBob, tell me when you read this.\r\n" >m1.eml

test_expect_success_here 'alice sends with a read receipt and No-Forward; bob fetches' '
	fed_agent isp alice send --to bob@corp.example --read-receipt \
	    --no-forward --in m1.eml >out &&
	echo rr@isp.example >want && test_cmp want out &&
	fed_in corp maildir_wait bob "^Message-ID: <rr@isp.example>" 60 >/dev/null &&
	fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$rr@isp.example\$\$" 1 60 &&
	fed_agent corp bob fetch >fetched &&
	test_cmp want fetched
'

test_expect_success 'bob sees beforehand that his first open tells alice; forward is refused (20)' '
	fed_agent corp bob inbox >out &&
	grep "^rr@" out >inbox &&
	echo "rr@isp.example alice@isp.example readable restrictions=no-forward receipt=alice@isp.example" >want &&
	test_cmp want inbox &&
	test_expect_code 20 fed_agent corp bob forward --id rr@isp.example \
	    --to alice@isp.example >out 2>err &&
	echo "tandem forward: refused: rr@isp.example: its sender alice@isp.example forbids forwarding it (No-Forward)" >want &&
	test_cmp want err
'

test_expect_success_here 'bob opens it: the receipt goes to corp'"'"'s background, then to isp'"'"'s' '
	fed_agent corp bob read --id rr@isp.example >got 2>err &&
	test_cmp m1.eml got &&
	test_grep "^tandem: rr@isp.example: a read receipt goes to alice@isp.example$" err &&
	test_grep "^tandem read: rr@isp.example: read receipt sent to alice@isp.example$" err &&
	test_grep "receipt msgid=rr@isp.example rcpt=bob@corp.example sender=alice@isp.example event=opened status=sent courier=isp.example" "$(fed_log corp bg)" &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE address = \$\$alice@isp.example\$\$ AND kind = \$\$receipt\$\$" 1 60 &&
	test_grep "courier receipt msgid=rr@isp.example rcpt=bob@corp.example origin=corp.example status=filed event=opened" "$(fed_log isp bg)"
'

test_expect_success 'alice fetches it; her tandem status shows bob opened it' '
	fed_agent isp alice fetch >out 2>err &&
	echo "tandem fetch: rr@isp.example to bob@corp.example: opened: read receipt: its recipient opened it" >want &&
	test_cmp want err &&
	today=$(date -u +%Y-%m-%d) &&
	fed_agent isp alice status rr@isp.example >out &&
	sed "s/ ${today}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z/ TODAY/" out >got &&
	echo "bob@corp.example opened TODAY read receipt: its recipient opened it" >want &&
	test_cmp want got
'

test_expect_success 'once: bob opens it again, nothing more goes; alice gets nothing more' '
	fed_agent corp bob read --id rr@isp.example >got 2>err &&
	test_grep_not "a read receipt goes\|read receipt sent" err &&
	test "$(grep -c "event=opened status=sent" "$(fed_log corp bg)")" = 1 &&
	fed_agent isp alice fetch >out 2>err &&
	test_must_fail test -s err
'

test_done
