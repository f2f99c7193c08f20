test_description='federation: introduced couriers carry both halves directly (figure 7)'
. "$TANDEM_SRC/t/test-lib.sh"

# Public isp and its private subordinate corp know each other from the
# seeded introductions. alice@isp.example writes to bob@corp.example:
# the content goes FG to FG by mail, the ARM BG to BG by HTTPS, each
# hop 1; bob reads it byte for byte. Then the other way.

test_expect_success_here 'isp and corp run; alice registers at isp, bob at corp' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register isp alice && fed_register corp bob
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
printf "From: alice@isp.example\r\nTo: bob@corp.example\r\nSubject: %s\r\nMessage-ID: <f7@isp.example>\r\n\r\nBob, %s.\r\n" \
	"$secret" "$secret" >m1.eml

test_expect_success 'alice sends: both halves leave isp for corp, nothing held' '
	fed_agent isp alice send --to bob@corp.example --in m1.eml >out &&
	echo f7@isp.example >want && test_cmp want out &&
	test "$(fed_bg_sql isp "SELECT count(*) FROM held_arms")" = 0
'

test_expect_success 'the content reaches bob'"'"'s Maildir through corp'"'"'s milter' '
	f=$(fed_in corp maildir_wait bob "^Message-ID: <f7@isp.example>" 60) &&
	test_grep "^From: alice@isp.example" "$f" &&
	test_grep "^Tandem-Kind: content" "$f" &&
	test_grep_not "$secret" "$f" &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM held_messages")" = 0
'

test_expect_success 'the ARM reaches corp'"'"'s BG, hop 1, origin isp' '
	fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$f7@isp.example\$\$" 1 60 &&
	test_grep "courier msgid=f7@isp.example rcpt=bob@corp.example action=forward courier=corp.example hops=1 origin=isp.example" "$(fed_log isp bg)" &&
	test_grep "courier msgid=f7@isp.example rcpt=bob@corp.example action=deliver hops=1 origin=isp.example" "$(fed_log corp bg)"
'

test_expect_success 'bob fetches and reads it byte for byte' '
	fed_agent corp bob fetch >fetched &&
	echo f7@isp.example >want && test_cmp want fetched &&
	fed_agent corp bob read --id f7@isp.example >got &&
	test_cmp m1.eml got
'

test_expect_success 'split trust holds on the four elements' '
	key=$(fed_content_key corp bob f7@isp.example) && test ${#key} = 64 &&
	fed_split_trust isp "$secret" "$key" &&
	fed_split_trust corp "$secret" "$key"
'

printf "From: bob@corp.example\r\nTo: alice@isp.example\r\nSubject: re\r\nMessage-ID: <f7r@corp.example>\r\n\r\nThanks.\r\n" >m2.eml

test_expect_success 'the answer goes back up the same way' '
	fed_agent corp bob send --to alice@isp.example --in m2.eml >out &&
	fed_in isp maildir_wait alice "^Message-ID: <f7r@corp.example>" 60 >/dev/null &&
	fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$f7r@corp.example\$\$" 1 60 &&
	fed_agent isp alice fetch >/dev/null &&
	fed_agent isp alice read --id f7r@corp.example >got &&
	test_cmp m2.eml got
'

test_done
