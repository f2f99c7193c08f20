test_description='harness: a courier FG and BG stand up; Postfix tempfails without its milter'
. "$TANDEM_SRC/t/test-lib.sh"

# What every end-to-end scenario relies on, checked on its own: if one
# of these fails, t/06xx fail for a reason that is not Tandem's.

test_expect_success_here 'courier_pki makes the hierarchy and the element certificates' '
	courier_pki a.example &&
	tandem-ca verify --anchor "$CR_ANCHOR" --chain "$CR_CA/chain.pem" \
	    --email tandem@a.example "$CR_CA/elements/fg.crt" >out &&
	echo ok >expect && test_cmp expect out &&
	openssl x509 -in "$CR_CA/elements/bg.crt" -noout -ext subjectAltName >san &&
	test_grep "DNS:bg.a.example" san &&
	test_grep "URI:https://bg.a.example:$CR_BG_PORT/" san &&
	test "$CR_FG_ADDR" != "$CR_BG_ADDR" &&
	test "$(stat -c %a "$CR_PKI/keybox.key")" = 600
'

test_expect_success_here 'courier_fg_setup: database, tandem.conf, Postfix' '
	courier_fg_setup
'

test_expect_success 'the FG database is migrated and published' '
	courier_fg_sql "SELECT pubname FROM pg_publication" >out &&
	echo tandem_pub >expect && test_cmp expect out &&
	courier_fg_sql "SELECT count(*) FROM accounts" >out &&
	echo 0 >expect && test_cmp expect out
'

test_expect_success 'Postfix listens for submission and reinjection on the FG address only' '
	ss -Hltn "sport = :$CR_SMTP_PORT" >l1 &&
	test_grep "$CR_FG_ADDR:$CR_SMTP_PORT" l1 &&
	ss -Hltn "sport = :$CR_REINJECT_PORT" >l2 &&
	test_grep "$CR_FG_ADDR:$CR_REINJECT_PORT" l2 &&
	test "$(wc -l <l1)" = 1 && test "$(wc -l <l2)" = 1
'

printf 'From: carol@a.example\r\nTo: dave@a.example\r\nSubject: harness\r\nMessage-ID: <h1@a.example>\r\n\r\nline one\r\n.dot line\r\nlast\r\n.\r\n' >msg.crlf
printf 'line one\n.dot line\nlast\n' >body

test_expect_success 'without a milter the main smtpd answers tempfail' '
	test_must_fail swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" \
	    --from carol@a.example --to dave@a.example \
	    --data @msg.crlf >swaks.out 2>&1 &&
	test_grep "^<\*\* 451 4.7.1" swaks.out &&
	test "$(maildir_count dave)" = 0
'

test_expect_success 'the reinjection smtpd has no milter and delivers to the Maildir' '
	swaks --server "$CR_FG_ADDR:$CR_REINJECT_PORT" \
	    --from carol@a.example --to dave@a.example \
	    --data @msg.crlf >swaks.out 2>&1 &&
	f=$(maildir_wait dave "^Message-ID: <h1@a.example>" 30) &&
	sed "1,/^\$/d" "$f" >got &&
	test_cmp body got &&
	test "$(maildir_count dave)" = 1 &&
	test "$(stat -c %U "$f")" = nobody
'

test_expect_success 'maildir_wait fails, naming the user, when nothing comes' '
	test_must_fail maildir_wait dave "no such line" 1 2>err &&
	test_grep "nothing matching .no such line. for dave" err
'

test_expect_success_here 'courier_bg_setup: a second cluster, subscribed' '
	courier_bg_setup &&
	pg_wait_for bg bg "SELECT count(*) FROM pg_subscription" 1
'

test_expect_success 'an account added on the FG reaches the BG' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ann.key -out ann.crt -days 3 -subj /CN=ann@a.example \
	    -addext subjectAltName=email:ann@a.example 2>/dev/null &&
	tandemctl account add --db "$CR_FG_DB" --address ann@a.example \
	    --status active --courier-key ann.key --courier-cert ann.crt \
	    --keybox-key "$CR_PKI/keybox.key" >/dev/null &&
	pg_wait_for bg bg "SELECT status FROM accounts" active
'

test_expect_success 'the element configurations differ only where they must' '
	test_grep "cert = \"$CR_CA/elements/fg.crt\"" "$CR_FG_CONF" &&
	test_grep "cert = \"$CR_CA/elements/bg.crt\"" "$CR_BG_CONF" &&
	test_grep "user=tandem_fg" "$CR_FG_CONF" &&
	test_grep "user=tandem_bg" "$CR_BG_CONF"
'

test_expect_success 'agent_conf maps the BG host name to its address' '
	agent_conf ann &&
	test_grep "resolve = {\"bg.a.example:$CR_BG_PORT:$CR_BG_ADDR\"}" \
	    "$TRASH/agent-ann/tandem.conf" &&
	test_grep "submission = \"$CR_FG_ADDR:$CR_SMTP_PORT\"" \
	    "$TRASH/agent-ann/tandem.conf"
'

test_expect_success_here 'courier_policyd_start: tandem-policyd listens on the BG address' '
	courier_policyd_start &&
	cr_daemon_alive policyd &&
	ss -Hltn "sport = :$CR_BG_PORT" >l3 &&
	test_grep "$CR_BG_ADDR:$CR_BG_PORT" l3
'

test_expect_success 'its TLS certificate is the BG element; clients need one too' '
	openssl s_client -connect "$CR_BG_ADDR:$CR_BG_PORT" \
	    -servername "$CR_BG_HOST" -verify_return_error \
	    -CAfile "$CR_ANCHOR" </dev/null \
	    >sclient.out 2>&1 ;
	test_grep "Verify return code: 0 (ok)" sclient.out &&
	openssl x509 -in sclient.out -noout -ext subjectAltName >san &&
	test_grep "DNS:bg.a.example" san &&
	test_must_fail curl -sS --cacert "$CR_ANCHOR" \
	    --resolve "$CR_BG_HOST:$CR_BG_PORT:$CR_BG_ADDR" \
	    "${CR_BG_URL}v1/mailbox" >out 2>err &&
	cat err
'

test_expect_success_here 'courier_policyd_stop: SIGTERM stops it, and it starts again' '
	pid=$(cat "$TRASH/policyd.pid") &&
	courier_policyd_stop &&
	! kill -0 "$pid" 2>/dev/null &&
	courier_policyd_start &&
	cr_daemon_alive policyd
'

test_expect_success 'cr_daemon_stop stops a process by its recorded PID only' '
	sleep 30 & echo $! >"$TRASH/sleeper.pid" && pid=$(cat "$TRASH/sleeper.pid") &&
	cr_daemon_alive sleeper &&
	cr_daemon_stop sleeper &&
	! kill -0 "$pid" 2>/dev/null &&
	! test -f "$TRASH/sleeper.pid" &&
	cr_daemon_stop sleeper
'

test_done
