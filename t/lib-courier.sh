# t/lib-courier.sh - a live courier for scenarios: PKI, two PostgreSQL
# clusters, Postfix with tandem-milter, tandem-policyd, agents
#
# Sourced by t/test-lib.sh after t/lib-pg.sh and t/lib-postfix.sh. It
# needs only $TRASH, test_atexit and those two helpers, so that
# contrib/sandbox/demo.sh can source it as well (with a test_atexit
# of its own that records the stop commands for "demo.sh down").
#
#	courier_pki [DOMAIN]
#		tandem-ca root (root.example), a public courier for DOMAIN
#		(default a.example) and its FG element (service mailbox
#		tandem@DOMAIN) and BG element (https://bg.DOMAIN:PORT/)
#		certificates, in $CR_PKI. Picks the addresses and ports:
#		CR_FG_ADDR, CR_SMTP_PORT (smtpd with the milter, the
#		agents' submission), CR_REINJECT_PORT (smtpd without it),
#		CR_BG_ADDR, CR_BG_PORT, CR_BG_URL; and a keybox key.
#		The courier's issuing CA (tandem-ca issuing, in
#		$CR_CA/issuing/) is the milter's foreground.ca_dir: the
#		courier CA key never reaches it. Both elements' tls.chain
#		is $CR_CHAIN (the issuing CA, then the courier's chain).
#	courier_fg_start
#		PostgreSQL cluster "fg" (database fg, migrated --fg,
#		published), $CR_FG_CONF, Postfix instance "fg" (virtual
#		Maildir delivery to $TRASH/mail/USER/ for each USER@DOMAIN
#		with USER in $CR_USERS (set it before to add some), the
#		milter on smtpd, a second smtpd for reinjection without
#		it), then tandem-milter. Sets CR_FG_DB (conninfo).
#	courier_bg_start
#		PostgreSQL cluster "bg" (migrated --bg, subscribed to the
#		FG), $CR_BG_CONF, then tandem-policyd. Sets CR_BG_DB.
#	courier_fg_setup / courier_bg_setup
#		the same without starting the daemon
#	courier_milter_start / courier_milter_stop [SIGNAL]
#	courier_policyd_start / courier_policyd_stop [SIGNAL]
#		(re)start or stop one daemon (default SIGTERM; KILL for a
#		crash). Logs append to $TRASH/fg/milter.log and
#		$TRASH/bg/policyd.log.
#	courier_pg_restart NAME		start a stopped cluster again, same port
#	courier_fg_sql SQL / courier_bg_sql SQL
#		psql -At on the element's database, as postgres
#	courier_invite ADDR	tandemctl invite for ADDR (the FG's tandem.conf)
#	agent_conf USER		the agent of USER@DOMAIN: $TRASH/agent-USER/
#				with tandem.conf (agent and tls sections,
#				resolve bg.DOMAIN:PORT to the BG's address)
#	agent USER SUBCOMMAND ARGS...
#				runs "tandem SUBCOMMAND -d DIR -c CONF ARGS"
#				for that user (TANDEM_PASSWORD is set)
#	agent_register USER
#		courier_invite USER@DOMAIN (unless an invitation is already
#		in USER's Maildir or on its way), then "tandem register"
#		from the newest invitation; waits
#		until the account is active on the FG and on the BG
#	maildir_wait USER PATTERN [SECONDS]
#		waits (default 30 s) for a message in USER's Maildir (new/
#		or cur/) with a line matching PATTERN (grep -e); prints its
#		file name, oldest first; fails showing the folder otherwise
#	maildir_count USER	how many messages USER's Maildir holds
#	cr_maildir_match USER PATTERN
#		the messages of USER matching PATTERN now, oldest first;
#		fails if none
#	cr_daemon_alive milter|policyd	the daemon still runs
#	wait_until SECONDS CMD...	CMD every 0.2 s until it succeeds
#		(its arguments are expanded once: wrap a "$(...)" test
#		in a function)
#
# CR_HOLD_LIMIT, CR_PURGE_INTERVAL and CR_HISTORY_LIMIT, set before the
# *_start calls, go to the hygiene section of both elements (default
# 30d, 1h and 30d).
# Run as root, the milter's network side runs as CR_MILTER_USER
# (foreground.user, default nobody) and its CA process as CR_CA_USER
# (foreground.ca_user, default daemon).
#
# Call the *_start functions at the top level or inside
# test_expect_success_here: in a subshell the variables and the
# test_atexit entries would be lost.

