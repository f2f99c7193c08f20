test_description='policyd: bad clients and bad ARMs are refused, the database untouched'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

test_have_prog curl || test_skip_all 'curl not found'

# snapshot: what the BG's own tables hold.
snapshot() {
	for t in seen_messages agent_mailbox held_arms; do
		printf '%s ' "$t"; pd_bg_count $t || return 1
	done
}

test_expect_success_here 'a courier, accounts, the daemon' '
	PD_MAX_REQUEST=4096 &&
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pd_account carol pending && pd_account dave &&
	pg_wait_for bg bg "SELECT count(*) FROM accounts" 3 &&
	pd_start &&
	pd_arm good.arm g1@a.example alice@a.example - bob@a.example &&
	pd_wrap alice good.arm good.p7m &&
	snapshot >before
'

test_expect_success 'no client certificate: the handshake fails' '
	test_must_fail curl -s -o out.body --cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.a.example:$PD_PORT:$PD_ADDR" \
		--data-binary @good.p7m "https://bg.a.example:$PD_PORT/v1/arm" &&
	test_must_fail test -s out.body
'

test_expect_success 'a certificate of another hierarchy: refused at the handshake' '
	tandem-ca root -d other --name other.example >/dev/null &&
	tandem-ca courier -d evil --name a.example --role public \
		--superior other >/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout mallory.key -subj /CN=alice -out mallory.csr 2>/dev/null &&
	tandem-ca account -d evil --address alice@a.example --csr mallory.csr >/dev/null &&
	cat evil/accounts/alice@a.example/agent.crt evil/chain.pem >mallory.pem &&
	test_must_fail pd_curl mallory POST /v1/arm good.p7m >code &&
	test "$(cat code)" = 000 &&
	test_grep "tls status=refused" policyd.log
'

test_expect_success 'a self-signed certificate: refused at the handshake' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout self.key -out self.pem -days 2 -subj /CN=alice \
		-addext subjectAltName=email:alice@a.example 2>/dev/null &&
	test_must_fail pd_curl self POST /v1/arm good.p7m
'

test_expect_success 'a courier-end certificate is no agent: refused at the handshake' '
	cat "$PD_CA/accounts/alice@a.example/courier.crt" "$PD_CA/chain.pem" >ce.pem &&
	cp "$PD_CA/accounts/alice@a.example/courier.key" ce.key &&
	test_must_fail pd_curl ce POST /v1/arm good.p7m &&
	test_grep "not an agent" policyd.log
'

test_expect_success 'agents of a pending and of an unknown account: 403' '
	pd_status 403 carol GET /v1/mailbox &&
	echo "client is not an active account here" >expect &&
	test_cmp expect out.body &&
	pd_status 403 dave POST /v1/arm good.p7m &&
	test_cmp expect out.body
'

test_expect_success 'garbled bodies: 400' '
	printf "hello" >garbage &&
	pd_status 400 alice POST /v1/arm garbage &&
	test_grep "^garbled wrap: " out.body &&
	head -c 300 good.p7m >cut &&
	pd_status 400 alice POST /v1/arm cut &&
	code=$(curl -s -o out.body -w "%{http_code}" --cert alice.pem --key alice.key \
		--cacert "$TRASH/pki/root/root.crt" \
		--resolve "bg.a.example:$PD_PORT:$PD_ADDR" -X POST \
		"https://bg.a.example:$PD_PORT/v1/arm") &&
	test "$code" = 400 &&
	echo "empty body" >expect && test_cmp expect out.body
'

test_expect_success 'a wrap to another account'"'"'s courier end: 400' '
	pd_wrap alice good.arm tobob.p7m bob &&
	pd_status 400 alice POST /v1/arm tobob.p7m &&
	test_grep "^garbled wrap: " out.body
'

test_expect_success 'a wrapped text that is not an ARM: 400' '
	printf "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi\r\n" >text.arm &&
	pd_wrap alice text.arm text.p7m &&
	pd_status 400 alice POST /v1/arm text.p7m &&
	test_grep "^not an ARM: " out.body
'

