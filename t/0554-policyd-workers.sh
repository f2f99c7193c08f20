#!/bin/sh
test_description='policyd: workers serve at once, a lost one is replaced; one address holds at most max_peer_connections and makes at most max_peer_rate requests a minute'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog python3 || test_skip_all 'python3 is needed for the held connections'

# timed USER METHOD PATH [FILE]: pd_curl, printing "CODE SECONDS"
timed() {
	_u=$1 _m=$2 _p=$3
	curl -s -o out.body -w "%{http_code} %{time_total}" -X "$_m" \
	    --cert "$_u.pem" --key "$_u.key" \
	    --cacert "$TRASH/pki/root/root.crt" \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    ${4:+-H "Content-Type: application/pkcs7-mime" --data-binary @$4} \
	    "https://bg.a.example:$PD_PORT$_p"
}

# workers: the PIDs of the daemon's workers, one a line
workers() {
	pgrep -P "$(cat policyd.pid)" | sort
}

# locked SECONDS: a session holds seen_messages, which every ARM's
# transaction writes, for SECONDS; returns once it holds it
locked() {
	pg_psql bg bg -c "BEGIN; LOCK TABLE seen_messages IN EXCLUSIVE MODE; SELECT pg_sleep($1); COMMIT" >lock.out 2>&1 &
	echo $! >lock.pid
	pg_wait_for bg bg "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = \$\$seen_messages\$\$ AND l.mode = \$\$ExclusiveLock\$\$ AND l.granted" 1
}

test_expect_success_here 'a courier, alice and bob, the daemon with two workers and at most 4 connections an address' '
	pd_setup >setup.log 2>&1 &&
	sed -i "s|^\(workers = .*\)|\1\nmax_peer_connections = 4|" "$PD_CONF" &&
	test_grep "^max_peer_connections = 4" "$PD_CONF" &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts" 2 &&
	pd_start &&
	test_grep "tandem-policyd: started listen=$PD_ADDR:$PD_PORT workers=2" policyd.log &&
	test "$(workers | wc -l)" = 2 &&
	for i in 1 2 3 4; do
		pd_arm a$i.arm a$i@a.example alice@a.example - bob@a.example &&
		pd_wrap alice a$i.arm a$i.p7m || return 1
	done
'

test_expect_success 'an ARM waiting on the database in one worker: the other answers at once' '
	locked 4 &&
	{ timed alice POST /v1/arm a1.p7m >arm.t & } &&
	arm=$! &&
	pg_wait_for bg bg "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = \$\$Lock\$\$" 1 &&
	t=$(timed bob GET /v1/mailbox) &&
	echo "mailbox: $t" &&
	test "${t% *}" = 200 &&
	awk -v s="${t#* }" "BEGIN { exit !(s < 1.0) }" &&
	wait $arm && wait "$(cat lock.pid)" &&
	echo "arm: $(cat arm.t)" &&
	test "$(cut -d" " -f1 arm.t)" = 201 &&
	test "$(pd_bg_count agent_mailbox "message_id = \$\$a1@a.example\$\$")" = 1
'

test_expect_success_here 'the control: with one worker, the same listing waits for the ARM' '
	pd_stop && sed -i "s|^workers = .*|workers = 1|" "$PD_CONF" &&
	pd_start && test "$(workers | wc -l)" = 1 &&
	locked 6 &&
	{ timed alice POST /v1/arm a2.p7m >arm.t & } &&
	arm=$! &&
	pg_wait_for bg bg "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = \$\$Lock\$\$" 1 &&
	t=$(timed bob GET /v1/mailbox) &&
	echo "mailbox: $t" &&
	test "${t% *}" = 200 &&
	awk -v s="${t#* }" "BEGIN { exit !(s >= 1.0) }" &&
	wait $arm && wait "$(cat lock.pid)" &&
	test "$(cut -d" " -f1 arm.t)" = 201 &&
	pd_stop && sed -i "s|^workers = .*|workers = $PD_WORKERS|" "$PD_CONF" &&
	pd_start && test "$(workers | wc -l)" = 2
'

test_expect_success_here 'four connections held from 127.0.0.1: a fifth is refused at the handshake, logged; another address is not' '
	pd_hold held.out 0 4 8 &&
	test_expect_code 35 curl -s -o out.body --cert bob.pem --key bob.key \
	    --cacert "$TRASH/pki/root/root.crt" --interface 127.0.0.1 \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox" &&
	test_expect_code 35 curl -s -o out.body --cert bob.pem --key bob.key \
	    --cacert "$TRASH/pki/root/root.crt" --interface 127.0.0.1 \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox" &&
	test_grep "connection client=127.0.0.1 status=refused reason=\"4 connections from this address already, background.max_peer_connections\" logged=once-a-minute" policyd.log &&
	test "$(grep -c "connection client=127.0.0.1 status=refused" policyd.log)" = 1 &&
	test "$(curl -s -o out.body -w "%{http_code}" --cert bob.pem \
	    --key bob.key --cacert "$TRASH/pki/root/root.crt" \
	    --interface 127.0.0.2 --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox")" = 200
