test_description='tandem-milter in Postfix reloads on SIGHUP: mail across reloads, a new element certificate, a refused configuration, a socket kept'
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

# A reload reads the files as the user the milter became (nobody): the
# keys go to its group, the chain out of the CA's folder.
test_expect_success 'the files a reload reads are readable by nobody' '
	milter_conf_reloadable &&
	test "$(stat -c %G:%a isp/elements/fg.key kb.key | sort -u)" = nogroup:640
'

test_expect_success_here 'the milter, the reinjection smtpd and the MTA start' '
	milter_mta_start
'

# mk NAME: a content mail NAME from alice to bob, its own sealed
# content in NAME.sealed (the milter refuses a replay).
mk() {
	printf "sealed content %s\n" "$1" >inner &&
	openssl cms -sign -binary -nodetach -outform DER -in inner \
	    -signer isp/accounts/alice@a.example/agent.crt -inkey alice.key \
	    -out sealed.der &&
	cp sealed.der "$1.sealed" &&
	milter_mkmail "$1" alice alice@a.example bob@a.example
}

# send NAME: swaks through the FG's Postfix, the dialogue in NAME.out
send() {
	swaks --server "$fg_addr:$fg_port" --from alice@a.example \
	    --to bob@a.example --data "@$1" >"$1.out" 2>&1
}

# serial_of NAME: the serial of the certificate that signed the wrap of
# mail NAME as it reached the sink, opened as bob; it fails unless the
# mail arrived once, rewrapped to bob, with its own sealed content.
serial_of() {
	grep -l "^Message-ID: <$1@a.example>" $(smtp_sink_files out) \
	    >"$1.files" &&
	test $(wc -l <"$1.files") -eq 1 &&
	smtp_sink_body "$(cat "$1.files")" | base64 -d >"$1.wrap" &&
	openssl cms -decrypt -inform DER -in "$1.wrap" \
	    -recip isp/accounts/bob@a.example/agent.crt -inkey bob.key \
	    -out "$1.signed" &&
	openssl cms -verify -inform DER -in "$1.signed" -CAfile root/root.crt \
	    -purpose any -signer "$1.signer" -out "$1.got" 2>/dev/null &&
	cmp "$1.sealed" "$1.got" &&
	openssl x509 -in "$1.signer" -noout -serial
}

# hup_wait TEXT: SIGHUP, then TEXT in the log once more than before.
hup_wait() {
	_n=$(grep -c "$1" milter.log)
	kill -HUP "$(cat milter.pid)" || return 1
	_i=0
	while [ "$(grep -c "$1" milter.log)" -le "$_n" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ "$(grep -c "$1" milter.log)" -gt "$_n" ] || { tail -5 milter.log; false; }
}