CR_PASSWORD=courier-test-password
: "${CR_USERS:=alice bob carol dave erin frank tandem}"
: "${CR_MILTER_USER:=nobody}" "${CR_CA_USER:=daemon}"

# cr_random_addr OTHER...: a random 127.x.y.z that is none of OTHER.
cr_random_addr() {
	while :; do
		_cr_a=$(pf_random_addr)
		case " $* " in *" $_cr_a "*) continue ;; esac
		echo "$_cr_a"
		return 0
	done
}

courier_pki() {
	CR_DOMAIN=${1:-a.example}
	CR_PKI=$TRASH/pki
	CR_FG_ADDR=$(cr_random_addr)
	CR_BG_ADDR=$(cr_random_addr "$CR_FG_ADDR")
	CR_SMTP_PORT=$(pf_random_port)
	CR_REINJECT_PORT=$(pf_random_port)
	while [ "$CR_REINJECT_PORT" = "$CR_SMTP_PORT" ]; do
		CR_REINJECT_PORT=$(pf_random_port)
	done
	CR_BG_PORT=$(pf_random_port)
	CR_BG_HOST=bg.$CR_DOMAIN
	CR_BG_URL=https://$CR_BG_HOST:$CR_BG_PORT/
	CR_SERVICE=tandem@$CR_DOMAIN
	CR_CA=$CR_PKI/$CR_DOMAIN
	CR_ANCHOR=$CR_PKI/root/root.crt
	CR_CHAIN=$CR_CA/issuing/chain.pem
	export CR_DOMAIN CR_PKI CR_FG_ADDR CR_BG_ADDR CR_SMTP_PORT \
	    CR_REINJECT_PORT CR_BG_PORT CR_BG_HOST CR_BG_URL CR_SERVICE \
	    CR_CA CR_ANCHOR CR_CHAIN
	mkdir -p "$CR_PKI" || return 1
	(
		cd "$CR_PKI" &&
		tandem-ca root -d root --name root.example &&
		tandem-ca courier -d "$CR_DOMAIN" --name "$CR_DOMAIN" \
		    --role public --superior root &&
		tandem-ca element -d "$CR_DOMAIN" --fg "$CR_SERVICE" &&
		tandem-ca element -d "$CR_DOMAIN" --bg "$CR_BG_URL" &&
		tandem-ca issuing -d "$CR_DOMAIN" --domain "$CR_DOMAIN" &&
		tandemctl keybox new keybox.key
	) >"$CR_PKI/pki.log" 2>&1 || {
		cat "$CR_PKI/pki.log"
		return 1
	}
}

# cr_conf FILE ELEMENT: the tandem.conf of one element.
cr_conf() {
	cat >"$1" <<EOF
# tandem.conf of the $2 element of $CR_DOMAIN (written by t/lib-courier.sh)
courier {
	name = "$CR_DOMAIN"
	role = public
	domains = {"$CR_DOMAIN"}
	superior = "root.example"
}
foreground {
	milter_socket = "unix:$TRASH/fg/milter.sock"
	reinject = "$CR_FG_ADDR:$CR_REINJECT_PORT"
	service_mailbox = "$CR_SERVICE"
	ca_dir = "$CR_CA/issuing"
	user = "$CR_MILTER_USER"
	ca_user = "$CR_CA_USER"
	user_submission = "$CR_FG_ADDR:$CR_SMTP_PORT"
	anchor_url = "https://$CR_DOMAIN/tandem/root.crt"
}
background {
	listen = "$CR_BG_ADDR:$CR_BG_PORT"
	url = "$CR_BG_URL"
}
database {
	conninfo = "$3"
}
tls {
	anchors = "$CR_ANCHOR"
	cert = "$CR_CA/elements/$2.crt"
	key = "$CR_CA/elements/$2.key"
	chain = "$CR_CHAIN"
	keybox_key = "$CR_PKI/keybox.key"
}
hygiene {
	hold_limit = ${CR_HOLD_LIMIT:-30d}
	purge_interval = ${CR_PURGE_INTERVAL:-1h}
	history_limit = ${CR_HISTORY_LIMIT:-30d}
}
EOF
}

