# t/lib-federation.sh - a small federation of live couriers on one machine
#
# Sourced by t/test-lib.sh after t/lib-courier.sh, whose functions it
# runs once per courier: each courier has its own folder $FED_TOP/X
# (its $TRASH while its functions run), its own FG and BG addresses,
# its own two PostgreSQL clusters (small: 16MB shared buffers, 20
# connections) and its own Postfix instance. The tree (figures 7-9):
#
#	root	root.example, the root courier (public)
#	isp	isp.example, public, under root
#	corp	corp.example, private, under isp
#	home	home.example, private, under root
#	gw	gw.example, gateway, under root
#	sub	sub.example, private, under gw (superior_gateway)
#
# Two more are made only when a test names them to fed_pki (they are
# not in $FED_ALL): a chain of two deferring couriers inside the
# gateway's segment (a private courier may not sign couriers, so the
# chain is public-under-gateway, then private):
#
#	hub	hub.example, public, under gw (superior_gateway: defers)
#	dept	dept.example, private, under hub
#
# Each courier X serves X.example; its FG's service mailbox is
# tandem@X.example, its BG https://bg.X.example:PORT/. Every Postfix
# routes each other courier's domain to that courier's smtpd (with the
# milter) by transport_maps; every element's tandem.conf resolves every
# BG host name (agent.resolve).
#
#	fed_pki [X...]	the PKI for the couriers named (default: the six
#			of $FED_ALL),
#			addresses and ports; call it once, at the top level
#	fed_start X...	for each: clusters, migrations, replication,
#			Postfix, tandem-milter, tandem-policyd; then the
#			introductions of each one's superior and
#			subordinates (among those started) on both elements.
#			At the top level or in test_expect_success_here.
#	fed_in X CMD...	CMD in courier X's context: the t/lib-courier.sh
#			functions (courier_fg_sql, agent_register, agent,
#			maildir_wait, courier_policyd_stop, ...) then act on
#			X; test_atexit entries made there stay X's
#	fed_register X USER	USER@X.example invited and registered at X
#	fed_agent X USER SUBCOMMAND ARGS...	that agent's tandem command
#	fed_fg_sql X SQL / fed_bg_sql X SQL	psql -At on X's databases
#	fed_wait_fg X SQL WANT [SECONDS] / fed_wait_bg ...
#			until SQL prints WANT (default 60 s)
#	fed_var X NAME	one of X's CR_* settings (FG_ADDR, BG_URL, ...)
#	fed_log X fg|bg	the path of X's milter or policyd log
#	fed_maildir X USER	the path of USER@X.example's Maildir
#	fed_content_key X USER MSGID	the content key USER's agent holds
#	fed_split_trust X SECRET KEY	the check of t/0650 on X's elements
#			(see there); fails naming the place
#
# With FED_CRL_MISSING set (refuse or accept) when fed_start runs, each
# element of X checks revocation lists: tls.crl_file is $FED_TOP/X/
# crls.pem, which the test writes before (and replaces and reloads as
# it likes), tls.crl_missing is FED_CRL_MISSING.

FED_ALL="root isp corp home gw sub"
FED_TOP=$TRASH
FED_VARS="TRASH CR_DOMAIN CR_PKI CR_FG_ADDR CR_BG_ADDR CR_SMTP_PORT \
CR_REINJECT_PORT CR_BG_PORT CR_BG_HOST CR_BG_URL CR_SERVICE CR_CA \
CR_ANCHOR CR_CHAIN CR_FG_DB CR_BG_DB CR_FG_CONF CR_BG_CONF PG_FG_PORT \
PG_FG_DIR PG_BG_PORT PG_BG_DIR"

fed_role() {
	case $1 in
	root) echo root ;; isp|hub) echo public ;; gw) echo gateway ;;
	*) echo private ;;
	esac
}

fed_superior() {
	case $1 in
	root) ;; corp) echo isp ;; sub|hub) echo gw ;; dept) echo hub ;;
	*) echo root ;;
	esac
}

