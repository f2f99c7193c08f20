# t/lib-pg.sh - throwaway PostgreSQL clusters for scenarios (sourced by
# t/test-lib.sh; needs $TRASH and test_atexit from there)
#
#	pg_start NAME		make and start cluster NAME in $TRASH/pg-NAME,
#				listening on 127.0.0.1 at a free random port
#				and on a unix socket inside its folder;
#				wal_level=logical, trust authentication.
#				Sets PG_<NAME>_PORT and PG_<NAME>_DIR (NAME
#				upper-cased) and registers pg_stop NAME with
#				test_atexit.
#	pg_stop NAME		pg_ctl stop -m fast
#	pg_conninfo NAME DB [USER]
#				prints a libpq conninfo (TCP, user postgres
#				unless USER is given)
#	pg_createdb NAME DB	creates database DB
#	pg_psql NAME DB [psql args...]
#				psql -X -At -v ON_ERROR_STOP=1 as postgres
#	pg_psql_as USER NAME DB [psql args...]
#				the same, connected as USER
#	pg_wait_for NAME DB QUERY WANT [SECONDS]
#				runs QUERY every 0.1 s until it prints WANT,
#				at most SECONDS (default 20); fails otherwise
#	pg_publish NAME DB	tandemctl db publish on NAME/DB, with the
#				background's replication role tandem_repl
#				and its password (file PG_<NAME>_DIR/repl.pw)
#	pg_subscribe NAME DB FGNAME FGDB [ARGS...]
#				tandemctl db subscribe NAME/DB to FGNAME/FGDB
#				as tandem_repl, the conninfo with the
#				password in a file (ARGS: --name)
#
# Every cluster's pg_hba.conf refuses physical replication to
# tandem_repl and asks it for its password (scram-sha-256); everybody
# else is trusted.
#
# Call pg_start at the top level or inside test_expect_success_here: in a
# subshell (test_expect_success) its variables and its test_atexit entry
# would be lost and the cluster left running.
#
# Run as root, the cluster belongs to the postgres user (initdb refuses
# root): the commands run through runuser. Debian's own cluster is never
# touched. PG_BINDIR overrides the server binaries' folder; PG_EXTRA_CONF,
# lines added to postgresql.conf (small clusters for the federation).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_var() {
	printf 'PG_%s_%s' "$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')" "$2"
}

pg_port_of() {
	eval "printf '%s' \"\${$(pg_var "$1" PORT)}\""
}

pg_dir_of() {
	eval "printf '%s' \"\${$(pg_var "$1" DIR)}\""
}