# cr_postfix: the FG's Postfix, with virtual Maildir delivery for the
# domain, the milter on the main smtpd and a reinjection smtpd.
cr_postfix() {
	mkdir -p "$TRASH/mail" || return 1
	chown nobody:nogroup "$TRASH/mail" || return 1
	# Each user in $CR_USERS has a Maildir, $TRASH/mail/USER/ (the
	# virtual agent refuses regexp substitutions in its maps).
	: >"$TRASH/fg/vmailbox"
	for _cr_u in $CR_USERS; do
		printf '%s@%s %s/\n' "$_cr_u" "$CR_DOMAIN" "$_cr_u" \
		    >>"$TRASH/fg/vmailbox"
	done
	postfix_start fg "$CR_FG_ADDR" "$CR_SMTP_PORT" \
	    "virtual_mailbox_domains = $CR_DOMAIN" \
	    "virtual_mailbox_base = $TRASH/mail" \
	    "virtual_mailbox_maps = texthash:$TRASH/fg/vmailbox" \
	    "virtual_uid_maps = static:65534" \
	    "virtual_gid_maps = static:65534" \
	    "virtual_transport = virtual" \
	    "smtpd_milters = unix:$TRASH/fg/milter.sock" \
	    "milter_default_action = tempfail" \
	    "milter_protocol = 6" \
	    "milter_connect_timeout = 5s" || return 1
	# master.cf: the delivery agent and the reinjection smtpd, with
	# the -o options of contrib/postfix/master.cf.snippet (no milter,
	# mail only from 127.0.0.1).
	_cr_pd=$(postfix_dir fg)
	_cr_ro=$(sed -n '/^127.0.0.1:10026 /,/^$/s/^[[:space:]]*-o[[:space:]]*/-o /p' \
	    "$TANDEM_SRC/contrib/postfix/master.cf.snippet" | tr '\n' ' ')
	case $_cr_ro in *smtpd_milters=*) ;; *)
		echo "cr_postfix: no reinjection options in master.cf.snippet"
		return 1 ;;
	esac
	postconf -c "$_cr_pd" -M \
	    "virtual/unix=virtual unix - n n - - virtual" \
	    "$CR_FG_ADDR:$CR_REINJECT_PORT/inet=$CR_FG_ADDR:$CR_REINJECT_PORT inet n - n - - smtpd $_cr_ro" ||
	    return 1
	pf_pty "postfix -c '$_cr_pd' reload" || return 1
	pf_wait_listen "$CR_FG_ADDR" "$CR_REINJECT_PORT" 10
}

courier_fg_setup() {
	mkdir -p "$TRASH/fg" || return 1
	pg_start fg && pg_createdb fg fg || return 1
	CR_FG_DB=$(pg_conninfo fg fg)
	export CR_FG_DB
	tandemctl db migrate --fg --db "$CR_FG_DB" \
	    --sqldir "$TANDEM_SRC/sql" >"$TRASH/fg/migrate.log" &&
	pg_publish fg fg >>"$TRASH/fg/migrate.log" ||
	    return 1
	CR_FG_CONF=$TRASH/fg/tandem.conf
	export CR_FG_CONF
	cr_conf "$CR_FG_CONF" fg "$(pg_conninfo fg fg tandem_fg)"
	cr_postfix
}

courier_fg_start() {
	courier_fg_setup && courier_milter_start
}

courier_bg_setup() {
	mkdir -p "$TRASH/bg" || return 1
	pg_start bg && pg_createdb bg bg || return 1
	CR_BG_DB=$(pg_conninfo bg bg)
	export CR_BG_DB
	tandemctl db migrate --bg --db "$CR_BG_DB" \
	    --sqldir "$TANDEM_SRC/sql" >"$TRASH/bg/migrate.log" &&
	pg_subscribe bg bg fg fg >>"$TRASH/bg/migrate.log" || return 1
	CR_BG_CONF=$TRASH/bg/tandem.conf
	export CR_BG_CONF
	cr_conf "$CR_BG_CONF" bg "$(pg_conninfo bg bg tandem_bg)"
}