'

test_expect_success 'once they close, 127.0.0.1 is served again' '
	test_wait_log held.out "^closed" 20 &&
	n=0 && while [ $n -lt 50 ]; do
		t=$(timed bob GET /v1/mailbox) && [ "${t% *}" = 200 ] && break
		sleep 0.1; n=$((n + 1))
	done &&
	test "${t% *}" = 200
'

test_expect_success_here 'both workers killed while they hold 127.0.0.1 at its limit: logged, forked again, and the limit forgets what they held' '
	pd_hold held2.out 0 4 30 &&
	workers >before &&
	kill -KILL $(cat before) &&
	for p in $(cat before); do
		test_wait_log policyd.log "worker=[01] pid=$p status=killed signal=9" 20 || return 1
	done &&
	n=0 && while [ "$(workers | wc -l)" != 2 ] && [ $n -lt 50 ]; do
		sleep 0.1; n=$((n + 1))
	done &&
	workers >after &&
	test "$(wc -l <after)" = 2 &&
	test "$(sort before after | uniq -d | wc -l)" = 0 &&
	n=0 && while [ $n -lt 50 ]; do
		t=$(timed bob GET /v1/mailbox) && [ "${t% *}" = 200 ] && break
		sleep 0.1; n=$((n + 1))
	done &&
	test "${t% *}" = 200 &&
	t=$(timed alice POST /v1/arm a3.p7m) && test "${t% *}" = 201 &&
	{ kill $PD_HELD 2>/dev/null || :; }
'

test_expect_success_here 'at most 20 requests a minute from 127.0.0.1: the rest 429 with Retry-After, logged and recorded once; 127.0.0.2 still served' '
	pd_stop &&
	sed -i "s|^\(workers = .*\)|\1\nmax_peer_rate = 20|" "$PD_CONF" &&
	pd_start &&
	urls= && for i in $(seq 40); do
		urls="$urls https://bg.a.example:$PD_PORT/v1/mailbox"
	done &&
	curl -s -o /dev/null -w "%{http_code}\n" --cert bob.pem --key bob.key \
	    --cacert "$TRASH/pki/root/root.crt" --interface 127.0.0.1 \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" $urls >codes &&
	sort codes | uniq -c &&
	test "$(grep -c "^200\$" codes)" -ge 20 &&
	test "$(grep -c "^200\$" codes)" -le 22 &&
	test "$(grep -c "^429\$" codes)" = $((40 - $(grep -c "^200\$" codes))) &&
	curl -s -D head -o out.body --cert bob.pem --key bob.key \
	    --cacert "$TRASH/pki/root/root.crt" --interface 127.0.0.1 \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox" &&
	head -n 1 head | grep " 429 " &&
	test_grep "^Retry-After: 60" head &&
	echo "too many requests from this address: more than 20 a minute (background.max_peer_rate); try again later" >want &&
	test_cmp want out.body &&
	test "$(grep -c "request client=127.0.0.1 status=429" policyd.log)" = 1 &&
	test "$(pg_psql bg bg -c "SELECT count(*) FROM refusals WHERE code = 429")" = 1 &&
	test "$(curl -s -o out.body -w "%{http_code}" --cert bob.pem \
	    --key bob.key --cacert "$TRASH/pki/root/root.crt" \
	    --interface 127.0.0.2 --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox")" = 200
'

test_expect_success 'SIGTERM stops the workers with the daemon' '
	workers >before &&
	pd_stop TERM &&
	for p in $(cat before); do
		test_must_fail kill -0 "$p" 2>/dev/null || return 1
	done &&
	test_grep "stopped status=0" policyd.log
'

# alive PID...: one of them still runs (a zombie does not count: who
# reaps an orphan depends on the machine's PID 1)
alive() {
	for p; do
		case $(ps -o stat= -p "$p") in ""|Z*) ;; *) return 0 ;; esac
	done
	return 1
}

test_expect_success_here 'SIGKILL of the daemon ends its workers too, and a new daemon binds the port' '
	pd_start && workers >before && test "$(wc -l <before)" = 2 &&
	pd_stop KILL &&
	n=0 && while alive $(cat before) && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done &&
	! alive $(cat before) &&
	pd_start && test "$(workers | wc -l)" = 2
'

test_done
