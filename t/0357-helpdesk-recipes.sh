test_description='doc/helpdesk.md: every recipe runs as the help desk, and the main ones answer a known situation'
. "$TANDEM_SRC/t/test-lib.sh"

# Issue 8, part 4: each fenced sql block of doc/helpdesk.md follows a
# line "<!-- recipe: fg|bg NAME -->". All are run, as tandem_helpdesk,
# on the element named, with the psql variables address and message_id;
# a recipe added later is run too. The situation: alice registered and
# fetched, a forged message refused, alice's mail to dave (no account)
# held, a rekey of alice noticed, a transfer of erin expected from
# another courier.

test_have_prog swaks || test_skip_all 'swaks is missing'

DOC=$TANDEM_SRC/doc/helpdesk.md

# rc_extract DOC DIR: one file DIR/N.sql per recipe, and DIR/list with
# "N ELEMENT NAME" lines. Fails on a malformed recipe line, a recipe
# line not followed by a fenced sql block, a fenced sql block without
# one, a name given twice, or no recipe at all.
rc_extract() {
	rm -rf "$2" && mkdir "$2" &&
	awk -v dir="$2" '
	function bad(why) { print FILENAME ":" FNR ": " why; err = 1; exit 1 }
	in_sql && /^```/ { in_sql = 0; close(file); next }
	in_sql { print >file; next }
	want { if ($0 != "```sql") bad("a recipe line not followed by ```sql")
		want = 0; in_sql = 1; next }
	/^<!-- *recipe/ {
		if (!match($0, /^<!-- recipe: (fg|bg) [a-z0-9-]+ -->$/))
			bad("malformed recipe line: " $0)
		split($0, f, " ")
		if ((f[3] " " f[4]) in seen) bad("recipe " f[3] " " f[4] " twice")
		seen[f[3] " " f[4]] = 1
		n++; file = dir "/" n ".sql"
		print n, f[3], f[4] >(dir "/list")
		want = 1; next
	}
	/^```sql/ { bad("a sql block without a recipe line") }
	END {
		if (err) exit 1
		if (want || in_sql) bad("the last recipe is cut short")
		if (n == 0) { print FILENAME ": no recipe"; exit 1 }
	}' "$1"
}

# rc_psql ELEMENT FILE [VAR=VALUE...]: FILE as tandem_helpdesk on the
# element, unaligned with a header line, stopping at the first error.
rc_psql() {
	_rc_el=$1 _rc_file=$2
	shift 2
	_rc_v=
	for _rc_a; do _rc_v="$_rc_v -v $_rc_a"; done
	# shellcheck disable=SC2086
	psql -X -q -A -P footer=off -v ON_ERROR_STOP=1 $_rc_v \
	    -d "$(pg_conninfo "$_rc_el" "$_rc_el" tandem_helpdesk)" \
	    -f "$_rc_file"
}

# rc_run_all DIR: every recipe of DIR, with alice's address and the held
# message; says which failed.
rc_run_all() {
	_rc_fail=0
	while read -r _rc_n _rc_el _rc_name; do
		rc_psql "$_rc_el" "$1/$_rc_n.sql" address=alice@a.example \
		    message_id=plans@a.example >"$1/$_rc_n.out" 2>&1 || {
			echo "recipe $_rc_el $_rc_name failed:"
			cat "$1/$_rc_n.out"
			_rc_fail=1
		}
	done <"$1/list"
	return $_rc_fail
}

# recipe ELEMENT NAME [VAR=VALUE...]: runs that recipe of the guide.
recipe() {
	_rc_n=$(awk -v e="$1" -v m="$2" '$2 == e && $3 == m { print $1 }' \
	    recipes/list)
	[ -n "$_rc_n" ] || { echo "no recipe $1 $2 in $DOC"; return 1; }
	_rc_el=$1
	shift 2
	rc_psql "$_rc_el" "recipes/$_rc_n.sql" "$@"
}

# col FILE NAME: column NAME of each row of FILE (rc_psql output).
col() {
	awk -F'|' -v c="$2" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i
		if (!k) { print "no column " c >"/dev/stderr"; exit 1 }
		next }
	{ print $k }' "$1"
}

