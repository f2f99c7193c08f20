# t/lib-postfix.sh - private Postfix instances and smtp-sink for scenarios
#
# Sourced by t/test-lib.sh. Everything lives under $TRASH and is
# stopped by test_atexit, so concurrent runs never share a file, an
# address or a process.
#
#	addr=$(pf_random_addr) port=$(pf_random_port)
#	postfix_start NAME ADDR PORT ['main.cf line' ...]
#		A private instance: config, queue and data under
#		$TRASH/postfix-NAME/{etc,spool,data}, smtpd on ADDR:PORT
#		(the address is in the master.cf service name, chroot n
#		everywhere), its log in $TRASH/postfix-NAME/maillog
#		(postlog service, no syslog needed). Each extra argument
#		is one main.cf line, such as "relayhost = [127.1.2.3]:2525"
#		or "transport_maps = inline:{b.example=smtp:[127.1.2.4]:25}".
#		Runs "postfix check", then "postfix start" without a
#		second check (quick-start), under script(1),
#		so that Postfix's fatal errors (sent to a terminal, not to
#		a missing syslog) reach the test log; waits until smtpd
#		listens; registers postfix_stop with test_atexit.
#	postfix_stop NAME	stop it and wait for its master to exit
#	postfix_dir NAME	its config folder, for postfix -c / sendmail -C
#	postfix_sendmail NAME ARGS...	its sendmail(1) with -i (a line
#				with a lone dot is content), message on stdin
#	postfix_wait_queue_empty NAME TIMEOUT
#		wait until maildrop, incoming, active, deferred and hold
#		are empty; fails (showing the queue and the log) after
#		TIMEOUT seconds
#	smtp_sink_start NAME ADDR PORT [OPTIONS]
#		smtp-sink as nobody on ADDR:PORT, dumping each mail
#		transaction into its own file under $TRASH/sink-NAME/;
#		stopped by PID at exit
#	smtp_sink_stop NAME
#	smtp_sink_files NAME	list the dump files, oldest first
#	smtp_sink_body FILE	the message body of one dump (after the
#				first empty line, without the empty line
#				smtp-sink adds at the end), as received
#	pf_random_addr		a random 127.x.y.z (x >= 1: never 127.0.0.1)
#	pf_random_port		a random port in 20000..59999 not listening
#
# Start instances and sinks with test_expect_success_here (or outside
# any check): test_atexit registered inside test_expect_success's
# subshell would be lost, and the process left running.
#
# Postfix missing is a failure, not a skip: it is a required tool.

pf_random_addr() {
	set -- $(od -An -N3 -tu1 /dev/urandom)
	echo "127.$((1 + $1 % 254)).$2.$((1 + $3 % 254))"
}

pf_random_port() {
	while :; do
		_pf_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		if ! ss -Hltn "sport = :$_pf_p" 2>/dev/null | grep -q .; then
			echo "$_pf_p"
			return 0
		fi
	done
}

# pf_wait_listen ADDR PORT SECONDS: until something listens there.
pf_wait_listen() {
	_pf_n=$(($3 * 10))
	while [ "$_pf_n" -gt 0 ]; do
		ss -Hltn "src = $1 and sport = :$2" 2>/dev/null | grep -q . &&
		    return 0
		sleep 0.1
		_pf_n=$((_pf_n - 1))
	done
	echo "nothing listens on $1:$2 after $3 s"
	return 1
}

postfix_dir() {
	echo "$TRASH/postfix-$1/etc"
}

# pf_pty CMD: run CMD on a pseudo-terminal, so that Postfix prints its
# fatal errors; the output goes to the test log, the status is CMD's.
pf_pty() {
	_pf_out=$(script -qec "$1; echo \"pf-status=\$?\"" /dev/null 2>&1)
	printf '%s\n' "$_pf_out" | tr -d '\r' | grep -v '^pf-status='
	_pf_rc=$(printf '%s\n' "$_pf_out" | tr -d '\r' |
	    sed -n 's/^pf-status=//p' | tail -n 1)
	[ "${_pf_rc:-1}" = 0 ]
}

pf_write_main_cf() {
	_pf_d=$1 _pf_name=$2 _pf_addr=$3
	cat >"$_pf_d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $_pf_d/spool
data_directory = $_pf_d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $_pf_name.tandem.test
mydomain = tandem.test
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_bind_address = $_pf_addr
alias_maps =
alias_database =
maillog_file_prefixes = $TRASH
maillog_file = $_pf_d/maillog
syslog_name = postfix-$_pf_name
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
delay_warning_time = 0
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 20s
EOF
}

