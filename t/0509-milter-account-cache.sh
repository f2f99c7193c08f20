test_description='tandem-milter: the account rows it keeps between messages follow every change at once'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-milter.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

fg_addr=$(pf_random_addr) re_addr=$(pf_random_addr) sink_addr=$(pf_random_addr)
fg_port=$(pf_random_port) re_port=$(pf_random_port) sink_port=$(pf_random_port)

test_expect_success 'a courier with an FG element and its accounts' '
	milter_pki alice bob
'

test_expect_success_here 'a foreground database' '
	milter_db active alice bob
'

milter_conf "$re_addr:$re_port"

test_expect_success_here 'the milter, the reinjection smtpd and the MTA start' '
	milter_mta_start
'

# listening: wait until the milter has said "status=listening" N times
listening() {
	_n=0
	while [ "$(grep -c "account cache status=listening" milter.log)" -lt "$1" ]; do
		[ $_n -lt 100 ] || { echo "not listening $1"; cat milter.log; return 1; }
		sleep 0.1
		_n=$((_n + 1))
	done
}

# mail N FROM TO: a new sealed content N, wrapped for FROM, sent to TO
mail() {
	printf "sealed content %s\n" "$1" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	milter_mkmail "$1" alice "$2" "$3" &&
	{ milter_send "$1" "$2" "$3" || :; }
}

# delivered N: the sink holds mail N, rewrapped to bob's agent
delivered() {
	postfix_wait_queue_empty fg 30 &&
	f=$(grep -l "Message-ID: <$1@a.example>" $(smtp_sink_files out)) &&
	test -n "$f" &&
	smtp_sink_body "$f" | base64 -d >"$1.new" &&
	openssl cms -decrypt -inform DER -in "$1.new" -recip \
	    isp/accounts/bob@a.example/agent.crt -inkey bob.key -out /dev/null
}

# The help desk's hand: postgres, outside the milter.
set_status() {
	pg_psql fg fg -c "UPDATE accounts SET status = \$\$$2\$\$ WHERE address = \$\$$1@a.example\$\$"
}

test_expect_success 'the milter listens for changes of accounts' '
	listening 1 &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = \$\$tandem-milter listener\$\$ AND query = \$\$LISTEN tandem_accounts\$\$")" = 1
'

test_expect_success 'a first message: its rows are read and kept' '
	mail m1 alice@a.example bob@a.example &&
	test_grep "250 " swaks.out &&
	delivered m1 &&
	mail m2 alice@a.example bob@a.example &&
	test_grep "250 " swaks.out &&
	delivered m2
'

test_expect_success 'the sender made pending: the next message is refused at once' '
	set_status alice pending &&
	mail m3 alice@a.example bob@a.example &&
	test_grep "550 5.7.1 sender alice@a.example is not active here" swaks.out
'

test_expect_success 'active again: the next message passes' '
	set_status alice active &&
	mail m4 alice@a.example bob@a.example &&
	test_grep "250 " swaks.out &&
	delivered m4
'

test_expect_success 'the recipient no longer active: held, not rewrapped to it' '
	set_status bob pending &&
	mail m5 alice@a.example bob@a.example &&
	test_grep "250 " swaks.out &&
	postfix_wait_queue_empty fg 30 &&
	test -z "$(grep -l "Message-ID: <m5@a.example>" $(smtp_sink_files out))" &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM held_messages WHERE recipient = \$\$bob@a.example\$\$")" = 1 &&
	set_status bob active
'

test_expect_success 'the listening connection lost: every message reads the database' '
	pg_psql fg fg -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \$\$tandem-milter listener\$\$" &&
	n=0 &&
	until test_grep "account cache status=off reason=\"listening connection lost" milter.log >/dev/null 2>&1
	do
		test $n -lt 100 && sleep 0.1 && n=$((n + 1)) || return 1
	done &&
	set_status alice pending &&
	mail m6 alice@a.example bob@a.example &&
	test_grep "550 5.7.1 sender alice@a.example is not active here" swaks.out &&
	set_status alice active
'

test_expect_success 'it listens again, and what changed meanwhile is seen' '
	listening 2 &&
	mail m7 alice@a.example bob@a.example &&
	test_grep "250 " swaks.out &&
	delivered m7 &&
	set_status alice pending &&
	mail m8 alice@a.example bob@a.example &&
	test_grep "550 5.7.1 sender alice@a.example is not active here" swaks.out
'

test_done