# rows FILE: how many rows FILE has.
rows() { echo $(($(wc -l <"$1") - 1)); }

# is WANT GOT: the two strings are equal, else says so.
is() { [ "$1" = "$2" ] || { echo "want '$1', got '$2'"; return 1; }; }

test_expect_success 'the extraction refuses what it cannot run' '
	printf "# nothing\n" >none.md &&
	test_must_fail rc_extract none.md r >out && test_grep "no recipe" out &&
	printf "<!-- recipe: fg a -->\n\n\`\`\`sql\nSELECT 1;\n\`\`\`\n" >gap.md &&
	test_must_fail rc_extract gap.md r >out && test_grep "not followed" out &&
	printf "\`\`\`sql\nSELECT 1;\n\`\`\`\n" >bare.md &&
	test_must_fail rc_extract bare.md r >out && test_grep "without a recipe" out &&
	printf "<!-- recipe: xx a -->\n\`\`\`sql\nSELECT 1;\n\`\`\`\n" >el.md &&
	test_must_fail rc_extract el.md r >out && test_grep "malformed" out &&
	printf "<!-- recipe: fg a -->\n\`\`\`sql\nSELECT 1;\n\`\`\`\n" >two.md &&
	cat two.md two.md >twice.md &&
	test_must_fail rc_extract twice.md r >out && test_grep "twice" out &&
	rc_extract two.md r && echo "1 fg a" >expect && test_cmp expect r/list &&
	echo "SELECT 1;" >expect && test_cmp expect r/1.sql
'

test_expect_success_here 'the guide has recipes on both elements' '
	rc_extract "$DOC" recipes &&
	cat recipes/list &&
	grep -q " fg " recipes/list && grep -q " bg " recipes/list
'

test_expect_success_here 'a courier; alice registers and fetches' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice &&
	agent alice fetch >/dev/null
'

test_expect_success 'a recipe that fails, or that names no known variable, fails the run' '
	mkdir -p bad &&
	echo "1 fg broken" >bad/list &&
	echo "SELECT * FROM helpdesk.no_such_view;" >bad/1.sql &&
	test_must_fail rc_run_all bad >out && test_grep "recipe fg broken failed" out &&
	echo "SELECT :'"'"'sender'"'"';" >bad/1.sql &&
	test_must_fail rc_run_all bad >out && test_grep "recipe fg broken failed" out
'

printf 'From: alice@a.example\r\nTo: alice@a.example\r\nSubject: forged\r\nMessage-ID: <forged@a.example>\r\nMIME-Version: 1.0\r\nTandem-Kind: content\r\nContent-Type: text/plain\r\n\r\nnot a wrap at all\r\n' >forged.eml
printf 'From: alice@a.example\r\nTo: dave@a.example\r\nSubject: plans\r\nMessage-ID: <plans@a.example>\r\n\r\nDave: the plan is on.\r\n' >plans.eml

test_expect_success_here 'a forged message refused, a message to dave held' '
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" \
		--from alice@a.example --to alice@a.example \
		--data @forged.eml >swaks.out 2>&1 &&
	agent alice send --to dave@a.example --in plans.eml >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms" 1 30 &&
	pg_wait_for fg fg "SELECT count(*) FROM invitations WHERE address = \$\$dave@a.example\$\$" 1 30
'

test_expect_success 'is alice registered? yes, at generation 1 (fg account)' '
	recipe fg account address=alice@a.example >out &&
	is 1 "$(rows out)" &&
	is active "$(col out status)" && is 1 "$(col out key_generation)" &&
	recipe fg account address=dave@a.example >out &&
	is 0 "$(rows out)"
'

test_expect_success 'is her agent alive? it fetched, nothing waits (bg agent)' '
	recipe bg agent address=alice@a.example >out &&
	is 1 "$(rows out)" &&
	is active "$(col out status)" && is 0 "$(col out waiting)" &&
	test -n "$(col out last_fetch_at)" &&
	recipe bg agent address=dave@a.example >out &&
	is 0 "$(rows out)"