pf_write_master_cf() {
	cat >"$1/etc/master.cf" <<EOF
$2:$3 inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

postfix_start() {
	if ! test_have_prog postfix; then
		echo "postfix_start: postfix is not installed"
		return 1
	fi
	if [ $# -lt 3 ]; then
		echo "usage: postfix_start NAME ADDR PORT [main.cf line ...]"
		return 1
	fi
	_pf_name=$1 _pf_addr=$2 _pf_port=$3
	shift 3
	_pf_d=$TRASH/postfix-$_pf_name
	mkdir -p "$_pf_d/etc" "$_pf_d/spool" "$_pf_d/data" || return 1
	chown postfix:postfix "$_pf_d/data" || return 1
	pf_write_main_cf "$_pf_d" "$_pf_name" "$_pf_addr"
	for _pf_line in "$@"; do
		printf '%s\n' "$_pf_line" >>"$_pf_d/etc/main.cf"
	done
	pf_write_master_cf "$_pf_d" "$_pf_addr" "$_pf_port"
	# Postfix waits, 300 ms at a time, until a main.cf written this very
	# second is older (some 2 s a start): date both files back.
	touch -d "3 seconds ago" "$_pf_d/etc/main.cf" "$_pf_d/etc/master.cf" ||
		return 1
	pf_pty "postfix -c '$_pf_d/etc' check" || {
		echo "postfix_start: postfix check failed for $_pf_name"
		return 1
	}
	test_atexit "postfix_stop '$_pf_name'"
	# The check just made: postfix-script's start skips its own when
	# it finds the queue's quick-start file (and removes it).
	touch "$_pf_d/spool/quick-start" || return 1
	pf_pty "postfix -c '$_pf_d/etc' start" || {
		echo "postfix_start: postfix start failed for $_pf_name"
		cat "$_pf_d/maillog" 2>/dev/null
		return 1
	}
	pf_wait_listen "$_pf_addr" "$_pf_port" 10
}

# pf_master_pid NAME: the PID of the instance's master, if it runs.
pf_master_pid() {
	_pf_pidf=$TRASH/postfix-$1/spool/pid/master.pid
	[ -f "$_pf_pidf" ] || return 1
	_pf_pid=$(tr -d ' \n' <"$_pf_pidf")
	[ -n "$_pf_pid" ] || return 1
	# PIDs come round again: only a master of this queue counts.
	grep -q master "/proc/$_pf_pid/comm" 2>/dev/null || return 1
	echo "$_pf_pid"
}

postfix_stop() {
	_pf_d=$TRASH/postfix-$1
	_pf_pid=$(pf_master_pid "$1") || return 0
	postfix -c "$_pf_d/etc" stop >/dev/null 2>&1
	_pf_n=100
	while [ "$_pf_n" -gt 0 ] && kill -0 "$_pf_pid" 2>/dev/null; do
		sleep 0.1
		_pf_n=$((_pf_n - 1))
	done
	if kill -0 "$_pf_pid" 2>/dev/null; then
		echo "postfix_stop: $1 master $_pf_pid still runs; killing it"
		kill -9 "$_pf_pid"
	fi
	return 0
}

postfix_sendmail() {
	_pf_name=$1
	shift
	sendmail -C "$(postfix_dir "$_pf_name")" -i "$@"
}

pf_queue_files() {
	_pf_s=$TRASH/postfix-$1/spool
	find "$_pf_s/maildrop" "$_pf_s/incoming" "$_pf_s/active" \
	    "$_pf_s/deferred" "$_pf_s/hold" -type f 2>/dev/null | wc -l
}

postfix_wait_queue_empty() {
	_pf_n=$(($2 * 10))
	while [ "$_pf_n" -gt 0 ]; do
		[ "$(pf_queue_files "$1")" -eq 0 ] && return 0
		sleep 0.1
		_pf_n=$((_pf_n - 1))
	done
	echo "postfix_wait_queue_empty: $1 still has mail after $2 s:"
	postqueue -c "$(postfix_dir "$1")" -p
	tail -n 20 "$TRASH/postfix-$1/maillog"
	return 1
}

smtp_sink_start() {
	if ! test_have_prog smtp-sink; then
		echo "smtp_sink_start: smtp-sink is not installed"
		return 1
	fi
	_pf_sd=$TRASH/sink-$1
	mkdir -p "$_pf_sd/mail" || return 1
	chown nobody "$_pf_sd/mail" || return 1
	# -u is required as root; -d writes one file per transaction;
	# $4, if any, more options (-r rcpt: a 4xx to RCPT TO).
	smtp-sink -u nobody -c -d "$_pf_sd/mail/%Y%m%d%H%M%S." ${4:-} \
	    "$2:$3" 100 >"$_pf_sd/out" 2>&1 &
	echo $! >"$_pf_sd/pid"
	test_atexit "smtp_sink_stop '$1'"
	pf_wait_listen "$2" "$3" 10
}

smtp_sink_stop() {
	_pf_sd=$TRASH/sink-$1
	[ -f "$_pf_sd/pid" ] || return 0
	_pf_pid=$(cat "$_pf_sd/pid")
	rm -f "$_pf_sd/pid"
	if grep -q smtp-sink "/proc/$_pf_pid/comm" 2>/dev/null; then
		kill "$_pf_pid"
		wait "$_pf_pid" 2>/dev/null
	fi
	return 0
}

smtp_sink_files() {
	ls -1tr "$TRASH/sink-$1/mail" 2>/dev/null |
	    sed "s|^|$TRASH/sink-$1/mail/|"
}

smtp_sink_body() {
	# smtp-sink ends each dump with one empty line of its own.
	sed '1,/^\r\{0,1\}$/d' "$1" | sed '${/^\r\{0,1\}$/d;}'
}