courier_bg_start() {
	courier_bg_setup && courier_policyd_start
}

# cr_daemon_start NAME PROG CONF LOG [ARG...]: check CONF with -n,
# start PROG -f ARG... in the background, record its PID in
# $TRASH/NAME.pid.
cr_daemon_start() {
	_cr_name=$1 _cr_prog=$2 _cr_conf=$3 _cr_log=$4
	shift 4
	if ! command -v "$_cr_prog" >/dev/null 2>&1; then
		echo "$_cr_name: $_cr_prog is not built"
		return 1
	fi
	"$_cr_prog" -c "$_cr_conf" -n >"$TRASH/$_cr_name.check" 2>&1 || {
		cat "$TRASH/$_cr_name.check"
		return 1
	}
	# The milter's socket must let Postfix's smtpd (user postfix) in.
	_cr_umask=$(umask)
	umask 0
	# The log is kept across restarts: cr_wait_started counts this
	# start's "started" line past the ones already there.
	_cr_started=$(grep -c "$_cr_prog: started" "$_cr_log" 2>/dev/null)
	"$_cr_prog" -c "$_cr_conf" -f "$@" >>"$_cr_log" 2>&1 &
	echo $! >"$TRASH/$_cr_name.pid"
	umask "$_cr_umask"
	test_atexit "cr_daemon_stop $_cr_name"
}

# cr_wait_started NAME LOG: until the daemon cr_daemon_start last
# started logs "started" (its socket or port serves from then on).
cr_wait_started() {
	_cr_n=300
	while :; do
		# No log yet (the shell opens it in the child): none.
		_cr_now=$(grep -c "$_cr_prog: started" "$2" 2>/dev/null)
		[ "${_cr_now:-0}" -le "${_cr_started:-0}" ] || break
		_cr_n=$((_cr_n - 1))
		if [ $_cr_n -eq 0 ] || ! cr_daemon_alive "$1"; then
			echo "$_cr_prog did not start:"
			tail -n 20 "$2"
			return 1
		fi
		sleep 0.1
	done
}

# cr_daemon_stop NAME [SIGNAL]: by its recorded PID; waits for the end.
cr_daemon_stop() {
	[ -f "$TRASH/$1.pid" ] || return 0
	_cr_pid=$(cat "$TRASH/$1.pid")
	rm -f "$TRASH/$1.pid"
	kill -0 "$_cr_pid" 2>/dev/null || return 0
	kill -"${2:-TERM}" "$_cr_pid"
	_cr_n=100
	while [ "$_cr_n" -gt 0 ] && kill -0 "$_cr_pid" 2>/dev/null; do
		sleep 0.1
		_cr_n=$((_cr_n - 1))
	done
	if kill -0 "$_cr_pid" 2>/dev/null; then
		echo "cr_daemon_stop: $1 ($_cr_pid) ignores SIG${2:-TERM}; killing it"
		kill -9 "$_cr_pid"
		return 1
	fi
	wait "$_cr_pid" 2>/dev/null
	return 0
}

cr_daemon_alive() {
	[ -f "$TRASH/$1.pid" ] && kill -0 "$(cat "$TRASH/$1.pid")" 2>/dev/null
}

courier_milter_start() {
	rm -f "$TRASH/fg/milter.sock"
	# As root, the milter's network side runs as $CR_MILTER_USER
	# (foreground.user) and its CA process as $CR_CA_USER
	# (foreground.ca_user).
	cr_daemon_start milter tandem-milter "$CR_FG_CONF" \
	    "$TRASH/fg/milter.log" || return 1
	cr_wait_started milter "$TRASH/fg/milter.log" &&
	test -S "$TRASH/fg/milter.sock"
}

courier_milter_stop() {
	cr_daemon_stop milter "$@"
}

