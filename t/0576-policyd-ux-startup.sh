test_description='tandem-policyd as an administrator starts it: reasons on the terminal, identity checks, exit 0 on SIGTERM'
. "$TANDEM_SRC/t/test-lib.sh"

# Started without -f, as an administrator would: what stops the daemon
# before it leaves the terminal must be said on standard error (no
# syslog daemon here: a reason sent to syslog alone is lost), with
# exit 78. No database is needed for it to start.

test_expect_success_here 'a public and a private courier, and their background configuration' '
	courier_pki a.example && mkdir -p "$TRASH/bg" &&
	CR_BG_CONF=$TRASH/bg/tandem.conf &&
	cr_conf "$CR_BG_CONF" bg "host=127.0.0.1 port=1 dbname=none connect_timeout=1" &&
	tandem-policyd -c "$CR_BG_CONF" -n >out &&
	echo "configuration OK" >expect && test_cmp expect out &&
	(cd "$CR_PKI" &&
	 tandem-ca courier -d p.example --name p.example --role private \
	    --domain p.example --superior root &&
	 tandem-ca element -d p.example --bg "https://bg.p.example:$CR_BG_PORT/") \
	    >pki.log 2>&1 &&
	sed -e "s|a\.example|p.example|g" -e "s|role = public|role = private|" \
	    "$CR_BG_CONF" >p.conf &&
	sed -i "s|chain = .*|chain = \"$CR_PKI/p.example/chain.pem\"|" p.conf &&
	tandem-policyd -c p.conf -n >out && test_cmp expect out
'

# refused CONF PATTERN: with -n and without -f, exit 78 and PATTERN on
# standard error
refused() {
	test_expect_code 78 tandem-policyd -c "$1" -n >out 2>err &&
	test_grep "$2" err &&
	test_expect_code 78 timeout 30 tandem-policyd -c "$1" >out 2>err &&
	test_grep "$2" err
}

test_expect_success 'a missing key file is named on stderr, not only in the log' '
	sed "s|key = \".*/bg.key\"|key = \"$TRASH/nowhere.key\"|" "$CR_BG_CONF" >c1.conf &&
	refused c1.conf "nowhere.key"
'

test_expect_success 'a key that is not the certificate'"'"'s: exit 78' '
	sed "s|/bg.key\"|/fg.key\"|" "$CR_BG_CONF" >c2.conf &&
	refused c2.conf "tls: key .*fg.key is not the key of cert .*bg.crt"
'

test_expect_success 'a role, a name, domains the courier CA certificate contradicts: exit 78' '
	sed "s|role = public|role = gateway|" "$CR_BG_CONF" >c3.conf &&
	refused c3.conf "courier: role is gateway, but the courier CA certificate of a.example .* says public" &&
	sed "s|name = \"a.example\"|name = \"b.example\"|" "$CR_BG_CONF" >c4.conf &&
	refused c4.conf "courier: name is b.example, but .*bg.crt was issued by the courier CA a.example" &&
	sed "s|domains = .*|domains = {\"p.example\", \"q.example\"}|" p.conf >c5.conf &&
	refused c5.conf "courier: domains: q.example is outside the name constraints of the courier CA p.example" &&
	sed "s|role = private|role = public|" p.conf >c6.conf &&
	refused c6.conf "courier: role is public, but the courier CA certificate of p.example .* says private"
'

test_expect_success_here 'SIGTERM: exit 0 and a "stopped" line' '
	tandem-policyd -c "$CR_BG_CONF" -f -u nobody 2>policyd.log &
	pid=$! &&
	test_atexit "kill $pid 2>/dev/null" &&
	pf_wait_listen "$CR_BG_ADDR" "$CR_BG_PORT" 10 &&
	wait_until 10 grep -q "tandem-policyd: started" policyd.log &&
	kill -TERM "$pid" && { wait "$pid"; echo $? >status; } &&
	echo 0 >expect && test_cmp expect status &&
	test_grep "tandem-policyd: stopped" policyd.log
'

test_done
