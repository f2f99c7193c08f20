# t/lib-policyd.sh - one courier's background element for the t/055x
# scenarios (sourced by them after t/test-lib.sh)
#
#	pd_setup	PKI (root.example, public courier a.example, its BG
#			element https://bg.a.example:PORT/), keybox key,
#			clusters fg and bg migrated, published, subscribed,
#			and $PD_CONF. Sets PD_ADDR, PD_PORT, PD_FG, PD_BG.
#			Call it at the top level.
#	pd_account USER [STATUS]
#			USER's agent key (USER.key, USER.pem = certificate
#			and chain) and courier-end key, issued by a.example
#			unless they exist; with STATUS, the account is added
#			on the FG.
#	pd_start / pd_stop [SIGNAL]
#			tandem-policyd -f, log appended to policyd.log, PID
#			in policyd.pid (stopped at exit)
#	pd_arm FILE MSGID SENDER EXPIRES RCPT...
#			an ARM record (EXPIRES: a time or "-" for none)
#	pd_wrap USER IN OUT [COURIER-END-USER]
#			wrap agent -> courier, as an agent does: signed by
#			USER's agent key (openssl cms -sign), enveloped to the
#			courier-end certificate of USER (or of the other one)
#	pd_curl USER METHOD PATH [FILE]
#			HTTPS request with USER's certificate; body to
#			out.body, prints the status code
#	pd_status WANT USER METHOD PATH [FILE]
#			pd_curl, and the status code must be WANT
#	pd_hold OUT IDLE SLOW SECONDS
#			t/policyd-slow-clients.py with alice's certificate
#			in the background (PID in PD_HELD, killed at exit),
#			once it holds them all ("open IDLE SLOW" in OUT)
#	pd_bg_count TABLE [WHERE]	rows of a BG table
#	pd_pg_restart NAME	start a stopped cluster again, same port
#
# PD_WORKERS (default 2) is background.workers: two workers, so that
# every scenario shows the daemon's requests served by more than one.

PD_CA=$TRASH/pki/a
PD_WORKERS=${PD_WORKERS:-2}

pd_setup() {
	PD_ADDR=$(pf_random_addr)
	PD_PORT=$(pf_random_port)
	mkdir -p "$TRASH/pki" && (
		cd "$TRASH/pki" &&
		tandem-ca root -d root --name root.example &&
		tandem-ca courier -d a --name a.example --role public \
		    --superior root &&
		tandem-ca element -d a --bg "https://bg.a.example:$PD_PORT/" &&
		tandemctl keybox new keybox.key
	) >pki.log 2>&1 || { cat pki.log; return 1; }
	pg_start fg && pg_start bg && pg_createdb fg fg && pg_createdb bg bg ||
	    return 1
	PD_FG=$(pg_conninfo fg fg) && PD_BG=$(pg_conninfo bg bg) &&
	tandemctl db migrate --fg --db "$PD_FG" --sqldir "$TANDEM_SRC/sql" &&
	tandemctl db migrate --bg --db "$PD_BG" --sqldir "$TANDEM_SRC/sql" &&
	pg_publish fg fg && pg_subscribe bg bg fg fg ||
	    return 1
	PD_CONF=$TRASH/tandem.conf
	pd_conf "$(pg_conninfo bg bg tandem_bg)" >"$PD_CONF"
}

pd_conf() {
	cat <<-EOF
	courier {
		name = "a.example"
		role = public
		domains = {"a.example"}
		superior = "root.example"
	}
	background {
		listen = "$PD_ADDR:$PD_PORT"
		url = "https://bg.a.example:$PD_PORT/"
		max_request_size = ${PD_MAX_REQUEST:-65536}
		workers = $PD_WORKERS
	}
	database {
		conninfo = "$1"
	}
	tls {
		anchors = "$TRASH/pki/root/root.crt"
		cert = "$PD_CA/elements/bg.crt"
		key = "$PD_CA/elements/bg.key"
		chain = "$PD_CA/chain.pem"
		keybox_key = "$TRASH/pki/keybox.key"
	}
	hygiene {
		hold_limit = ${PD_HOLD_LIMIT:-1h}
		purge_interval = 1h
	}
	EOF
}

pd_account() {
	[ -f "$1.pem" ] || pd_issue "$1" || return 1
	[ -n "$2" ] || return 0
	_pd_d=$PD_CA/accounts/$1@a.example
	tandemctl account add --db "$PD_FG" --address "$1@a.example" \
	    --status "$2" --courier-key "$_pd_d/courier.key" \
	    --courier-cert "$_pd_d/courier.crt" --agent-cert "$_pd_d/agent.crt" \
	    --keybox-key "$TRASH/pki/keybox.key" >/dev/null
}

pd_issue() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null &&
	tandem-ca account -d "$PD_CA" --address "$1@a.example" \
	    --csr "$1.csr" >/dev/null &&
	cat "$PD_CA/accounts/$1@a.example/agent.crt" "$PD_CA/chain.pem" \
	    >"$1.pem"
}