pg_random_port() {
	# 20000..59999; the start below retries when it is taken.
	echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

# pg_template: sets _pg_tpl to a cluster made by initdb once per build
# (TANDEM_BUILD/t/pg-template-VERSION) and copied by each pg_start: a
# copy takes a tenth of an initdb, and a scenario of the federation
# starts a dozen clusters. Tests in parallel make it once, under flock.
# The copies share a system identifier, which logical replication does
# not compare.
pg_template() {
	_pg_tpl=$TANDEM_BUILD/t/pg-template-$(basename "$(dirname "$PG_BINDIR")")
	[ -f "$_pg_tpl/done" ] && return 0
	mkdir -p "$TANDEM_BUILD/t" || return 1
	(
		flock 9 || exit 1
		[ -f "$_pg_tpl/done" ] && exit 0
		rm -rf "$_pg_tpl" && mkdir "$_pg_tpl" || exit 1
		if [ "$(id -u)" = 0 ]; then
			chown postgres:postgres "$_pg_tpl" || exit 1
		fi
		pg_as_owner "$PG_BINDIR/initdb" -D "$_pg_tpl/data" -A trust \
			-U postgres -E UTF8 --locale=C.UTF-8 -N \
			>"$_pg_tpl.log" 2>&1 || {
			cat "$_pg_tpl.log"
			exit 1
		}
		touch "$_pg_tpl/done"
	) 9>"$_pg_tpl.lock"
}

pg_start() {
	_pg_name=$1
	_pg_dir=$TRASH/pg-$_pg_name
	if ! [ -x "$PG_BINDIR/initdb" ]; then
		echo "pg_start: no initdb in $PG_BINDIR (set PG_BINDIR)"
		return 1
	fi
	mkdir -p "$_pg_dir" || return 1
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$_pg_dir" || return 1
	fi
	pg_template || return 1
	cp -a "$_pg_tpl/data" "$_pg_dir/data" || return 1
	{
		printf 'local replication tandem_repl reject\n'
		printf 'host replication tandem_repl 0.0.0.0/0 reject\n'
		printf 'host replication tandem_repl ::/0 reject\n'
		printf 'local all tandem_repl scram-sha-256\n'
		printf 'host all tandem_repl 0.0.0.0/0 scram-sha-256\n'
		printf 'host all tandem_repl ::/0 scram-sha-256\n'
		cat "$_pg_dir/data/pg_hba.conf"
	} >"$_pg_dir/pg_hba.new" &&
	pg_as_owner cp "$_pg_dir/pg_hba.new" "$_pg_dir/data/pg_hba.conf" ||
		return 1
	cat >>"$_pg_dir/data/postgresql.conf" <<-EOF
	listen_addresses = '127.0.0.1'
	unix_socket_directories = '$_pg_dir'
	wal_level = logical
	max_replication_slots = 10
	max_wal_senders = 10
	# Scenarios put several subscriptions on one cluster (t/lib-bgfed.sh:
	# three); with 4 workers their table syncs queued for free slots
	# ("out of logical replication worker slots") past 20 s under load.
	max_logical_replication_workers = 12
	max_worker_processes = 20
	max_slot_wal_keep_size = 256MB
	fsync = off
	${PG_EXTRA_CONF:-}
	EOF
	for _pg_try in 1 2 3 4 5; do
		_pg_port=$(pg_random_port)
		if pg_as_owner "$PG_BINDIR/pg_ctl" -D "$_pg_dir/data" \
		    -l "$_pg_dir/server.log" -w -t 30 -o "-p $_pg_port" \
		    start >"$_pg_dir/pg_ctl.log" 2>&1; then
			eval "$(pg_var "$_pg_name" PORT)=$_pg_port"
			eval "$(pg_var "$_pg_name" DIR)=\$_pg_dir"
			test_atexit "pg_stop $_pg_name"
			return 0
		fi
		grep -q 'could not bind\|could not create' \
		    "$_pg_dir/server.log" 2>/dev/null || break
	done
	echo "pg_start: cluster $_pg_name did not start:"
	cat "$_pg_dir/pg_ctl.log" "$_pg_dir/server.log" 2>/dev/null | tail -n 20
	return 1
}

pg_stop() {
	_pg_d=$(pg_dir_of "$1")
	[ -n "$_pg_d" ] || return 0
	pg_as_owner "$PG_BINDIR/pg_ctl" -D "$_pg_d/data" -m fast -w stop \
		>/dev/null 2>&1
}

pg_conninfo() {
	printf 'host=127.0.0.1 port=%s dbname=%s user=%s\n' \
		"$(pg_port_of "$1")" "$2" "${3:-postgres}"
}

pg_psql_as() {
	_pg_user=$1
	_pg_n=$2
	_pg_db=$3
	shift 3
	psql -X -q -At -v ON_ERROR_STOP=1 \
		-d "$(pg_conninfo "$_pg_n" "$_pg_db" "$_pg_user")" "$@"
}

pg_psql() {
	_pg_n=$1
	_pg_db=$2
	shift 2
	pg_psql_as postgres "$_pg_n" "$_pg_db" "$@"
}

pg_createdb() {
	pg_psql "$1" postgres -c "CREATE DATABASE \"$2\""
}

pg_wait_for() {
	_pg_left=$(( ${5:-20} * 10 ))
	while [ "$_pg_left" -gt 0 ]; do
		_pg_got=$(pg_psql "$1" "$2" -c "$3" 2>/dev/null)
		[ "$_pg_got" = "$4" ] && return 0
		sleep 0.1
		_pg_left=$((_pg_left - 1))
	done
	echo "pg_wait_for: '$3' on $1/$2 gave '$_pg_got', want '$4'"
	return 1
}

pg_publish() {
	_pg_pw=$(pg_dir_of "$1")/repl.pw
	[ -f "$_pg_pw" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom |
		tr -d ' \n' >"$_pg_pw") || return 1
	tandemctl db publish --db "$(pg_conninfo "$1" "$2")" \
		--repl-password-file "$_pg_pw"
}

pg_subscribe() {
	_pg_pub=$(pg_dir_of "$1")/$2-$4.publisher
	(umask 077 && printf '%s password=%s\n' \
		"$(pg_conninfo "$3" "$4" tandem_repl)" \
		"$(cat "$(pg_dir_of "$3")/repl.pw")" >"$_pg_pub") || return 1
	_pg_bg=$(pg_conninfo "$1" "$2")
	shift 4
	tandemctl db subscribe --db "$_pg_bg" --publisher-file "$_pg_pub" "$@"
}