courier_policyd_start() {
	cr_daemon_start policyd tandem-policyd "$CR_BG_CONF" \
	    "$TRASH/bg/policyd.log" || return 1
	cr_wait_started policyd "$TRASH/bg/policyd.log" || return 1
	pf_wait_listen "$CR_BG_ADDR" "$CR_BG_PORT" 10 || {
		tail -n 20 "$TRASH/bg/policyd.log"
		return 1
	}
}

courier_policyd_stop() {
	cr_daemon_stop policyd "$@"
}

courier_pg_restart() {
	pg_as_owner "$PG_BINDIR/pg_ctl" -D "$(pg_dir_of "$1")/data" \
	    -l "$(pg_dir_of "$1")/server.log" -w -t 30 \
	    -o "-p $(pg_port_of "$1")" start >/dev/null
}

courier_fg_sql() {
	pg_psql fg fg -c "$1"
}

courier_bg_sql() {
	pg_psql bg bg -c "$1"
}

courier_invite() {
	tandemctl invite --db "$CR_FG_DB" --conf "$CR_FG_CONF" --address "$1"
}

agent_conf() {
	_cr_ad=$TRASH/agent-$1
	mkdir -p "$_cr_ad" || return 1
	cat >"$_cr_ad/tandem.conf" <<EOF
# tandem.conf of $1@$CR_DOMAIN's agent (written by t/lib-courier.sh)
agent {
	submission = "$CR_FG_ADDR:$CR_SMTP_PORT"
	bg_url = "$CR_BG_URL"
	maildir = "$TRASH/mail/$1"
	store = "$_cr_ad/store.db"
	resolve = {"$CR_BG_HOST:$CR_BG_PORT:$CR_BG_ADDR"}
}
tls {
	anchors = "$CR_ANCHOR"
}
EOF
}

agent() {
	_cr_user=$1 _cr_sub=$2
	shift 2
	TANDEM_PASSWORD=$CR_PASSWORD tandem "$_cr_sub" \
	    -d "$TRASH/agent-$_cr_user" -c "$TRASH/agent-$_cr_user/tandem.conf" \
	    "$@"
}

wait_until() {
	_cr_left=$(($1 * 5))
	shift
	while [ "$_cr_left" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		_cr_left=$((_cr_left - 1))
	done
	"$@"
}

cr_maildir_files() {
	find "$TRASH/mail/$1/new" "$TRASH/mail/$1/cur" -type f \
	    -printf '%T@ %p\n' 2>/dev/null | sort -n | cut -d' ' -f2-
}

maildir_count() {
	cr_maildir_files "$1" | wc -l
}

cr_maildir_match() {
	cr_maildir_files "$1" | while IFS= read -r _cr_f; do
		grep -q -e "$2" "$_cr_f" && echo "$_cr_f"
	done | grep .
}

maildir_wait() {
	_cr_left=$((${3:-30} * 5))
	while [ "$_cr_left" -gt 0 ]; do
		cr_maildir_match "$1" "$2" && return 0
		sleep 0.2
		_cr_left=$((_cr_left - 1))
	done
	echo "maildir_wait: nothing matching '$2' for $1 after ${3:-30} s; it has:" >&2
	cr_maildir_files "$1" | sed 's/^/| /' >&2
	return 1
}

agent_register() {
	_cr_inv=$(cr_maildir_match "$1" "^Tandem-Kind: invitation" | tail -n 1)
	if [ -z "$_cr_inv" ]; then
		# Refused when the milter's invitation is already on its way.
		courier_invite "$1@$CR_DOMAIN" >/dev/null 2>&1 ||
		    echo "agent_register: $1 already invited; waiting for it"
		_cr_inv=$(maildir_wait "$1" "^Tandem-Kind: invitation" 30) ||
		    return 1
	fi
	[ -f "$TRASH/agent-$1/tandem.conf" ] || agent_conf "$1" || return 1
	agent "$1" register --invitation "$_cr_inv" --anchor "$CR_ANCHOR" \
	    --timeout 60 || return 1
	_cr_q="SELECT status FROM accounts WHERE address = '$1@$CR_DOMAIN'"
	pg_wait_for fg fg "$_cr_q" active 30 &&
	pg_wait_for bg bg "$_cr_q" active 30
}
