test_description='federation: the recipient courier'"'"'s background down while a message is on its way'
. "$TANDEM_SRC/t/test-lib.sh"

# corp's policyd is stopped; alice@isp.example writes to bob@corp. The
# content arrives and waits unreadable (no ARM); isp's BG keeps retrying
# the ARM; once corp's BG is back it arrives and the message opens.

test_expect_success_here 'isp and corp run; alice at isp, bob at corp; corp'"'"'s BG stopped' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register isp alice && fed_register corp bob &&
	fed_in corp courier_policyd_stop
'

printf "From: alice@isp.example\r\nTo: bob@corp.example\r\nSubject: later\r\nMessage-ID: <down@isp.example>\r\n\r\nWhen you can.\r\n" >m.eml

test_expect_success 'alice sends; the content reaches bob, without its ARM' '
	fed_agent isp alice send --to bob@corp.example --in m.eml >out &&
	fed_in corp maildir_wait bob "^Message-ID: <down@isp.example>" 60 >/dev/null &&
	fed_agent corp bob inbox >inbox 2>&1 ;
	grep "^down@isp.example " inbox >line &&
	echo "down@isp.example alice@isp.example no-arm" >want && test_cmp want line &&
	test_expect_code 16 fed_agent corp bob read --id down@isp.example
'

test_expect_success 'isp'"'"'s BG keeps the ARM and retries it' '
	fed_wait_bg isp "SELECT count(*) FROM bg_outbox WHERE sent_at IS NULL AND attempts >= 1" 1 60 &&
	test_grep "courier-send .* url=$(fed_var corp CR_BG_URL) status=retry" "$(fed_log isp bg)"
'

test_expect_success_here 'corp'"'"'s BG back: the ARM arrives' '
	fed_in corp courier_policyd_start &&
	fed_bg_sql isp "UPDATE bg_outbox SET next_attempt_at = now() WHERE sent_at IS NULL" >/dev/null &&
	fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$down@isp.example\$\$" 1 90
'

test_expect_success 'bob fetches; the message opens' '
	fed_agent corp bob fetch >/dev/null &&
	fed_agent corp bob read --id down@isp.example >got &&
	test_cmp m.eml got
'

test_done