test_expect_success 'signed by bob, posted by alice: 403' '
	pd_arm bob.arm b1@a.example alice@a.example - bob@a.example &&
	pd_wrap bob bob.arm bob.p7m alice &&
	pd_status 403 alice POST /v1/arm bob.p7m &&
	echo "signer is not the client" >expect && test_cmp expect out.body
'

test_expect_success 'an ARM whose Sender is not the client: 403' '
	pd_arm forged.arm f1@a.example bob@a.example - alice@a.example &&
	pd_wrap alice forged.arm forged.p7m &&
	pd_status 403 alice POST /v1/arm forged.p7m &&
	echo "sender is not the client'"'"'s address" >expect &&
	test_cmp expect out.body
'

test_expect_success 'too large: 413' '
	head -c 5000 /dev/urandom >big &&
	pd_status 413 alice POST /v1/arm big
'

# raw NAME: the bytes of NAME.req on one TLS connection with alice's
# certificate; what came back, as sent, in NAME.out. Fails when the
# daemon does not close the connection within 20 seconds.
raw() {
	timeout 20 openssl s_client -quiet -connect "$PD_ADDR:$PD_PORT" \
	    -servername bg.a.example -cert alice.pem -key alice.key \
	    -CAfile "$TRASH/pki/root/root.crt" <"$1.req" >"$1.out" 2>"$1.err"
	_rc=$?
	[ $_rc -ne 124 ] || { echo "raw $1: not closed"; return 1; }
	tr -d "\r" <"$1.out" >"$1.txt"
}

# plain NAME CODE TEXT: NAME.out is one answer CODE, text/plain, whose
# body is the line TEXT, that closes the connection, and no HTML
plain() {
	raw "$1" &&
	head -n 1 "$1.txt" >"$1.status" &&
	test_grep "^HTTP/1.1 $2 " "$1.status" &&
	sed "/^\$/q" "$1.txt" >"$1.head" &&
	test_grep "^Content-Type: text/plain; charset=utf-8\$" "$1.head" &&
	test_grep "^Connection: close\$" "$1.head" &&
	sed "1,/^\$/d" "$1.txt" >"$1.body" &&
	printf "%s\n" "$3" >"$1.want" &&
	test_cmp "$1.want" "$1.body" &&
	test_grep_not "<[Hh][Tt][Mm][Ll]" "$1.out" &&
	test "$(pd_bg_count refusals "reply = \$\$$3\$\$")" -ge 1
}

test_expect_success 'a malformed request line: 400 in plain text, no HTML page' '
	printf "GET /v1/mailbox\r\nHost: bg.a.example\r\n\r\n" >line.req &&
	plain line 400 "malformed request line" &&
	printf "GET  /v1/mailbox HTTP/1.1\r\nHost: bg.a.example\r\n\r\n" >line2.req &&
	plain line2 400 "malformed request line" &&
	printf "GET /v1/mailbox HTTP/1.1\r\nno colon here\r\n\r\n" >header.req &&
	plain header 400 "malformed header"
'

