#!/bin/sh
# contrib/sandbox/demo.sh - what "./quickstart demo one" runs.
#
#	sh contrib/sandbox/demo.sh [--keep] [--dir DIR]
#	sh contrib/sandbox/demo.sh down [--dir DIR]
#
# ("./quickstart demo" runs contrib/sandbox/federation.sh, many couriers.)
#
# Starts one live courier on this machine and carries private mail
# through it: the foreground element (a real Postfix with tandem-milter,
# its own PostgreSQL cluster) on one 127.x.y.z address, the background
# element (tandem-policyd, a second PostgreSQL cluster that subscribes to
# the first) on another. alice is invited and registers; she writes to
# bob, who is not registered yet; bob is invited, registers, fetches the
# key and reads the message; a restricted message expires; ordinary mail
# passes untouched.
#
# The setup is t/lib-courier.sh, the same code the end-to-end tests use.
# Everything lives in the state folder (DIR, default
# ${TMPDIR:-/tmp}/tandem-demo); each process started is recorded there
# and "down" stops them by PID. Without --keep the demo stops everything
# at the end; with --keep it leaves the courier running.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
name=demo
. "$top/contrib/sandbox/setup.sh"

# test_atexit, as t/test-lib.sh has it for t/lib-courier.sh, records
# each stop command in DIR/stop.cmds (newest first) for "down".
test_atexit() {
	{ printf '%s\n' "$1"; cat "$TRASH/stop.cmds" 2>/dev/null || :; } \
	    >"$TRASH/stop.cmds.new" && mv "$TRASH/stop.cmds.new" "$TRASH/stop.cmds"
}

# demo_down: run the recorded stop commands with the recorded state.
demo_down() {
	if [ -f "$dir/stop.cmds" ]; then
		set +eu
		. "$dir/state.env"
		while IFS= read -r cmd; do
			[ -n "$cmd" ] && eval "$cmd"
		done <"$dir/stop.cmds"
		rm -f "$dir/stop.cmds"
		set -eu
	fi
	case $dir in
	*/tandem-demo*) rm -rf "$dir" ;;
	*) [ -d "$dir" ] && echo "demo: stopped; left the folder $dir" ;;
	esac
}

if [ $down = 1 ]; then
	if [ ! -f "$dir/stop.cmds" ]; then
		echo "demo: nothing is running from $dir"
		exit 0
	fi
	demo_down
	echo "demo: stopped everything it had started"
	exit 0
fi

if [ -f "$dir/stop.cmds" ]; then
	echo "demo: a demo already runs from $dir; stop it with \"./quickstart down\"" >&2
	exit 75
fi
for p in tandem-milter tandem-policyd tandem tandemctl tandem-ca postfix; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "demo: $p is missing (build first: ./quickstart build)" >&2
		exit 69
	}
done
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
cd "$dir"

