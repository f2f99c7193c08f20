test_description='federation: an invitation to a user registered elsewhere is refused, and the held message follows him (figure 9)'
. "$TANDEM_SRC/t/test-lib.sh"

# Public isp holds alice's message for dave@home.example (no route to
# home: not introduced) and invites him. dave is registered at private
# home. His agent refuses the invitation to both of its elements; they
# introduce themselves to isp's, which send the held halves on.

test_expect_success_here 'isp and home run; alice registers at isp, dave at home' '
	fed_pki isp home && fed_start isp home &&
	fed_register isp alice && fed_register home dave
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
printf "From: alice@isp.example\r\nTo: dave@home.example\r\nSubject: %s\r\nMessage-ID: <f9@isp.example>\r\n\r\nDave, %s.\r\n" \
	"$secret" "$secret" >m.eml

test_expect_success 'isp holds both halves and invites dave@home.example' '
	fed_agent isp alice send --to dave@home.example --in m.eml >out &&
	fed_wait_fg isp "SELECT count(*) FROM held_messages" 1 30 &&
	test "$(fed_bg_sql isp "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 1 &&
	inv=$(fed_in home maildir_wait dave "^From: tandem@isp.example" 60) &&
	test_grep "^Tandem-Kind: invitation" "$inv"
'

test_expect_success 'dave reads: his agent refuses it to both of home'"'"'s elements' '
	fed_agent home dave read 2>err &&
	test_grep "invitation from isp.example refused: dave@home.example is registered at home.example (both elements told)" err
'

test_expect_success 'isp learns dave -> home (rejected) on both elements' '
	fed_wait_fg isp "SELECT courier || \$\$ \$\$ || reason FROM address_routes WHERE address = \$\$dave@home.example\$\$" "home.example rejected" 60 &&
	fed_wait_bg isp "SELECT courier || \$\$ \$\$ || reason FROM address_routes WHERE address = \$\$dave@home.example\$\$" "home.example rejected" 60 &&
	test "$(fed_fg_sql isp "SELECT status FROM invitations WHERE address = \$\$dave@home.example\$\$")" = rejected
'

test_expect_success 'the held content and ARM reach dave; he reads the message' '
	fed_in home maildir_wait dave "^Message-ID: <f9@isp.example>" 60 >/dev/null &&
	fed_wait_bg home "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$f9@isp.example\$\$" 1 60 &&
	fed_agent home dave fetch >/dev/null &&
	fed_agent home dave read --id f9@isp.example >got 2>err &&
	test_cmp m.eml got
'

test_expect_success 'nothing stays held at isp; split trust holds' '
	test "$(fed_bg_sql isp "SELECT count(*) FROM held_arms WHERE released_at IS NULL")" = 0 &&
	key=$(fed_content_key home dave f9@isp.example) && test ${#key} = 64 &&
	fed_split_trust isp "$secret" "$key" && fed_split_trust home "$secret" "$key"
'

test_done