# Among the couriers of the PKI (fed_pki).
fed_subordinates() {
	for _fd_y in ${FED_COURIERS:-$FED_ALL}; do
		[ "$(fed_superior "$_fd_y")" = "$1" ] && echo "$_fd_y"
	done
}

fed_var() {
	eval "printf '%s\n' \"\$FED_${1}_$2\""
}

# fed_use X: load X's settings into TRASH, CR_* and PG_FG_*/PG_BG_*.
fed_use() {
	for _fd_v in $FED_VARS; do
		eval "$_fd_v=\$FED_${1}_$_fd_v"
	done
	export CR_DOMAIN CR_PKI CR_FG_ADDR CR_BG_ADDR CR_SMTP_PORT \
	    CR_REINJECT_PORT CR_BG_PORT CR_BG_HOST CR_BG_URL CR_SERVICE \
	    CR_CA CR_ANCHOR CR_CHAIN CR_FG_DB CR_BG_DB CR_FG_CONF CR_BG_CONF
}

fed_save() {
	for _fd_v in $FED_VARS; do
		eval "FED_${1}_$_fd_v=\$$_fd_v"
	done
}

fed_in() {
	_fd_x=$1
	shift
	_fd_old=$test_atexit_cmds
	fed_use "$_fd_x"
	"$@"
	_fd_rc=$?
	fed_save "$_fd_x"
	# The stop commands registered meanwhile run in X's context too.
	_fd_new=${test_atexit_cmds%"$_fd_old"}
	if [ -n "$_fd_new" ]; then
		test_atexit_cmds=$(printf '%s\n' "$_fd_new" | while IFS= read -r _fd_l; do
			[ -n "$_fd_l" ] && printf 'fed_use %s; %s\n' "$_fd_x" "$_fd_l"
		done)
		test_atexit_cmds="$test_atexit_cmds
$_fd_old"
	fi
	TRASH=$FED_TOP
	return $_fd_rc
}

fed_pki() {
	FED_COURIERS=${*:-$FED_ALL}
	mkdir -p "$FED_TOP/pki" || return 1
	for _fd_x in $FED_COURIERS; do
		mkdir -p "$FED_TOP/$_fd_x" || return 1
		_fd_fa=$(cr_random_addr) && _fd_ba=$(cr_random_addr "$_fd_fa") &&
		_fd_sp=$(pf_random_port) && _fd_rp=$(pf_random_port) &&
		_fd_bp=$(pf_random_port) || return 1
		eval "FED_${_fd_x}_TRASH=\$FED_TOP/$_fd_x
		FED_${_fd_x}_CR_DOMAIN=$_fd_x.example
		FED_${_fd_x}_CR_PKI=\$FED_TOP/pki
		FED_${_fd_x}_CR_FG_ADDR=$_fd_fa
		FED_${_fd_x}_CR_BG_ADDR=$_fd_ba
		FED_${_fd_x}_CR_SMTP_PORT=$_fd_sp
		FED_${_fd_x}_CR_REINJECT_PORT=$_fd_rp
		FED_${_fd_x}_CR_BG_PORT=$_fd_bp
		FED_${_fd_x}_CR_BG_HOST=bg.$_fd_x.example
		FED_${_fd_x}_CR_BG_URL=https://bg.$_fd_x.example:$_fd_bp/
		FED_${_fd_x}_CR_SERVICE=tandem@$_fd_x.example
		FED_${_fd_x}_CR_CA=\$FED_TOP/pki/$_fd_x
		FED_${_fd_x}_CR_CHAIN=\$FED_TOP/pki/$_fd_x/issuing/chain.pem
		FED_${_fd_x}_CR_ANCHOR=\$FED_TOP/pki/root/root.crt"
	done
	(
		cd "$FED_TOP/pki" &&
		tandem-ca root -d root --name root.example &&
		for _fd_x in $FED_COURIERS; do
			[ "$_fd_x" = root ] && continue
			_fd_r=$(fed_role $_fd_x)
			tandem-ca courier -d $_fd_x --name $_fd_x.example \
			    --role $_fd_r --superior "$(fed_superior $_fd_x)" \
			    $( [ $_fd_r = private ] &&
			    echo "--domain $_fd_x.example") || exit 1
		done &&
		for _fd_x in $FED_COURIERS; do
			tandem-ca element -d $_fd_x --fg tandem@$_fd_x.example &&
			tandem-ca element -d $_fd_x --bg "$(fed_var $_fd_x CR_BG_URL)" &&
			tandem-ca issuing -d $_fd_x --domain $_fd_x.example ||
			    exit 1
		done &&
		tandemctl keybox new keybox.key
	) >"$FED_TOP/pki/pki.log" 2>&1 || {
		cat "$FED_TOP/pki/pki.log"
		return 1
	}
}

