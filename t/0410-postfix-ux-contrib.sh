#!/bin/sh
test_description='contrib/postfix: the snippets as given, with smtpd chrooted, reach the milter socket in the queue directory; a milter outage defers ordinary mail too'
. "$TANDEM_SRC/t/test-lib.sh"

SNIP=$TANDEM_SRC/contrib/postfix

test_expect_success 'master.cf.snippet adds no second "smtp inet" service' '
	! grep -E "^smtp[[:space:]]+inet" "$SNIP/master.cf.snippet" &&
	test "$(grep -cE "^[^#[:space:]].*[[:space:]]inet[[:space:]]" "$SNIP/master.cf.snippet")" = 1
'

test_expect_success 'main.cf.snippet names the socket relative to the queue directory' '
	grep "^smtpd_milters" "$SNIP/main.cf.snippet" >line &&
	echo "smtpd_milters = unix:tandem/milter.sock" >expect &&
	test_cmp expect line
'

test_expect_success 'the README says what tempfail and accept cost, and keeps the chroot' '
	test_grep "ordinary mail is deferred" "$SNIP/README" &&
	test_grep "milter_default_action = accept" "$SNIP/README" &&
	! grep -i "chroot n" "$SNIP/README" "$SNIP/master.cf.snippet"
'

test_expect_success_here 'a courier whose smtpd runs chrooted in its queue directory' '
	CR_USERS=bob && export CR_USERS &&
	courier_pki && courier_fg_setup &&
	PD=$(postfix_dir fg) &&
	SPOOL=$(postconf -c "$PD" -h queue_directory) &&
	mkdir -m 0750 "$SPOOL/tandem" && chown root:postfix "$SPOOL/tandem" &&
	postconf -c "$PD" -e "$(grep "^smtpd_milters" "$SNIP/main.cf.snippet")" &&
	postconf -c "$PD" -F "$CR_FG_ADDR:$CR_SMTP_PORT/inet/chroot=y" &&
	postconf -c "$PD" -F "$CR_FG_ADDR:$CR_SMTP_PORT/inet/chroot" | grep "= y\$" &&
	pf_pty "postfix -c $PD reload" &&
	sed "s|unix:$TRASH/fg/milter.sock|unix:$SPOOL/tandem/milter.sock|" "$CR_FG_CONF" >fg.conf &&
	test_grep "$SPOOL/tandem/milter.sock" fg.conf &&
	cr_daemon_start milter tandem-milter "$TRASH/fg.conf" "$TRASH/fg/milter.log" &&
	wait_until 10 test -S "$SPOOL/tandem/milter.sock"
'

plain_mail() {
	swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from alice@b.example \
	    --to "bob@$CR_DOMAIN" --header "Subject: $1" \
	    --body "ordinary mail" 2>&1
}

if test_have_prog swaks; then
	test_expect_success 'the chrooted smtpd reaches the milter: ordinary mail is taken' '
		sleep 1 &&
		plain_mail one >out &&
		test_grep "<- *250 .*queued as" out
	'

	test_expect_success 'milter stopped, tempfail: ordinary mail is deferred too' '
		cr_daemon_stop milter &&
		test_must_fail plain_mail two >out &&
		test_grep "<\*\* *4[0-9][0-9] " out &&
		! grep "queued as" out
	'
else
	test_skip 'the SMTP sessions' 'swaks is not installed'
fi

test_done