# Save what "down" needs (cluster folders and ports) whenever it changes.
save_state() {
	set | grep -E '^(PG_|CR_)[A-Z_]*=' >"$dir/state.env" || :
}
finish() {
	rc=$?
	save_state
	if [ $keep = 0 ] || [ $rc != 0 ]; then
		[ $rc = 0 ] || echo "demo: failed; stopping what it started" >&2
		demo_down >/dev/null 2>&1
	fi
	exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

step=0
say() {
	step=$((step + 1))
	printf '\n== %d. %s\n' "$step" "$*"
}
show() { sed 's/^/   | /'; }
note() { printf '   %s\n' "$*"; }
run() {
	printf '   $ %s\n' "$*"
	"$@" >out.txt 2>&1 || { show <out.txt; echo "demo: that failed" >&2; exit 1; }
	show <out.txt
}
# as USER SUBCOMMAND ARGS...: USER's agent runs "tandem SUBCOMMAND".
as() {
	_u=$1
	shift
	printf '   %s$ tandem %s\n' "$_u" "$*"
	agent "$_u" "$@" >out.txt 2>&1 || {
		show <out.txt; echo "demo: that failed" >&2; exit 1
	}
	show <out.txt
}
# headers FILE: the headers of a mail a newcomer cares about.
headers() {
	grep -E '^(From|To|Subject|Tandem-Kind|Content-Type):' "$1" | show
}

say "A certificate hierarchy: root.example certifies the public courier a.example."
courier_pki a.example
note "root:        $CR_PKI/root/root.crt"
note "courier CA:  $CR_CA/ca.crt"
note "foreground element (mail):  tandem@a.example"
note "background element (HTTPS): $CR_BG_URL"

say "The foreground element: PostgreSQL, Postfix with tandem-milter, on $CR_FG_ADDR."
courier_fg_start
save_state
note "Postfix smtpd $CR_FG_ADDR:$CR_SMTP_PORT passes every message to the milter;"
note "a second smtpd on $CR_FG_ADDR:$CR_REINJECT_PORT (no milter) takes what the"
note "milter sends itself. Mail for a.example lands in $TRASH/mail/USER/."

say "The background element: tandem-policyd on $CR_BG_ADDR, with its own PostgreSQL."
courier_bg_start
save_state
note "Its database subscribes to the foreground's: accounts flow one way only."
run tandemctl db status --db "$CR_BG_DB"

say "The operator invites alice; the milter's sender mails her an invitation."
run courier_invite alice@a.example
inv=$(maildir_wait alice "^Tandem-Kind: invitation" 30)
headers "$inv"

say "alice registers from that invitation: key, registration mail, exchange-keys, alive."
agent_conf alice
as alice register --invitation "$inv" --anchor "$CR_ANCHOR" --timeout 60
pg_wait_for bg bg "SELECT status FROM accounts WHERE address = 'alice@a.example'" active 30
note "On the FG and, by replication, on the BG, alice's account is active:"
courier_bg_sql "SELECT address, status FROM accounts" | show

say "alice writes to bob, who has no account yet."
printf 'From: alice@a.example\r\nTo: bob@a.example\r\nSubject: the quarterly numbers\r\nMessage-ID: <q3-numbers@a.example>\r\n\r\nBob, the figures are in. Lunch on Friday?\r\n' >letter.eml
show <letter.eml
as alice send --to bob@a.example --in letter.eml
note "Her agent sealed it, POSTed the ARM (the key) to the BG over HTTPS, and only"
note "then submitted the sealed content by SMTP. The FG found no account for bob:"
note "it held the sealed content and invited him. The BG held the ARM."
pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE released_at IS NULL" 1 30
courier_fg_sql "SELECT recipient, octet_length(body) || ' bytes sealed' FROM held_messages" | show
courier_bg_sql "SELECT recipient, 'ARM held' FROM held_arms" | show

say "bob finds the invitation in his mailbox and registers."
binv=$(maildir_wait bob "^Tandem-Kind: invitation" 30)
headers "$binv"
agent_conf bob
as bob register --invitation "$binv" --anchor "$CR_ANCHOR" --timeout 60
note "Once bob is active the FG releases the held content to him by mail, and the"
note "BG, told by replication, moves the held ARM to bob's mailbox at the BG."
maildir_wait bob "^Tandem-Kind: content" 30 >/dev/null

say "bob fetches the key from the BG and reads the mail from his Maildir."
as bob fetch
mkdir -p "$dir/bob-read"
as bob read --id q3-numbers@a.example --out-dir "$dir/bob-read"
opened=$dir/bob-read/q3-numbers@a.example.eml
if cmp -s letter.eml "$opened"; then
	note "bob reads exactly what alice wrote:"
	show <"$opened"
else
	echo "demo: what bob read differs from what alice wrote" >&2
	exit 1
fi

say "Neither element could read it: the FG never saw the key, the BG never the content."
pg_dump -d "$CR_FG_DB" >fg.dump
pg_dump -d "$CR_BG_DB" >bg.dump
note "grep 'quarterly' in the FG database: $(grep -c quarterly fg.dump || :) lines"
note "grep 'quarterly' in the BG database: $(grep -c quarterly bg.dump || :) lines"

say "alice sends a restricted message that expires after 20 seconds."
printf 'From: alice@a.example\r\nTo: bob@a.example\r\nSubject: gone soon\r\nMessage-ID: <gone-soon@a.example>\r\n\r\nThis burns in 20 seconds.\r\n' >short.eml
as alice send --to bob@a.example --expires 20 --in short.eml
maildir_wait bob "gone-soon@a.example" 30 >/dev/null
note "bob fetches its ARM in time, but does not read it yet."
as bob fetch
note "(waiting 25 seconds)"
sleep 25
mkdir -p "$dir/bob-late"
printf '   bob$ tandem read --id gone-soon@a.example --out-dir %s\n' "$dir/bob-late"
if agent bob read --id gone-soon@a.example --out-dir "$dir/bob-late" >out.txt 2>&1; then
	show <out.txt
	echo "demo: the expired message opened" >&2
	exit 1
fi
show <out.txt
note "Refused (exit status 14), and the content key is gone from bob's store."

say "Ordinary mail passes the milter untouched."
printf 'From: carol@a.example\r\nTo: dave@a.example\r\nSubject: plain mail\r\nMessage-ID: <plain-1@a.example>\r\n\r\nNo Tandem here.\r\n.\r\n' >plain.eml
run swaks --server "$CR_FG_ADDR:$CR_SMTP_PORT" --from carol@a.example \
    --to dave@a.example --data @plain.eml --hide-all
f=$(maildir_wait dave "^Message-ID: <plain-1@a.example>" 30)
headers "$f"
sed '1,/^$/d' "$f" | show

save_state
down_cmd="./quickstart down"
[ "$dir" = "${TMPDIR:-/tmp}/tandem-demo" ] ||
    down_cmd="sh contrib/sandbox/demo.sh down --dir $dir"
if [ $keep = 1 ]; then
	cat <<EOF

== The courier keeps running (state in $dir)
   FG: Postfix $CR_FG_ADDR:$CR_SMTP_PORT, milter log $dir/fg/milter.log
   BG: $CR_BG_URL at $CR_BG_ADDR:$CR_BG_PORT, log $dir/bg/policyd.log
   Databases:  psql "$CR_FG_DB"   psql "$CR_BG_DB"
   Agents:     export TANDEM_PASSWORD=$CR_PASSWORD
               $build/agent/tandem inbox -d $dir/agent-bob -c $dir/agent-bob/tandem.conf
               (alice, bob: the same with agent-alice; send, fetch, read)
   Plain mail: swaks --server $CR_FG_ADDR:$CR_SMTP_PORT --from carol@a.example --to dave@a.example
   Maildirs:   $dir/mail/USER/new/ for USER in $CR_USERS
   Stop it:    $down_cmd
EOF
fi
cat <<'MSG'

== What to try next
   * ./quickstart demo one --keep leave this courier up and send your own mail
   * ./quickstart demo            six couriers: introductions, deferral, gateway
   * ./quickstart test            the whole suite, with real PostgreSQL and Postfix
   * man agent/tandem.1           the agent's commands and restrictions
   * doc/flows.md                 what crosses each hop, byte for byte
   * doc/protocol.md              every message kind, with examples
MSG
