test_description='policyd: ARMs held for unregistered recipients, released on activation, expired ones dropped'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

test_have_prog curl || test_skip_all 'curl not found'

# from_now SECONDS: an RFC 3339 time that many seconds from now.
from_now() {
	date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ
}

# post USER MSGID EXPIRES RCPT...: an ARM from USER, 201 expected.
post() {
	_u=$1 _id=$2 _exp=$3
	shift 3
	pd_arm "$_id.arm" "$_id@a.example" "$_u@a.example" "$_exp" "$@" &&
	pd_wrap "$_u" "$_id.arm" "$_id.p7m" &&
	pd_status 201 "$_u" POST /v1/arm "$_id.p7m"
}

# fetch USER MSGID: USER fetches it from the mailbox and opens the wrap;
# it must be exactly the ARM that was posted.
fetch() {
	_id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox WHERE address = \$\$$1@a.example\$\$ AND message_id = \$\$$2@a.example\$\$") &&
	test -n "$_id" &&
	pd_status 200 "$1" GET "/v1/mailbox/$_id" &&
	openssl cms -decrypt -inform DER -in out.body -recip "$1.pem" \
		-inkey "$1.key" -out "$1.signed" &&
	openssl cms -verify -inform DER -in "$1.signed" -purpose any \
		-CAfile "$TRASH/pki/root/root.crt" -out "$1.got" 2>/dev/null &&
	test_cmp "$2.arm" "$1.got"
}

held() {
	pd_bg_count held_arms "recipient = \$\$$1@a.example\$\$ AND message_id = \$\$$2@a.example\$\$ AND $3"
}

test_expect_success_here 'a courier, accounts, the daemon' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pd_account erin pending &&
	for u in dave frank gina hank; do pd_account $u || exit 1; done &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts" 3 &&
	pd_start
'

test_expect_success 'an ARM for bob and dave: bob gets it, dave'"'"'s is held as received' '
	post alice m1 - bob@a.example dave@a.example &&
	test_grep "msgid=m1@a.example sender=alice@a.example status=stored delivered=1 held=1" policyd.log &&
	test "$(held dave m1 "released_at IS NULL")" = 1 &&
	pg_psql bg bg -c "SELECT encode(arm, \$\$hex\$\$) FROM held_arms" >held.hex &&
	od -An -v -tx1 m1.p7m | tr -d " \n" >posted.hex && echo >>posted.hex &&
	test_cmp posted.hex held.hex &&
	test_grep "rcpt=dave@a.example action=hold route=hold-and-invite" policyd.log &&
	fetch bob m1
'

test_expect_success 'dave registers on the foreground: replicated, notified, released' '
	pd_account dave active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$dave@a.example\$\$" 1 &&
	test "$(held dave m1 "released_at IS NOT NULL")" = 1 &&
	test_grep "account address=dave@a.example status=notified" policyd.log &&
	test_grep "arm msgid=m1@a.example rcpt=dave@a.example status=released" policyd.log &&
	fetch dave m1
'

test_expect_success 'a pending account holds; its activation releases' '
	post alice m2 - erin@a.example &&
	test "$(held erin m2 "released_at IS NULL")" = 1 &&
	pg_psql fg fg -c "UPDATE accounts SET status = \$\$active\$\$ WHERE address = \$\$erin@a.example\$\$" &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$erin@a.example\$\$" 1 &&
	fetch erin m2
'

test_expect_success 'an active account without an agent certificate holds until it has one' '
	pd_issue judy &&
	d=$PD_CA/accounts/judy@a.example &&
	tandemctl account add --db "$PD_FG" --address judy@a.example \
		--status active --courier-key "$d/courier.key" \
		--courier-cert "$d/courier.crt" \
		--keybox-key "$TRASH/pki/keybox.key" >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts WHERE address = \$\$judy@a.example\$\$" 1 &&
	post alice m9 - judy@a.example &&
	test "$(held judy m9 "released_at IS NULL")" = 1 &&
	pg_psql fg fg -c "UPDATE accounts SET agent_cert = \$\$$(cat "$d/agent.crt")\$\$ WHERE address = \$\$judy@a.example\$\$" &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$judy@a.example\$\$" 1 &&
	fetch judy m9
'