# fed_conf X ELEMENT CONNINFO: X's tandem.conf for one element.
fed_conf() {
	_fd_res=
	for _fd_y in $FED_COURIERS; do
		_fd_res="$_fd_res${_fd_res:+, }\"bg.$_fd_y.example:$(fed_var $_fd_y CR_BG_PORT):$(fed_var $_fd_y CR_BG_ADDR)\""
	done
	_fd_sup=$(fed_superior $1)
	_fd_crl=
	[ -z "${FED_CRL_MISSING:-}" ] || _fd_crl="
	crl_file = \"$FED_TOP/$1/crls.pem\"
	crl_missing = $FED_CRL_MISSING"
	cat <<EOF
# tandem.conf of the $2 element of $1.example (written by t/lib-federation.sh)
courier {
	name = "$1.example"
	role = $(fed_role $1)
	domains = {"$1.example"}
	superior = "${_fd_sup:+$_fd_sup.example}"
	superior_gateway = $( [ "$_fd_sup" = gw ] && echo true || echo false)
}
foreground {
	milter_socket = "unix:$TRASH/fg/milter.sock"
	reinject = "$CR_FG_ADDR:$CR_REINJECT_PORT"
	service_mailbox = "$CR_SERVICE"
	ca_dir = "$CR_CA/issuing"
	user = "$CR_MILTER_USER"
	ca_user = "$CR_CA_USER"
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
	keybox_key = "$CR_PKI/keybox.key"$_fd_crl
}
hygiene {
	hold_limit = ${CR_HOLD_LIMIT:-30d}
	purge_interval = ${CR_PURGE_INTERVAL:-1h}
}
agent {
	resolve = {$_fd_res}
}
EOF
}

# fed_transport X: the other couriers' domains go to their smtpd.
fed_transport() {
	_fd_t=
	for _fd_y in $FED_COURIERS; do
		[ "$_fd_y" = "$1" ] && continue
		_fd_t="$_fd_t${_fd_t:+, }$_fd_y.example=smtp:[$(fed_var $_fd_y CR_FG_ADDR)]:$(fed_var $_fd_y CR_SMTP_PORT)"
	done
	postconf -c "$(postfix_dir fg)" -e "transport_maps = inline:{$_fd_t}" &&
	pf_pty "postfix -c '$(postfix_dir fg)' reload"
}

# fed_one X: one courier, in its context.
fed_one() {
	courier_fg_setup || return 1
	fed_conf "$1" fg "$(pg_conninfo fg fg tandem_fg)" >"$CR_FG_CONF" &&
	fed_transport "$1" && courier_milter_start &&
	courier_bg_setup || return 1
	fed_conf "$1" bg "$(pg_conninfo bg bg tandem_bg)" >"$CR_BG_CONF" &&
	courier_policyd_start
}

# fed_intro X Y: X's elements learn Y's (same kind).
fed_intro() {
	for _fd_k in fg bg; do
		tandemctl intro add --db "$(fed_var $1 CR_$(echo $_fd_k |
		    tr a-z A-Z)_DB)" \
		    --cert "$FED_TOP/pki/$2/elements/$_fd_k.crt" \
		    --chain "$FED_TOP/pki/$2/chain.pem" \
		    --anchors "$FED_TOP/pki/root/root.crt" || return 1
	done
}