test_expect_success 'a body over max_request_size: 413 in plain text before it is read' '
	{
		printf "POST /v1/arm HTTP/1.1\r\nHost: bg.a.example\r\n" &&
		printf "Content-Length: 5000\r\n\r\n" &&
		head -c 5000 /dev/zero
	} >big.req &&
	plain big 413 "request over 4096 bytes" &&
	{
		printf "POST /v1/arm HTTP/1.1\r\nHost: bg.a.example\r\n" &&
		printf "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	} >chunked.req &&
	plain chunked 411 "Content-Length required"
'

test_expect_success 'an unknown method: 501 in plain text' '
	printf "BREW /v1/arm HTTP/1.1\r\nHost: bg.a.example\r\n\r\n" >brew.req &&
	plain brew 501 "method BREW not supported"
'

test_expect_success 'another HTTP version: 505 in plain text' '
	printf "GET /v1/mailbox HTTP/2.0\r\nHost: bg.a.example\r\n\r\n" >v2.req &&
	plain v2 505 "HTTP version not supported" &&
	printf "GET /v1/mailbox COFFEE/1.1\r\nHost: bg.a.example\r\n\r\n" >vx.req &&
	plain vx 505 "HTTP version not supported"
'

test_expect_success 'keep-alive: two requests on one connection, both answered; Connection: close ends it' '
	{
		printf "GET /v1/mailbox HTTP/1.1\r\nHost: bg.a.example\r\n\r\n" &&
		printf "GET /v1/nothing HTTP/1.1\r\nHost: bg.a.example\r\n" &&
		printf "Connection: close\r\n\r\n"
	} >two.req &&
	raw two &&
	grep "^HTTP/1.1 " two.txt >two.status &&
	printf "HTTP/1.1 200 OK\nHTTP/1.1 404 Not Found\n" >two.want &&
	test_cmp two.want two.status &&
	test "$(grep -c "^Connection: close\$" two.txt)" = 1 &&
	test_grep "^no such resource\$" two.txt &&
	test_grep_not "<[Hh][Tt][Mm][Ll]" two.out
'

test_expect_success 'Connection: close and HTTP/1.0 close after one answer, in one piece' '
	printf "GET /v1/mailbox HTTP/1.1\r\nHost: bg.a.example\r\nConnection: close\r\n\r\n" >close.req &&
	raw close &&
	test "$(grep -c "^HTTP/1.1 200 OK\$" close.txt)" = 1 &&
	test_grep "^Content-Length: 0\$" close.txt &&
	test_grep "^Connection: close\$" close.txt &&
	printf "GET /v1/mailbox HTTP/1.0\r\nHost: bg.a.example\r\n\r\n" >ten.req &&
	raw ten &&
	test "$(grep -c "^HTTP/1.1 200 OK\$" ten.txt)" = 1 &&
	test_grep "^Connection: close\$" ten.txt
'

test_expect_success 'unknown paths and methods' '
	pd_status 404 alice GET /v1/nothing &&
	pd_status 405 alice GET /v1/arm &&
	pd_status 405 alice POST /v1/mailbox &&
	pd_status 404 alice GET /v1/mailbox/0 &&
	pd_status 404 alice GET /v1/mailbox/-1 &&
	pd_status 404 alice GET /v1/mailbox/99999999999999999999 &&
	pd_status 404 alice GET "/v1/mailbox/1x" &&
	pd_status 501 alice PUT /v1/arm good.p7m
'

test_expect_success 'nothing was stored by any of that' '
	snapshot >after && test_cmp before after
'

test_expect_success 'tandemctl status counts the refusals and says the last one' '
	n=$(pd_bg_count refusals "at > now() - interval \$\$1 day\$\$") &&
	test "$n" -gt 5 &&
	last=$(pg_psql bg bg -c "SELECT reply FROM refusals ORDER BY at DESC, id DESC LIMIT 1") &&
	tandemctl status --conf "$PD_CONF" >out &&
	test_grep "^refusals last_24h=$n last_at=[-0-9T:]*Z last=\"$last\"\$" out
'

test_expect_success 'the daemon still serves, then a replay of the good ARM is 200' '
	pd_status 201 alice POST /v1/arm good.p7m &&
	pd_status 200 alice POST /v1/arm good.p7m &&
	test "$(pd_bg_count agent_mailbox)" = 1 &&
	test "$(pd_bg_count seen_messages)" = 1
'

test_expect_success 'database down: 503; back: served again' '
	pg_stop bg &&
	pd_arm m2.arm m2@a.example alice@a.example - bob@a.example &&
	pd_wrap alice m2.arm m2.p7m &&
	pd_status 503 alice POST /v1/arm m2.p7m &&
	echo "database unavailable, try again later" >expect &&
	test_cmp expect out.body &&
	pd_status 503 bob GET /v1/mailbox &&
	pd_pg_restart bg &&
	pd_status 201 alice POST /v1/arm m2.p7m &&
	pg_stop bg && pd_pg_restart bg &&
	pd_status 200 bob GET /v1/mailbox &&
	test_grep "database status=reconnected ok=yes" policyd.log &&
	test "$(pd_bg_count agent_mailbox)" = 2
'

# served_serial: the serial of the certificate the daemon presents now.
served_serial() {
	openssl s_client -connect "$PD_ADDR:$PD_PORT" -servername bg.a.example \
	    </dev/null 2>/dev/null | openssl x509 -noout -serial
}

# hup_wait TEXT [N]: SIGHUP, then TEXT in the log N more times than
# before (default 1; a reload that takes is logged by each worker).
hup_wait() {
	_n=$(( $(grep -c "$1" policyd.log) + ${2:-1} ))
	kill -HUP "$(cat policyd.pid)" &&
	_i=0 &&
	while [ "$(grep -c "$1" policyd.log)" -lt "$_n" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done &&
	[ "$(grep -c "$1" policyd.log)" -ge "$_n" ] || { tail -5 policyd.log; false; }
}

test_expect_success 'SIGHUP: a new element certificate is served, ARMs posted across reloads all stored' '
	old=$(served_serial) && test -n "$old" &&
	(cd "$TRASH/pki" && mv a/elements elements.old &&
	    tandem-ca element -d a --bg "https://bg.a.example:$PD_PORT/") >>pki.log 2>&1 &&
	new=$(openssl x509 -in "$PD_CA/elements/bg.crt" -noout -serial) &&
	test "$old" != "$new" &&
	: a reload reads them as the user the daemon became: nobody &&
	chgrp nogroup "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	chmod 640 "$PD_CA/elements/bg.key" "$TRASH/pki/keybox.key" &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		pd_arm r$i.arm r$i@a.example alice@a.example - bob@a.example &&
		pd_wrap alice r$i.arm r$i.p7m || return 1
	done &&
	n=$(pd_bg_count agent_mailbox) &&
	{ for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		pd_curl alice POST /v1/arm r$i.p7m; echo
	done >codes & } &&
	hup_wait "reloaded conf=" $PD_WORKERS &&
	hup_wait "reloaded conf=" $PD_WORKERS &&
	hup_wait "reloaded conf=" $PD_WORKERS && wait &&
	printf "201\n%.0s" 1 2 3 4 5 6 7 8 9 10 11 12 >want &&
	test_cmp want codes &&
	test "$(pd_bg_count agent_mailbox)" = $((n + 12)) &&
	test "$(served_serial)" = "$new"
'

test_expect_success 'SIGHUP with a configuration that does not load: refused, served as before' '
	cp "$PD_CONF" conf.keep &&
	sed -i "s|elements/bg.key|elements/missing.key|" "$PD_CONF" &&
	hup_wait "reload status=refused" &&
	test_grep "reload status=refused reason=\".*missing.key.*\"; going on as before" policyd.log &&
	cp conf.keep "$PD_CONF" &&
	pd_status 200 bob GET /v1/mailbox &&
	test "$(served_serial)" = "$(openssl x509 -in "$PD_CA/elements/bg.crt" -noout -serial)"
'

test_expect_success 'SIGHUP with another listening address and conninfo: the address kept and said, the database reconnected' '
	cp "$PD_CONF" conf.keep &&
	sed -i -e "s|^listen = .*|listen = \"$PD_ADDR:1\"|" \
	    -e "s|^\(conninfo = \"[^\"]*\)\"|\1 application_name=policyd\"|" "$PD_CONF" &&
	hup_wait "reloaded conf=.* database=reconnected" $PD_WORKERS &&
	test_grep "reload listen=$PD_ADDR:1 reason=\"the listening address changes only at a restart\"" policyd.log &&
	pd_status 200 bob GET /v1/mailbox &&
	test "$(pg_psql bg bg -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = \$\$policyd\$\$")" = $((PD_WORKERS + 1)) &&
	cp conf.keep "$PD_CONF"
'

test_expect_success 'SIGTERM stops it cleanly' '
	pid=$(cat policyd.pid) &&
	pd_stop TERM &&
	test_must_fail kill -0 $pid 2>/dev/null &&
	test_grep "stopping signal=15" policyd.log
'

test_done