test_expect_success_here 'background behind and daemon down: caught up at start' '
	sub=$(pg_psql bg bg -c "SELECT subname FROM pg_subscription") &&
	post alice m3 - frank@a.example &&
	pd_stop &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub DISABLE" &&
	pd_account frank active &&
	sleep 1 &&
	test "$(pd_bg_count accounts "address = \$\$frank@a.example\$\$")" = 0 &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub ENABLE" &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts WHERE address = \$\$frank@a.example\$\$" 1 &&
	test "$(held frank m3 "released_at IS NULL")" = 1 &&
	pd_start &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$frank@a.example\$\$" 1 &&
	fetch frank m3
'

test_expect_success 'background behind, daemon up: released when replication resumes' '
	sub=$(pg_psql bg bg -c "SELECT subname FROM pg_subscription") &&
	post alice m4 - hank@a.example &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub DISABLE" &&
	pd_account hank active &&
	sleep 1 &&
	test "$(held hank m4 "released_at IS NULL")" = 1 &&
	pg_psql bg bg -c "ALTER SUBSCRIPTION $sub ENABLE" &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$hank@a.example\$\$" 1 &&
	fetch hank m4
'

test_expect_success 'after the BG database restarts, notifications are heard again' '
	post alice m10 - kim@a.example &&
	pg_stop bg && pd_pg_restart bg &&
	pd_account kim active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox WHERE address = \$\$kim@a.example\$\$" 1 &&
	test_grep "listen status=lost" policyd.log &&
	fetch kim m10
'

test_expect_success 'an ARM already expired is acknowledged and dropped' '
	post alice m5 "$(from_now -60)" bob@a.example gina@a.example &&
	echo "expired, dropped" >expect && test_cmp expect out.body &&
	test "$(pd_bg_count agent_mailbox "message_id = \$\$m5@a.example\$\$")" = 0 &&
	test "$(pd_bg_count held_arms "message_id = \$\$m5@a.example\$\$")" = 0 &&
	test "$(pd_bg_count seen_messages "message_id = \$\$m5@a.example\$\$")" = 1
'

test_expect_success 'ARMs that expire while they wait: dropped on release and at fetch' '
	post alice m6 "$(from_now 3)" bob@a.example gina@a.example &&
	id=$(pg_psql bg bg -c "SELECT id FROM agent_mailbox WHERE message_id = \$\$m6@a.example\$\$") &&
	test -n "$id" &&
	test "$(held gina m6 "released_at IS NULL")" = 1 &&
	sleep 4 &&
	pd_status 200 bob GET /v1/mailbox &&
	test_grep_not m6 out.body &&
	pd_status 404 bob GET /v1/mailbox/$id &&
	pd_account gina active &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE message_id = \$\$m6@a.example\$\$ AND purged_at IS NOT NULL" 1 &&
	test "$(pd_bg_count agent_mailbox "address = \$\$gina@a.example\$\$")" = 0 &&
	test_grep "arm msgid=m6@a.example rcpt=gina@a.example status=expired-dropped" policyd.log
'

test_expect_success_here 'hygiene purges held ARMs older than hold_limit' '
	post alice m7 - ivan@a.example &&
	post alice m8 - ivan@a.example &&
	pg_psql bg bg -c "UPDATE held_arms SET received_at = now() - interval \$\$2 hours\$\$ WHERE message_id = \$\$m7@a.example\$\$" &&
	pd_stop && pd_start &&
	test_grep "hygiene held_arms purged=1" policyd.log &&
	test "$(pd_bg_count held_arms "message_id = \$\$m7@a.example\$\$ AND purged_at IS NOT NULL AND octet_length(arm) = 0")" = 1 &&
	test "$(held ivan m8 "purged_at IS NULL AND released_at IS NULL")" = 1
'

test_expect_success 'nothing in the BG database holds an ARM in clear' '
	pg_dump -d "$PD_BG" >bg.dump &&
	for f in m1 m2 m3 m4 m6 m7 m8 m9 m10; do
		key=$(sed -n "s/^Content-Key: \([0-9a-f]*\).*/\1/p" $f.arm) &&
		test -n "$key" &&
		test_grep_not "$key" bg.dump || return 1
	done &&
	test_grep_not "Content-Key" bg.dump
'

test_done