'

test_expect_success 'dave has no account but a pending invitation (fg invitations)' '
	recipe fg invitations address=dave@a.example >out &&
	is 1 "$(rows out)" && is pending "$(col out status)" &&
	recipe fg invitations address=alice@a.example >out &&
	is accepted "$(col out status)"
'

test_expect_success 'where is the forged message? refused, and why (fg message)' '
	grep "<\*\* *550" swaks.out | sed "s/^<\*\* *550[ -]//" >reply &&
	test -s reply &&
	recipe fg message message_id=forged@a.example >out &&
	is 1 "$(rows out)" &&
	is refused "$(col out what)" && is reject "$(col out detail)" &&
	is alice@a.example "$(col out who)" &&
	col out reply >got && test_cmp reply got &&
	recipe bg message message_id=forged@a.example >out &&
	is 0 "$(rows out)"
'

test_expect_success 'where is the plans? held for dave, on both elements (fg, bg message)' '
	recipe fg message message_id=plans@a.example >out &&
	is 1 "$(rows out)" &&
	is held "$(col out what)" && is dave@a.example "$(col out who)" &&
	recipe bg message message_id=plans@a.example >out &&
	is 1 "$(rows out)" &&
	is "waiting|held|dave@a.example" "$(col out what)|$(col out detail)|$(col out who)"
'

bg_running() {
	recipe bg replication >rep.out &&
	[ "$(col rep.out state)" = running ] &&
	[ "$(col rep.out lag_seconds)" -le 25 ]
}

test_expect_success 'is the background behind? no: running, a small lag (bg, fg replication)' '
	wait_until 30 bg_running &&
	recipe fg replication >out &&
	is 1 "$(rows out)" &&
	is streaming "$(col out state)" &&
	test "$(col out lag_seconds)" -le 25
'

test_expect_success_here 'a rekey of alice, a transfer of erin expected from b.example' '
	tandemctl account rekey --db "$CR_FG_DB" --reason "help desk" \
	    alice@a.example >/dev/null &&
	(
		cd "$CR_PKI" &&
		tandem-ca courier -d b.example --name b.example --role public \
		    --superior root &&
		tandem-ca element -d b.example --fg tandem@b.example &&
		tandemctl intro add --db "$CR_FG_DB" \
		    --cert b.example/elements/fg.crt \
		    --chain b.example/chain.pem --anchors root/root.crt
	) >pki-b.log 2>&1 &&
	tandemctl transfer expect --db "$CR_FG_DB" erin@a.example \
	    --from b.example >/dev/null &&
	pg_wait_for fg fg "SELECT state FROM rekeys" noticed 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE kind = \$\$notice-to-rekey\$\$ AND fetched_at IS NULL" 1 30
'

test_expect_success 'which transfers are in flight? erin, incoming, recorded (fg transfers)' '
	recipe fg transfers >out &&
	is 1 "$(rows out)" &&
	is "erin@a.example|incoming|b.example|recorded" \
	    "$(col out address)|$(col out direction)|$(col out other_courier)|$(col out state)"
'

test_expect_success 'which rekeys? alice to 2, noticed, its notice waiting (fg rekeys, rekeys-of, bg rekey-waiting)' '
	recipe fg rekeys >out &&
	is 1 "$(rows out)" &&
	is "alice@a.example|2|noticed|operator" \
	    "$(col out address)|$(col out generation)|$(col out state)|$(col out requested_by)" &&
	recipe fg rekeys-of address=alice@a.example >out &&
	is "2|noticed" "$(col out generation)|$(col out state)" &&
	recipe fg rekeys-of address=dave@a.example >out &&
	is 0 "$(rows out)" &&
	recipe bg rekey-waiting address=alice@a.example >out &&
	is 1 "$(rows out)" && is notice-to-rekey "$(col out kind)" &&
	recipe fg account address=alice@a.example >out &&
	is 1 "$(col out key_generation)"
'

