test_description='policyd: an agent cannot make its background contact a URL of its choosing'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# The only URL that reaches tandem-policyd from a client is the
# Background-Url of an invitation-reject (figure 9): the background
# introduces itself there. A hostile agent of the courier names a
# listener of its own (a stand-in for a service inside the network)
# and the listener records whether anybody connected. The background
# must take the URL only from the invitation as the inviting courier's
# foreground signed it, and contact nothing when the client's word
# is all there is.

test_have_prog curl || test_skip_all 'curl not found'
test_have_prog python3 || test_skip_all 'python3 is needed for the listener'

TOKEN=SG9zdGlsZSByZWZlcnJhbCB0b2tlbjE
trap_addr=$(pf_random_addr) trap_port=$(pf_random_port)
TRAP=https://$trap_addr:$trap_port/
b_url=https://bg.b.example:$(pf_random_port)/

trap_stop() {
	[ -f trap.pid ] && kill "$(cat trap.pid)" 2>/dev/null
	rm -f trap.pid
}

# invitation OUT SIGNER-CERT SIGNER-KEY URL: b's signed invitation for alice
invitation() {
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.invitation\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: inv1@b.example\r\nDate: %s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'Token: %s\r\nInviter: bob@b.example\r\n' "$TOKEN"
		printf 'Recipient: alice@a.example\r\nCourier: b.example\r\n'
		printf 'Register-Address: tandem@b.example\r\n'
		printf 'Background-Url: %s\r\n' "$4"
		printf 'Message-Id: m1@b.example\r\n'
		printf -- '--b1\r\nContent-Type: application/pem-certificate-chain\r\n'
		printf 'Content-Transfer-Encoding: base64\r\nTandem-Part: fg-cert\r\n\r\n'
		base64 -w 76 "$2" | sed "s/\$/\r/"
		printf -- '--b1--\r\n'
	} >"$1.txt" &&
	openssl cms -sign -binary -nodetach -outform DER -in "$1.txt" \
	    -signer "$2" -inkey "$3" -certfile "$5" -out "$1"
}

# reject OUT URL [INVITATION]: alice's invitation-reject, wrapped
reject() {
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.invitation-reject\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s@a.example\r\nDate: %s\r\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'Token: %s\r\nAddress: alice@a.example\r\n' "$TOKEN"
		printf 'Inviting-Courier: b.example\r\n'
		printf 'Registered-Courier: a.example\r\n'
		printf 'Message-Id: m1@b.example\r\n'
		printf 'Background-Url: %s\r\n' "$2"
		if [ -n "$3" ]; then
			printf -- '--b1\r\nContent-Type: application/pkcs7-mime\r\n'
			printf 'Content-Transfer-Encoding: base64\r\n'
			printf 'Tandem-Part: invitation\r\n\r\n'
			base64 -w 76 "$3" | sed "s/\$/\r/"
		fi
		printf -- '--b1--\r\n'
	} >"$1.txt" &&
	pd_wrap alice "$1.txt" "$1.p7m"
}

test_expect_success_here 'a.example with alice; b.example, whose FG invited her' '
	pd_setup >setup.log 2>&1 &&
	(
		cd "$TRASH/pki" &&
		tandem-ca courier -d b --name b.example --role public \
		    --superior root &&
		tandem-ca element -d b --fg tandem@b.example
	) >>setup.log 2>&1 &&
	pd_account alice active &&
	pg_wait_for bg bg "SELECT status FROM accounts" active &&
	pd_start &&
	B=$TRASH/pki/b &&
	invitation inv.der $B/elements/fg.crt $B/elements/fg.key "$b_url" \
	    $B/chain.pem &&
	invitation forged.der alice.pem alice.key "$TRAP" "$PD_CA/chain.pem"
'

test_expect_success_here 'a listener that records who connects' '
	cat >trap.py <<-\PY &&
	import socket, sys
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((sys.argv[1], int(sys.argv[2])))
	s.listen(8)
	open("trap.ready", "w").close()
	while True:
	    c, a = s.accept()
	    with open("contacted", "a") as f:
	        f.write("%s:%d\n" % a)
	    c.close()
	PY
	{ python3 trap.py $trap_addr $trap_port 2>trap.err & echo $! >trap.pid; } &&
	test_atexit trap_stop &&
	pf_wait_listen $trap_addr $trap_port 10 &&
	rm -f contacted
'

test_expect_success 'the client'\''s URL alone: 403, nothing queued' '
	reject r1 "$TRAP" &&
	pd_status 403 alice POST /v1/invitation-reject r1.p7m &&
	test_grep "no invitation part" out.body
'

test_expect_success 'a real invitation, but the client'\''s URL: 403' '
	reject r2 "$TRAP" inv.der &&
	pd_status 403 alice POST /v1/invitation-reject r2.p7m &&
	test_grep "the Background-Url is not the signed invitation" out.body
'

test_expect_success 'an invitation naming that URL, signed by the agent itself: 403' '
	reject r3 "$TRAP" forged.der &&
	pd_status 403 alice POST /v1/invitation-reject r3.p7m &&
	test_grep "^invitation part: " out.body
'

test_expect_success 'the invitation'\''s own URL is taken, from its signature' '
	reject r4 "$b_url" inv.der &&
	pd_status 201 alice POST /v1/invitation-reject r4.p7m &&
	test "$(pd_bg_count bg_outbox "url = \$\$$b_url\$\$")" = 1
'

test_expect_success 'the listener was never contacted, and nothing names it' '
	sleep 3 &&
	test ! -e contacted &&
	test "$(pd_bg_count bg_outbox "url LIKE \$\$%$trap_addr%\$\$")" = 0 &&
	test_grep "invitation-reject client=alice@a.example status=403" policyd.log
'

test_done
