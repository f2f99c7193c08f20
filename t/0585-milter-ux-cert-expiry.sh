#!/bin/sh
test_description='milter, policyd, tandemctl: a certificate that expires within tls.expiry_warning is warned about at start and shown by tandemctl status'
. "$TANDEM_SRC/t/test-lib.sh"

test_expect_success_here 'a courier whose FG element certificate expires in 5 days, its BG one in 100' '
	courier_pki &&
	rm "$CR_CA/elements/fg.crt" "$CR_CA/elements/fg.key" \
	    "$CR_CA/elements/bg.crt" "$CR_CA/elements/bg.key" &&
	(cd "$CR_PKI" && tandem-ca element -d "$CR_DOMAIN" --fg "$CR_SERVICE" --days 5 &&
	    tandem-ca element -d "$CR_DOMAIN" --bg "$CR_BG_URL" --days 100) >>pki.log 2>&1 &&
	openssl x509 -in "$CR_CA/elements/fg.crt" -noout -checkend 0 &&
	! openssl x509 -in "$CR_CA/elements/fg.crt" -noout -checkend $((6 * 86400)) &&
	courier_fg_setup && courier_bg_setup
'

test_expect_success_here 'the milter warns at start, with the default 30 days' '
	courier_milter_start &&
	wait_until 10 grep -q "certificate status=expiring" "$TRASH/fg/milter.log" &&
	grep "certificate status=expiring" "$TRASH/fg/milter.log" >warn &&
	test "$(wc -l <warn)" = 1 &&
	test_grep "file=$CR_CA/elements/fg.crt (tls.cert)" warn &&
	test_grep "days_left=4" warn &&
	cr_daemon_alive milter
'

test_expect_success 'tandemctl status shows it and exits 1' '
	test_expect_code 1 tandemctl status --conf "$CR_FG_CONF" --ca-dir >out &&
	test_grep "^certificate status=expiring file=$CR_CA/elements/fg.crt (tls.cert)" out &&
	test_grep "^certificates expiring within 30 days: 1\$" out &&
	test_grep "^database fg schema at [0-9]*, as this build needs\$" out
'

test_expect_success 'the background element, valid for 100 days, is not warned about' '
	test_expect_code 0 tandemctl status --conf "$CR_BG_CONF" >out &&
	test_grep "^certificates expiring within 30 days: 0\$" out
'

test_expect_success_here 'tls.expiry_warning: a longer one warns about the background too' '
	sed "s/^tls {/tls {\n	expiry_warning = 400d/" "$CR_BG_CONF" >bg.conf &&
	test_expect_code 78 tandemctl status --conf bg.conf 2>err &&
	test_grep "expiry_warning: .* is out of range" err &&
	sed "s/^tls {/tls {\n	expiry_warning = 120d/" "$CR_BG_CONF" >bg.conf &&
	test_expect_code 1 tandemctl status --conf bg.conf >out &&
	test_grep "^certificate status=expiring file=$CR_CA/elements/bg.crt (tls.cert)" out &&
	test_grep "^certificates expiring within 120 days: 1\$" out &&
	CR_BG_CONF=$TRASH/bg.conf && courier_policyd_start &&
	wait_until 10 grep -q "certificate status=expiring file=$CR_CA/elements/bg.crt" "$TRASH/bg/policyd.log"
'

test_expect_success 'a shorter one silences the milter'"'"'s warning' '
	courier_milter_stop &&
	: >"$TRASH/fg/milter.log" &&
	sed "s/^tls {/tls {\n	expiry_warning = 2d/" "$CR_FG_CONF" >fg.conf &&
	CR_FG_CONF=$TRASH/fg.conf && export CR_FG_CONF &&
	courier_milter_start &&
	wait_until 10 grep -q "tandem-milter: started" "$TRASH/fg/milter.log" &&
	! grep "certificate status" "$TRASH/fg/milter.log"
'

test_done
