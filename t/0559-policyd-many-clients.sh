#!/bin/sh
test_description='policyd: 50 idle and 50 slowly-sending clients stall no other; an ARM is taken in well under a second; the counters for Prometheus'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog python3 || test_skip_all 'python3 is needed for the slow clients'

test_expect_success_here 'a courier, alice and bob, the daemon, its counters on loopback' '
	pd_setup >setup.log 2>&1 &&
	mport=$(pf_random_port) &&
	sed -i "s|^\(max_request_size = .*\)|\1\nmetrics_listen = \"$PD_ADDR:$mport\"|" "$PD_CONF" &&
	test_grep "metrics_listen = \"$PD_ADDR:$mport\"" "$PD_CONF" &&
	pd_account alice active && pd_account bob active &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts" 2 &&
	pd_start &&
	pd_arm a1.arm a1@a.example alice@a.example - bob@a.example &&
	pd_wrap alice a1.arm a1.p7m
'

test_expect_success_here '50 idle connections and 50 slowly sending over TLS are held open' '
	pd_hold slow.out 50 50 20
'

test_expect_success 'meanwhile an ARM is taken in well under a second' '
	t=$(curl -s -o out.body -w "%{http_code} %{time_total}" \
	    --cert alice.pem --key alice.key \
	    --cacert "$TRASH/pki/root/root.crt" \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    -H "Content-Type: application/pkcs7-mime" --data-binary @a1.p7m \
	    "https://bg.a.example:$PD_PORT/v1/arm") &&
	echo "$t" &&
	test "${t% *}" = 201 &&
	awk -v s="${t#* }" "BEGIN { exit !(s < 1.0) }" &&
	grep -q "^open" slow.out && ! grep -q "^closed" slow.out
'

test_expect_success 'so is a mailbox listing' '
	t=$(curl -s -o out.body -w "%{http_code} %{time_total}" \
	    --cert bob.pem --key bob.key --cacert "$TRASH/pki/root/root.crt" \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
	    "https://bg.a.example:$PD_PORT/v1/mailbox") &&
	echo "$t" &&
	test "${t% *}" = 200 &&
	awk -v s="${t#* }" "BEGIN { exit !(s < 1.0) }" &&
	test_grep "a1@a.example" out.body
'

test_expect_success 'GET /metrics: the counters tandemctl status says, for Prometheus' '
	curl -s -o metrics -w "%{http_code} %{content_type}\n" \
	    "http://$PD_ADDR:$mport/metrics" >code &&
	echo "200 text/plain; version=0.0.4; charset=utf-8" >want &&
	test_cmp want code &&
	test_grep "^# TYPE tandem_accounts gauge\$" metrics &&
	test_grep "^tandem_accounts{status=\"active\"} 2\$" metrics &&
	test_grep "^tandem_held_arms 0\$" metrics &&
	test_grep "^tandem_outbox_waiting 0\$" metrics &&
	test_grep "^tandem_replication_subscription_enabled 1\$" metrics &&
	test_grep "^tandem_refusals_last_24h [0-9][0-9]*\$" metrics &&
	tandemctl status --conf "$PD_CONF" >status &&
	test_grep "^accounts active=2\$" status &&
	test_grep "^held arms=0\$" status &&
	test "$(grep -c "^# TYPE" metrics)" = "$(grep "^# TYPE" metrics | sort -u | wc -l)"
'

test_expect_success 'another path or method: a line of text, not a page' '
	test "$(curl -s -o out.body -w "%{http_code}" "http://$PD_ADDR:$mport/")" = 404 &&
	echo "no such resource: GET /metrics" >want && test_cmp want out.body &&
	test "$(curl -s -o out.body -w "%{http_code}" -X POST "http://$PD_ADDR:$mport/metrics")" = 405
'

test_expect_success 'its database down: 503 and a line, logged; back: the counters again' '
	pg_stop bg &&
	test "$(curl -s -o out.body -w "%{http_code}" "http://$PD_ADDR:$mport/metrics")" = 503 &&
	echo "database unavailable, try again later" >want && test_cmp want out.body &&
	test_grep "metrics status=error" policyd.log &&
	pd_pg_restart bg &&
	test "$(curl -s -o metrics -w "%{http_code}" "http://$PD_ADDR:$mport/metrics")" = 200 &&
	test_grep "^tandem_accounts{status=\"active\"} 2\$" metrics
'

test_expect_success 'metrics_listen elsewhere than loopback: refused by the check (78)' '
	sed "s|^metrics_listen = .*|metrics_listen = \"192.0.2.1:9464\"|" "$PD_CONF" >far.conf &&
	test_expect_code 78 tandem-policyd -c far.conf -n >out 2>err &&
	test_grep "metrics_listen: \"192.0.2.1:9464\" is not a loopback address" err
'

test_done
