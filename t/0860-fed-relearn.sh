test_description='federation: an operator lists and removes what a courier learned, and it is learned again on demand'
. "$TANDEM_SRC/t/test-lib.sh"

# isp learns home and dave -> home from dave's invitation reject
# (figure 9, as in t/0820). isp's operator lists the rows, then removes
# the introductions and the route on both elements: the next message to
# dave is held and dave invited again, his agent refuses again, and isp
# learns it all again. The third message goes straight to home.

test_expect_success_here 'isp and home run; alice registers at isp, dave at home' '
	fed_pki isp home && fed_start isp home &&
	fed_register isp alice && fed_register home dave
'

mail() {
	printf "From: alice@isp.example\r\nTo: dave@home.example\r\nSubject: %s\r\nMessage-ID: <%s@isp.example>\r\n\r\nDave, this is %s.\r\n" \
		"$1" "$1" "$1" >"$1.eml"
}

# invited N: until dave's Maildir has N invitations from isp.
invited() {
	n=0
	while [ $n -lt 300 ]; do
		[ "$(fed_in home cr_maildir_match dave "^From: tandem@isp.example" |
		    wc -l)" -ge "$1" ] && return 0
		sleep 0.2
		n=$((n + 1))
	done
	echo "dave has fewer than $1 invitations from isp" >&2
	return 1
}

# reject_round ID N: alice sends ID; isp holds it and invites dave; his
# agent refuses (the Nth invitation from isp); the held halves reach
# home and dave reads ID.
reject_round() {
	mail "$1" &&
	fed_agent isp alice send --to dave@home.example --in "$1.eml" >out &&
	fed_wait_bg isp "SELECT count(*) FROM held_arms WHERE message_id = \$\$$1@isp.example\$\$" 1 60 &&
	fed_wait_fg isp "SELECT count(*) FROM invitations WHERE address = \$\$dave@home.example\$\$ AND status = \$\$pending\$\$" 1 60 &&
	invited "$2" &&
	fed_agent home dave read 2>err &&
	test_grep "invitation from isp.example refused: dave@home.example is registered at home.example (both elements told)" err &&
	fed_in home maildir_wait dave "^Message-ID: <$1@isp.example>" 60 >/dev/null &&
	fed_wait_bg home "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$1@isp.example\$\$" 1 60 &&
	fed_agent home dave fetch >/dev/null &&
	fed_agent home dave read --id "$1@isp.example" >got &&
	test_cmp "$1.eml" got
}

# learned K: what isp's element K (fg or bg) knows of home, one line
# per row, without the times.
learned() {
	db=$(fed_var isp CR_$(echo $1 | tr a-z A-Z)_DB) &&
	tandemctl intro list --db "$db" | grep "^home.example " |
		cut -d" " -f1-4 &&
	tandemctl route list --db "$db" | cut -d" " -f1-3
}

test_expect_success 'first message: held, dave invited, refused; isp learns home' '
	reject_round r1 1 &&
	fed_wait_fg isp "SELECT count(*) FROM address_routes" 1 60 &&
	fed_wait_bg isp "SELECT count(*) FROM address_routes" 1 60
'

test_expect_success 'the operator lists the introductions and the route on both elements' '
	printf "home.example fg tandem@home.example home.example\ndave@home.example home.example rejected\n" >want.fg &&
	learned fg >got.fg && test_cmp want.fg got.fg &&
	printf "home.example bg %s home.example\ndave@home.example home.example rejected\n" \
		"$(fed_var home CR_BG_URL)" >want.bg &&
	learned bg >got.bg && test_cmp want.bg got.bg
'

test_expect_success 'the operator removes them on both elements' '
	for k in FG BG; do
		db=$(fed_var isp CR_${k}_DB) &&
		tandemctl intro remove --db "$db" --courier home.example >out &&
		echo "removed 1 introduction of home.example" >want &&
		test_cmp want out &&
		tandemctl route remove --db "$db" --address dave@home.example >out &&
		echo "removed route of dave@home.example" >want &&
		test_cmp want out || return 1
	done &&
	learned fg >got && test ! -s got &&
	learned bg >got && test ! -s got
'

test_expect_success 'second message: isp knows nothing, invites again, learns again' '
	reject_round r2 2 &&
	fed_wait_fg isp "SELECT count(*) FROM address_routes" 1 60 &&
	fed_wait_bg isp "SELECT count(*) FROM address_routes" 1 60 &&
	learned fg >got.fg && test_cmp want.fg got.fg &&
	learned bg >got.bg && test_cmp want.bg got.bg
'

test_expect_success 'third message: straight to home, nothing held, no invitation' '
	mail r3 &&
	fed_agent isp alice send --to dave@home.example --in r3.eml >out &&
	fed_in home maildir_wait dave "^Message-ID: <r3@isp.example>" 60 >/dev/null &&
	fed_wait_bg home "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$r3@isp.example\$\$" 1 60 &&
	test "$(fed_bg_sql isp "SELECT count(*) FROM held_arms WHERE message_id = \$\$r3@isp.example\$\$")" = 0 &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM held_messages WHERE message_id = \$\$r3@isp.example\$\$")" = 0 &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM held_messages WHERE released_at IS NULL")" = 0 &&
	test "$(fed_fg_sql isp "SELECT count(*) FROM invitations WHERE address = \$\$dave@home.example\$\$ AND status = \$\$pending\$\$")" = 0 &&
	fed_agent home dave fetch >/dev/null &&
	fed_agent home dave read --id r3@isp.example >got &&
	test_cmp r3.eml got
'

test_done