# wait_file FILE: until FILE exists (30 s at most).
wait_file() {
	_i=0
	while [ ! -e "$1" ] && [ $_i -lt 300 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	test -e "$1"
}

# slow_send NAME: one SMTP session that stops after RCPT (the milter
# has begun the message at MAIL FROM) and writes NAME.ready, waits for
# NAME.go, then sends the data; the reply code in NAME.code.
slow_send() {
	python3 - "$fg_addr" "$fg_port" "$1" <<-\PY
	import os, smtplib, sys, time
	host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	s = smtplib.SMTP(host, port, timeout=60)
	s.ehlo()
	s.mail("alice@a.example")
	s.rcpt("bob@a.example")
	open(name + ".ready", "w").close()
	for _ in range(600):
	    if os.path.exists(name + ".go"):
	        break
	    time.sleep(0.1)
	code, _ = s.data(open(name, "rb").read())
	open(name + ".code", "w").write("%d\n" % code)
	s.quit()
	PY
}

old=$(openssl x509 -in isp/elements/fg.crt -noout -serial)

test_expect_success 'the milter has started' '
	wait_file milter.log &&
	i=0 && while ! grep -q "started socket=" milter.log && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	test_grep "started socket=" milter.log
'

# SIGHUP is bit 0 of a thread's SigBlk; a thread in sigwait() shows
# what it waits for unblocked. libmilter's signal thread would wait for
# SIGHUP too (and stop the milter on it): one thread alone may.
test_expect_success 'one thread alone waits for SIGHUP' '
	pid=$(cat milter.pid) &&
	for t in $(ls /proc/$pid/task); do
		m=$(awk "\$1 == \"SigBlk:\" { print \$2 }" /proc/$pid/task/$t/status) &&
		if [ $((0x$m & 1)) = 0 ]; then
			echo "thread $t: SigBlk $m wchan $(cat /proc/$pid/task/$t/wchan)"
		fi || return 1
	done >hup &&
	cat hup &&
	test $(wc -l <hup) = 1 &&
	test_grep "wchan do_sigtimedwait" hup
'

test_expect_success 'mail sent across three reloads all arrives, rewrapped' '
	for i in 1 2 3 4 5 6 7 8 9 10; do mk a$i || return 1; done &&
	{ for i in 1 2 3 4 5 6 7 8 9 10; do
		send a$i; echo "a$i $?"
	done >across.rc & } &&
	hup_wait "reloaded conf=" && hup_wait "reloaded conf=" &&
	hup_wait "reloaded conf=" && wait &&
	printf "a%s 0\n" 1 2 3 4 5 6 7 8 9 10 >want && test_cmp want across.rc &&
	kill -0 "$(cat milter.pid)" &&
	postfix_wait_queue_empty fg 30 &&
	for i in 1 2 3 4 5 6 7 8 9 10; do
		test "$(serial_of a$i)" = "$old" || return 1
	done
'

test_expect_success 'a new element certificate: a message begun before the reload keeps the old one, the next gets the new one' '
	mk b1 && mk b2 &&
	{ slow_send b1 >slow.log 2>&1 & } &&
	wait_file b1.ready &&
	mv isp/elements isp/elements.old &&
	tandem-ca element -d isp --fg tandem@a.example >/dev/null &&
	chgrp nogroup isp/elements/fg.key && chmod 640 isp/elements/fg.key &&
	new=$(openssl x509 -in isp/elements/fg.crt -noout -serial) &&
	test "$new" != "$old" &&
	hup_wait "reloaded conf=" &&
	touch b1.go && wait &&
	echo 250 >want && test_cmp want b1.code &&
	send b2 && test_grep "<-  250 " b2.out &&
	postfix_wait_queue_empty fg 30 &&
	test "$(serial_of b1)" = "$old" &&
	test "$(serial_of b2)" = "$new"
'

test_expect_success 'a configuration that does not load is refused; mail flows as before' '
	cp tandem.conf conf.keep &&
	sed -i "s|elements/fg.key|elements/missing.key|" tandem.conf &&
	hup_wait "reload status=refused" &&
	test_grep "reload status=refused reason=\".*missing.key.*\"; going on as before" milter.log &&
	cp conf.keep tandem.conf &&
	mk c1 && send c1 && test_grep "<-  250 " c1.out &&
	postfix_wait_queue_empty fg 30 &&
	test "$(serial_of c1)" = "$(openssl x509 -in isp/elements/fg.crt -noout -serial)"
'

test_expect_success 'a key the milter cannot read is refused' '
	chmod 600 isp/elements/fg.key &&
	hup_wait "reload status=refused" &&
	chmod 640 isp/elements/fg.key &&
	grep "reload status=refused" milter.log | tail -1 >last &&
	test_grep "reason=\".*fg.key.*\"; going on as before" last
'

test_expect_success 'another socket is said to change only at a restart; the old one serves' '
	cp tandem.conf conf.keep &&
	sed -i "s|/milter\\.sock|/other.sock|" tandem.conf &&
	hup_wait "reloaded conf=" &&
	test_grep "reload foreground.milter_socket=unix:$TRASH/other.sock reason=\"foreground.milter_socket changes only at a restart\"" milter.log &&
	test ! -e other.sock &&
	cp conf.keep tandem.conf &&
	mk d1 && send d1 && test_grep "<-  250 " d1.out &&
	postfix_wait_queue_empty fg 30 &&
	test -n "$(serial_of d1)"
'

test_expect_success 'SIGTERM still stops it cleanly' '
	pid=$(cat milter.pid) &&
	kill -TERM "$pid" &&
	i=0 && while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	test_must_fail kill -0 "$pid" 2>/dev/null &&
	test_grep "stopping signal=15" milter.log &&
	test_grep "stopped" milter.log
'

test_done