pd_start() {
	tandem-policyd -c "$PD_CONF" -n >check.out 2>&1 || {
		cat check.out
		return 1
	}
	# The log is kept across restarts: wait for this start's line, the
	# one written once the hygiene pass has run and the port listens.
	_pd_was=$(grep -c "tandem-policyd: started" policyd.log 2>/dev/null)
	tandem-policyd -c "$PD_CONF" -f >>policyd.log 2>&1 &
	echo $! >policyd.pid
	test_atexit "pd_stop"
	_pd_n=600
	while [ "$(grep -c "tandem-policyd: started" policyd.log)" -le "${_pd_was:-0}" ]; do
		_pd_n=$((_pd_n - 1))
		if [ $_pd_n -eq 0 ] || ! kill -0 "$(cat policyd.pid)" 2>/dev/null; then
			echo "pd_start: tandem-policyd did not start"
			tail -n 20 policyd.log
			return 1
		fi
		sleep 0.1
	done
	pf_wait_listen "$PD_ADDR" "$PD_PORT" 10 || { tail -n 20 policyd.log; return 1; }
}

pd_stop() {
	[ -f "$TRASH/policyd.pid" ] || return 0
	_pd_pid=$(cat "$TRASH/policyd.pid")
	rm -f "$TRASH/policyd.pid"
	kill -"${1:-TERM}" "$_pd_pid" 2>/dev/null || return 0
	_pd_n=100
	while [ $_pd_n -gt 0 ] && kill -0 "$_pd_pid" 2>/dev/null; do
		sleep 0.1
		_pd_n=$((_pd_n - 1))
	done
	if kill -0 "$_pd_pid" 2>/dev/null; then
		echo "pd_stop: tandem-policyd ($_pd_pid) ignores SIG${1:-TERM}"
		kill -KILL "$_pd_pid"
		return 1
	fi
	wait "$_pd_pid" 2>/dev/null
	return 0
}

pd_arm() {
	_pd_f=$1 _pd_id=$2 _pd_from=$3 _pd_exp=$4
	shift 4
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/vnd.tandem.arm\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Message-Id: %s\r\n' "$_pd_id"
		printf 'Content-Key: %s\r\n' "$(openssl rand -hex 32)"
		printf 'Content-Digest: %s\r\n' "$(openssl rand -hex 32)"
		printf 'Sender: %s\r\n' "$_pd_from"
		for _pd_r; do printf 'Recipient: %s\r\n' "$_pd_r"; done
		printf 'Issued: %s\r\n' "$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)"
		[ "$_pd_exp" = - ] || printf 'Expires: %s\r\n' "$_pd_exp"
	} >"$_pd_f"
}

pd_wrap() {
	_pd_ce=$PD_CA/accounts/${4:-$1}@a.example/courier.crt
	openssl cms -sign -binary -nodetach -in "$2" -signer "$1.pem" \
	    -inkey "$1.key" -certfile "$PD_CA/chain.pem" -outform DER \
	    -out "$3.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$3.signed" \
	    -inform DER -outform DER -recip "$_pd_ce" \
	    -keyopt ecdh_kdf_md:sha256 -out "$3"
}

pd_curl() {
	curl -s -o out.body -w '%{http_code}' --cert "$1.pem" --key "$1.key" \
	    --cacert "$TRASH/pki/root/root.crt" \
	    --resolve "bg.a.example:$PD_PORT:$PD_ADDR" -X "$2" \
	    ${4:+--data-binary @"$4"} \
	    -H 'Content-Type: application/pkcs7-mime' \
	    "https://bg.a.example:$PD_PORT$3"
}

pd_status() {
	_pd_want=$1
	shift
	_pd_got=$(pd_curl "$@")
	[ "$_pd_got" = "$_pd_want" ] && return 0
	echo "pd_status: $2 $3: got $_pd_got, want $_pd_want"
	return 1
}

pd_hold() {
	{ python3 "$TANDEM_SRC/t/policyd-slow-clients.py" "$PD_ADDR" \
	    "$PD_PORT" alice.pem alice.key "$TRASH/pki/root/root.crt" \
	    "$2" "$3" "$4" >"$1" 2>"$1.err" & } &&
	PD_HELD=$! &&
	test_atexit "kill $PD_HELD 2>/dev/null" &&
	test_wait_log "$1" "^open" 20 &&
	test "$(cat "$1")" = "open $2 $3"
}

pd_bg_count() {
	pg_psql bg bg -c "SELECT count(*) FROM $1 ${2:+WHERE $2}"
}

pd_pg_restart() {
	pg_as_owner "$PG_BINDIR/pg_ctl" -D "$(pg_dir_of "$1")/data" \
	    -l "$(pg_dir_of "$1")/server.log" -w -t 30 \
	    -o "-p $(pg_port_of "$1")" start >/dev/null
}