test_expect_success 'who refused what? the forged message (fg refusals)' '
	recipe fg refusals >out &&
	is 1 "$(rows out)" && is forged@a.example "$(col out message_id)" &&
	is reject "$(col out status)"
'

test_expect_success 'every recipe of the guide runs as the help desk' '
	rc_run_all recipes
'

# The tables that hold a key, an ARM, content or an invitation or route
# token. A name that disappears from the schema fails here: find where
# its data went.
FG_SECRET="account_keys bg_relay held_messages outbox invitations invitation_tokens route_tokens"
BG_SECRET="account_keys bg_relay held_arms agent_mailbox bg_outbox invitation_tokens route_tokens carried_arms"

# hd_denied EL TABLE...: each public.TABLE exists on EL, and a SELECT of
# it as tandem_helpdesk is refused (one session: each statement fails
# on its own).
hd_denied() {
	_hd_el=$1
	shift
	pg_psql "$_hd_el" "$_hd_el" -c "SELECT t FROM unnest(string_to_array('$*', ' ')) t
	    WHERE to_regclass('public.' || t) IS NULL" >missing || return 1
	[ ! -s missing ] || { echo "$_hd_el: no table $(cat missing)"; return 1; }
	for _hd_t; do
		echo "SELECT * FROM public.$_hd_t LIMIT 1;"
	done >denied.sql || return 1
	# Its status says nothing here: each statement is to fail.
	psql -X -q -At -v ON_ERROR_STOP=0 -f denied.sql \
	    -d "$(pg_conninfo "$_hd_el" "$_hd_el" tandem_helpdesk)" \
	    >denied.out 2>denied.err
	[ ! -s denied.out ] &&
	is $# "$(grep -c "ERROR: *permission denied for" denied.err)" ||
	    { cat denied.out denied.err; return 1; }
}

test_expect_success 'the help desk reads no key, ARM, content or token' '
	hd_denied fg $FG_SECRET && hd_denied bg $BG_SECRET &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM account_keys")" -gt 0 &&
	test "$(pg_psql bg bg -c "SELECT count(*) FROM held_arms")" -gt 0
'

# The help desk's lack of a right on schema public is not all that keeps
# it out: it has no right on any column of any relation there either,
# but on schema_migrations (versions and file names only, granted to
# PUBLIC for the daemons' check, ctl/db.c).
test_expect_success 'nor any other table of either element' '
	for el in fg bg; do
		pg_psql $el $el -c "SELECT relname FROM pg_class WHERE relnamespace = \$\$public\$\$::regnamespace AND relkind IN (\$\$r\$\$, \$\$p\$\$, \$\$v\$\$, \$\$m\$\$)" >tables &&
		test "$(wc -l <tables)" -gt 10 &&
		hd_denied $el $(cat tables) &&
		is f "$(pg_psql $el $el -c "SELECT has_schema_privilege(\$\$tandem_helpdesk\$\$, \$\$public\$\$, \$\$USAGE\$\$)")" &&
		pg_psql $el $el -c "SELECT relname FROM pg_class WHERE relnamespace = \$\$public\$\$::regnamespace AND relname <> \$\$schema_migrations\$\$ AND has_any_column_privilege(\$\$tandem_helpdesk\$\$, oid, \$\$SELECT\$\$)" >readable &&
		{ test ! -s readable || { echo "$el: the help desk may read:"; cat readable; false; }; } ||
		exit 1
	done
'

test_expect_success 'no help-desk view has a column of a key, an ARM, a body or a token' '
	for el in fg bg; do
		pg_psql $el $el -c "SELECT table_name || \$\$.\$\$ || column_name FROM information_schema.columns WHERE table_schema = \$\$helpdesk\$\$ AND column_name IN (\$\$sealed_key\$\$, \$\$body\$\$, \$\$arm\$\$, \$\$token_hash\$\$)" >cols &&
		{ test ! -s cols || { cat cols; exit 1; }; } || exit 1
	done &&
	is 1 "$(pg_psql fg fg -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = \$\$public\$\$ AND table_name = \$\$held_messages\$\$ AND column_name = \$\$body\$\$")"
'

test_done