fed_start() {
	_fd_old_extra=${PG_EXTRA_CONF:-}
	PG_EXTRA_CONF="shared_buffers = 16MB
max_connections = 20"
	for _fd_x; do
		fed_in "$_fd_x" fed_one "$_fd_x" >>"$FED_TOP/$_fd_x.start" 2>&1 || {
			PG_EXTRA_CONF=$_fd_old_extra
			echo "fed_start: courier $_fd_x did not start:"
			tail -n 30 "$FED_TOP/$_fd_x.start"
			return 1
		}
		eval "FED_${_fd_x}_UP=1"
	done
	PG_EXTRA_CONF=$_fd_old_extra
	# Superior and subordinates, among the couriers that run.
	for _fd_x; do
		for _fd_y in $(fed_superior $_fd_x) $(fed_subordinates $_fd_x); do
			[ -n "$(fed_var $_fd_y UP)" ] || continue
			fed_intro $_fd_x $_fd_y >>"$FED_TOP/intro.log" 2>&1 &&
			fed_intro $_fd_y $_fd_x >>"$FED_TOP/intro.log" 2>&1 || {
				cat "$FED_TOP/intro.log"
				return 1
			}
		done
	done
}

fed_register() {
	fed_in "$1" agent_register "$2"
}

fed_agent() {
	_fd_x=$1
	shift
	fed_in "$_fd_x" agent "$@"
}

fed_fg_sql() {
	fed_in "$1" courier_fg_sql "$2"
}

fed_bg_sql() {
	fed_in "$1" courier_bg_sql "$2"
}

fed_wait_fg() {
	fed_in "$1" pg_wait_for fg fg "$2" "$3" "${4:-60}"
}

fed_wait_bg() {
	fed_in "$1" pg_wait_for bg bg "$2" "$3" "${4:-60}"
}

fed_log() {
	case $2 in
	fg) echo "$FED_TOP/$1/fg/milter.log" ;;
	*) echo "$FED_TOP/$1/bg/policyd.log" ;;
	esac
}

fed_maildir() {
	echo "$FED_TOP/$1/mail/$2"
}

# fed_content_key X USER MSGID: the content key of the ARM that USER's
# agent fetched (hex), from its store ("tandem arm": it is sealed there).
fed_content_key() {
	fed_agent "$1" "$2" arm "$3" | tr -d '\r' | sed -n 's/^Content-Key: //p'
}

# fed_split_trust X SECRET KEY: t/0650's check on X's elements. The FG's
# database, Postfix queue and milter log hold neither the content key
# KEY nor the plain text SECRET; the BG's database and policyd log not
# SECRET (the sealed content never reaches it: it holds no
# Tandem-Kind: content mail either).
fed_split_trust() {
	_fd_d=$FED_TOP/split-$1
	mkdir -p "$_fd_d" &&
	pg_dump -d "$(fed_var $1 CR_FG_DB)" >"$_fd_d/fg.dump" &&
	pg_dump -d "$(fed_var $1 CR_BG_DB)" >"$_fd_d/bg.dump" || return 1
	for _fd_f in "$_fd_d/fg.dump" "$(fed_log $1 fg)" \
	    $(find "$FED_TOP/$1/postfix-fg/spool" -type f); do
		if grep -qiF -e "$2" -e "$3" "$_fd_f"; then
			echo "fed_split_trust: $1's FG keeps the key or the text in $_fd_f"
			return 1
		fi
	done
	for _fd_f in "$_fd_d/bg.dump" "$(fed_log $1 bg)"; do
		if grep -qF -e "$2" -e "Tandem-Kind: content" "$_fd_f"; then
			echo "fed_split_trust: $1's BG keeps the text in $_fd_f"
			return 1
		fi
	done
}
