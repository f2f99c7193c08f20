#!/bin/sh
# contrib/sandbox/federation.sh - the federation demo.
#
#	sh contrib/sandbox/federation.sh [--keep] [--dir DIR]
#	sh contrib/sandbox/federation.sh down [--dir DIR]
#
# What "./quickstart demo" runs: six live couriers on this machine, set
# up by t/lib-federation.sh (the code of the t/08xx scenarios): the root
# courier root.example (public); public isp.example under it, with its
# private subordinate corp.example; private home.example under the root;
# the gateway gw.example under the root, with its private subordinate
# sub.example. Each has its own Postfix and tandem-milter, its own
# tandem-policyd, two PostgreSQL clusters and its own 127.x.y.z
# addresses. Figure 7: alice@isp writes to bob@corp, introduced
# couriers, each half straight to corp by its own path. Figure 8: bob's
# first message to carol@isp is deferred to corp's superior, which
# introduces itself back; the second goes by the learned route. Figure
# 9: isp holds alice's message for dave@home and invites him; dave's
# agent refuses, and the held halves follow him to home. The gateway:
# erin@sub writes to carol@isp; the message leaves the segment as gw's
# own, and isp never learns of sub; carol's reply reaches erin through
# gw, and sub never learns of isp. Every step names the courier each
# half crossed, from the daemons' own log lines.
#
# State in DIR (default ${TMPDIR:-/tmp}/tandem-demo-federation); without
# --keep everything stops at the end, with it "down" stops it later.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
# The t/ helpers test variables that may be unset.
set +u
name=federation
. "$top/contrib/sandbox/setup.sh"
. "$top/t/lib-federation.sh"

# As in t/test-lib.sh: stop commands newest first, in test_atexit_cmds;
# written to DIR/stop.cmds with the state for "down".
test_atexit_cmds=
test_atexit() {
	test_atexit_cmds="$1
$test_atexit_cmds"
}

save_state() {
	set | grep -E '^(PG_[A-Z0-9_]*_(PORT|DIR)|CR_[A-Z_]*|FED_[A-Za-z0-9_]*)=' \
	    >"$dir/state.env" || :
	printf '%s\n' "$test_atexit_cmds" >"$dir/stop.cmds"
}

fed_down() {
	[ -f "$dir/stop.cmds" ] || return 0
	set +eu
	. "$dir/state.env"
	while IFS= read -r cmd; do
		[ -n "$cmd" ] && eval "$cmd" >/dev/null 2>&1
	done <"$dir/stop.cmds"
	rm -f "$dir/stop.cmds"
	set -eu
	case $dir in */tandem-demo-federation*) rm -rf "$dir" ;; esac
}

if [ $down = 1 ]; then
	fed_down
	echo "federation: stopped everything it had started"
	exit 0
fi
if [ -f "$dir/stop.cmds" ]; then
	echo "federation: already running from $dir; stop it with \"sh $0 down\"" >&2
	exit 75
fi
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
cd "$dir"
FED_TOP=$dir

finish() {
	rc=$?
	save_state
	if [ $keep = 0 ] || [ $rc != 0 ]; then
		[ $rc = 0 ] || echo "federation: failed; stopping what it started" >&2
		fed_down
	else
		echo
		echo "The couriers keep running; stop them with: sh $0 down"
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
fail() { echo "federation: $*" >&2; exit 1; }

# crossed X ELEMENT MSGID: X's log lines about MSGID.
crossed() {
	grep -h -e "$3" "$(fed_log $1 $2)" | sed 's/^tandem-[a-z]*: //' |
	    cut -c1-150 | sed "s/^/$1 $2: /" | show
}

# letter FROM TO ID SUBJECT: a message file ID.eml.
letter() {
	printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\n%s\r\n' \
	    "$1" "$2" "$4" "$3" "$4" >"$3.eml"
}

# opens X USER ID: USER at X fetches the ARM and reads message ID.
opens() {
	fed_wait_bg $1 "SELECT count(*) FROM agent_mailbox WHERE message_id = '$3'" 1 60 >/dev/null ||
	    fail "the ARM of $3 did not reach $1"
	fed_in $1 maildir_wait $2 "^Message-ID: <$3>" 60 >/dev/null ||
	    fail "the content of $3 did not reach $2@$1"
	fed_agent $1 $2 fetch >/dev/null 2>&1
	printf '   %s@%s$ tandem read --id %s\n' $2 $1 $3
	fed_agent $1 $2 read --id $3 2>/dev/null | tr -d '\r' | show
}

say "A certificate tree: root.example over public isp.example, private home.example and gateway gw.example; private corp.example under isp, private sub.example under gw."
fed_pki
note "each courier's CA certifies an FG element (tandem@X.example) and a BG element (https://bg.X.example:PORT/)"
note "the private couriers' CAs (corp, home, sub) are name-constrained to their own domain"
(cd "$FED_TOP/pki" && rm -r isp/issuing &&
    tandem-ca issuing -d isp --domain isp.example --domain corp.example) \
    >/dev/null || fail "cannot make isp's issuing CA"
note "isp's issuing CA also covers corp.example: users of corp may move to isp (figure 5)"

say "Six couriers start: 12 PostgreSQL clusters, 6 Postfix instances, 6 milters, 6 policy daemons."
fed_start $FED_ALL || fail "a courier did not start (see $dir/*.start)"
save_state
for x in $FED_ALL; do
	note "$(fed_role $x) $x.example: FG $(fed_var $x CR_FG_ADDR):$(fed_var $x CR_SMTP_PORT)   BG $(fed_var $x CR_BG_URL) on $(fed_var $x CR_BG_ADDR)"
done
note "seeded introductions (tandemctl intro add), each courier's superior and subordinates:"
for x in $FED_ALL; do
	fed_bg_sql $x "SELECT '$x knows ' || string_agg(courier, ', ' ORDER BY courier) FROM introductions" | show
done

say "alice and carol register at isp, bob at corp, dave at home, erin at sub."
for u in isp:alice isp:carol corp:bob home:dave sub:erin; do
	fed_register ${u%:*} ${u#*:} >/dev/null 2>&1 || fail "${u#*:} did not register"
	note "${u#*:}@${u%:*}.example registered"
done

say "Figure 7, introduced couriers: alice@isp writes to bob@corp."
letter alice@isp.example bob@corp.example f7@isp.example "Figure seven"
fed_agent isp alice send --to bob@corp.example --in f7@isp.example.eml >/dev/null
opens corp bob f7@isp.example
note "the content went FG to FG by mail, the ARM BG to BG by HTTPS:"
crossed isp bg f7@isp.example
crossed corp fg f7@isp.example
crossed corp bg f7@isp.example

say "Figure 8, deferral: bob@corp writes to carol@isp; corp knows no route to her."
letter bob@corp.example carol@isp.example f8a@corp.example "First contact"
fed_agent corp bob send --to carol@isp.example --in f8a@corp.example.eml >/dev/null
opens isp carol f8a@corp.example
crossed corp fg f8a@corp.example
fed_wait_fg corp "SELECT count(*) FROM address_routes" 1 60 >/dev/null ||
    fail "isp did not introduce itself back"
note "isp delivered it and introduced itself back; corp's FG learned:"
fed_fg_sql corp "SELECT address || ' -> ' || courier || ' (' || reason || ')' FROM address_routes" | show
letter bob@corp.example carol@isp.example f8b@corp.example "Second message"
fed_agent corp bob send --to carol@isp.example --in f8b@corp.example.eml >/dev/null
opens isp carol f8b@corp.example
crossed corp fg f8b@corp.example

say "Figure 9, invitation reject: alice@isp writes to dave@home; isp has no route to home."
letter alice@isp.example dave@home.example f9@isp.example "Figure nine"
fed_agent isp alice send --to dave@home.example --in f9@isp.example.eml >/dev/null
fed_in home maildir_wait dave "^From: tandem@isp.example" 60 >/dev/null ||
    fail "no invitation from isp"
note "isp holds both halves and invites dave:"
fed_fg_sql isp "SELECT recipient || ': content held' FROM held_messages" | show
fed_bg_sql isp "SELECT recipient || ': ARM held' FROM held_arms" | show
printf '   dave@home$ tandem read\n'
fed_agent home dave read 2>&1 >/dev/null | sed 's/^tandem: [^:]*: /tandem: /' | show
opens home dave f9@isp.example
note "home's elements introduced themselves to isp's, which sent the held halves on:"
crossed isp fg f9@isp.example
crossed isp bg f9@isp.example

say "The gateway: erin@sub, behind gateway gw, writes to carol@isp; gw knows no route to her."
letter erin@sub.example carol@isp.example gw@sub.example "From behind the gateway"
fed_agent sub erin send --to carol@isp.example --in gw@sub.example.eml >/dev/null
fed_in isp maildir_wait carol "^From: tandem@gw.example" 60 >/dev/null ||
    fail "no invitation from gw"
note "sub deferred both halves to its gateway, which holds them and invites carol as gw:"
crossed sub fg gw@sub.example
crossed gw bg gw@sub.example
printf '   carol@isp$ tandem read\n'
fed_agent isp carol read 2>&1 >/dev/null | sed 's/^tandem: [^:]*: /tandem: /' | show
opens isp carol gw@sub.example
note "isp's elements introduced themselves to gw's, which sent the message on as its own:"
crossed isp fg gw@sub.example
crossed isp bg gw@sub.example
note "what isp knows now: gw, never sub (no introduction, no route, no certificate):"
fed_fg_sql isp "SELECT 'isp knows ' || string_agg(DISTINCT courier, ', ' ORDER BY courier) FROM introductions" | show
n=$(fed_fg_sql isp "SELECT count(*) FROM introductions WHERE courier = 'sub.example'")
m=$(fed_bg_sql isp "SELECT count(*) FROM introductions WHERE courier = 'sub.example'")
[ "$n$m" = 00 ] || fail "isp learned of sub"
fed_wait_bg isp "SELECT domains::text FROM introductions WHERE courier = 'gw.example'" "{sub.example}" 60 >/dev/null ||
    fail "isp did not learn gw's segment"
note "gw's message named its segment's domains: isp routes sub.example to gw."
letter carol@isp.example erin@sub.example gwr@isp.example "A reply into the segment"
fed_agent isp carol send --to erin@sub.example --in gwr@isp.example.eml >/dev/null
opens sub erin gwr@isp.example
note "carol's reply went to gw, which took it into its segment as its own:"
crossed isp fg gwr@isp.example
crossed gw fg gwr@isp.example
crossed sub bg gwr@isp.example
fed_fg_sql sub "SELECT 'sub knows ' || string_agg(DISTINCT courier, ', ' ORDER BY courier) FROM introductions" | show

say "Revocation: alice@isp sends a message by mistake to bob@corp and carol@isp, then revokes it."
letter alice@isp.example "bob@corp.example, carol@isp.example" rv@isp.example \
    "Sent by mistake"
fed_agent isp alice send --to bob@corp.example --to carol@isp.example \
    --in rv@isp.example.eml >/dev/null
opens corp bob rv@isp.example
note "bob has read it; carol has not fetched it yet."
printf '   alice@isp$ tandem revoke rv@isp.example\n'
fed_agent isp alice revoke rv@isp.example | show
fed_wait_bg corp "SELECT count(*) FROM carried_arms WHERE message_id = 'rv@isp.example' AND told_agent_at IS NOT NULL" 1 60 >/dev/null ||
    fail "the revoke did not reach corp"
note "isp destroyed carol's ARM and sent the revoke to corp, which filed it for bob's agent:"
crossed isp bg "revoke msgid=rv@isp.example"
crossed corp bg "revoke msgid=rv@isp.example"
printf '   bob@corp$ tandem fetch\n'
fed_agent corp bob fetch 2>&1 | show
printf '   bob@corp$ tandem read --id rv@isp.example\n'
fed_agent corp bob read --id rv@isp.example 2>&1 >/dev/null |
    sed 's/^tandem: [^:]*: /tandem: /' | show
fed_wait_bg isp "SELECT count(*) FROM carried_arms WHERE message_id = 'rv@isp.example' AND settled_at IS NOT NULL" 1 60 >/dev/null ||
    fail "bob's word did not come back to isp"
note "bob's agent told corp it had opened it; corp sent that back to isp."
printf '   alice@isp$ tandem fetch\n'
fed_agent isp alice fetch 2>&1 | show
printf '   alice@isp$ tandem status rv@isp.example\n'
fed_agent isp alice status rv@isp.example | show
[ "$(fed_agent isp alice status rv@isp.example | cut -d' ' -f1,2 | tr '\n' ' ')" = \
    "bob@corp.example opened carol@isp.example revoked " ] ||
    fail "alice's status does not say what became of rv@isp.example"

say "Figure 4, key replacement: isp's operator replaces carol's keys; what was sealed to the old ones still opens."
letter alice@isp.example carol@isp.example k4@isp.example "Sealed to the old keys"
fed_agent isp alice send --to carol@isp.example --in k4@isp.example.eml >/dev/null
fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = 'k4@isp.example'" 1 60 >/dev/null ||
    fail "the ARM of k4@isp.example did not reach isp"
printf '   isp$ tandemctl account rekey carol@isp.example\n'
fed_in isp tandemctl account rekey --db "$(fed_var isp CR_FG_DB)" \
    --reason "yearly replacement" carol@isp.example | show
fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE address = 'carol@isp.example' AND kind = 'notice-to-rekey'" 1 60 >/dev/null ||
    fail "the notice did not reach isp's background"
note "the notice went to carol's mailbox at the background, which cannot read it."
printf '   carol@isp$ tandem fetch\n'
fed_agent isp carol fetch 2>&1 | show
fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE address = 'carol@isp.example' AND kind = 'exchange-keys'" 1 60 >/dev/null ||
    fail "the courier's answer did not reach isp's background"
note "carol's agent asked by mail; the foreground's answer waits at the background."
printf '   carol@isp$ tandem fetch\n'
fed_agent isp carol fetch 2>&1 | show
fed_wait_fg isp "SELECT state FROM rekeys WHERE address = 'carol@isp.example'" complete 60 >/dev/null ||
    fail "the rekey of carol did not complete"
fed_fg_sql isp "SELECT address || ' at generation ' || key_generation FROM helpdesk.account_status WHERE address = 'carol@isp.example'" | show
fed_in isp maildir_wait carol "^Message-ID: <k4@isp.example>" 60 >/dev/null ||
    fail "the content of k4@isp.example did not reach carol@isp"
note "k4 was sealed to carol's old certificate; her agent kept the old key for reading:"
printf '   carol@isp$ tandem read --id k4@isp.example\n'
fed_agent isp carol read --id k4@isp.example 2>/dev/null | tr -d '\r' | show

say "Figure 5, registration transfer: bob@corp moves to isp; both operators agree, his agent moves itself."
printf '   isp$ tandemctl transfer expect bob@corp.example --from corp.example\n'
fed_in isp tandemctl transfer expect --db "$(fed_var isp CR_FG_DB)" \
    bob@corp.example --from corp.example | show
printf '   corp$ tandemctl transfer start bob@corp.example --to isp.example\n'
fed_in corp tandemctl transfer start --db "$(fed_var corp CR_FG_DB)" \
    bob@corp.example --to isp.example | show
fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE address = 'bob@corp.example' AND kind = 'notice-to-rekey'" 1 60 >/dev/null ||
    fail "the notice naming isp did not reach bob's mailbox at corp"
note "corp's milter sent the subscription; isp's made a pending account and answered with its configuration;"
note "corp's relayed a notice naming isp to bob's agent. The help desks see:"
fed_fg_sql isp "SELECT 'isp: ' || address || ' ' || direction || ' from ' || other_courier || ', ' || state FROM helpdesk.transfers_in_flight" | show
fed_fg_sql corp "SELECT 'corp: ' || address || ' ' || direction || ' to ' || other_courier || ', ' || state FROM helpdesk.transfers_in_flight" | show
letter alice@isp.example bob@corp.example t5a@isp.example "While bob moves"
fed_agent isp alice send --to bob@corp.example --in t5a@isp.example.eml >/dev/null
note "meanwhile alice writes to bob: corp still serves him."
sed -i "s|^\(\tresolve = {\)\(.*\)}|\1\2, \"$(fed_var isp CR_BG_HOST):$(fed_var isp CR_BG_PORT):$(fed_var isp CR_BG_ADDR)\"}|" \
    "$FED_TOP/corp/agent-bob/tandem.conf"
fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE message_id = 't5a@isp.example'" 1 60 >/dev/null ||
    fail "the ARM of t5a@isp.example did not reach corp"
n=0
printf '   bob@corp$ tandem fetch\n'
while [ "$(sqlite3 "$FED_TOP/corp/agent-bob/store.db" "SELECT value FROM config WHERE name = 'bg-url'")" != "$(fed_var isp CR_BG_URL)" ]; do
	[ $n -lt 30 ] || fail "bob's agent did not move to isp"
	fed_agent corp bob fetch 2>&1 | show
	n=$((n + 1))
	sleep 1
done
fed_wait_fg corp "SELECT status FROM accounts WHERE address = 'bob@corp.example'" transferred 60 >/dev/null ||
    fail "corp did not mark bob transferred"
fed_fg_sql isp "SELECT 'isp: ' || address || ' ' || status FROM accounts WHERE address = 'bob@corp.example'" | show
fed_fg_sql corp "SELECT 'corp: ' || address || ' ' || status || ', redirected to ' || redirect_to FROM accounts WHERE address = 'bob@corp.example'" | show
note "bob's agent now uses isp's background; bob points its submission at isp too."
sed -i -e "s|^\(\tsubmission = \).*|\1\"$(fed_var isp CR_FG_ADDR):$(fed_var isp CR_SMTP_PORT)\"|" \
    -e "s|^\(\tbg_url = \).*|\1\"$(fed_var isp CR_BG_URL)\"|" "$FED_TOP/corp/agent-bob/tandem.conf"
fed_in corp maildir_wait bob "^Message-ID: <t5a@isp.example>" 60 >/dev/null ||
    fail "the content of t5a@isp.example did not reach bob"
printf '   bob$ tandem read --id t5a@isp.example\n'
fed_agent corp bob read --id t5a@isp.example 2>/dev/null | tr -d '\r' | show
letter alice@isp.example bob@corp.example t5b@isp.example "After bob moved"
fed_agent isp alice send --to bob@corp.example --in t5b@isp.example.eml >/dev/null
fed_wait_bg isp "SELECT count(*) FROM agent_mailbox WHERE message_id = 't5b@isp.example'" 1 60 >/dev/null ||
    fail "the ARM of t5b@isp.example did not reach isp"
fed_in corp maildir_wait bob "^Message-ID: <t5b@isp.example>" 60 >/dev/null ||
    fail "the content of t5b@isp.example did not reach bob"
note "now isp delivers to bob itself, both halves:"
crossed isp fg "t5b@isp.example"
fed_agent corp bob fetch >/dev/null 2>&1
printf '   bob$ tandem read --id t5b@isp.example\n'
fed_agent corp bob read --id t5b@isp.example 2>/dev/null | tr -d '\r' | show

say "Split trust held on every element: no content key in any FG, no text in any BG."
key=$(fed_content_key corp bob f7@isp.example)
for x in $FED_ALL; do
	fed_split_trust $x "Figure seven" "$key" || fail "split trust broken at $x"
	note "$x: checked"
done

say "What to try next"
cat <<MSG | show
./quickstart demo --keep    leave the six couriers up; ./quickstart down stops them
./quickstart demo one       one courier: registration, a held message, expiry, ordinary mail
doc/federation.md           what crosses between couriers, and the routing rules
man ctl/tandemctl.8         intro list|remove, route list|remove on either element
MSG
if [ $keep = 1 ]; then
	note "with the couriers up, for example:"
	cat <<MSG | show
tandemctl intro list --db '$(fed_var isp CR_FG_DB)'
tandemctl route list --db '$(fed_var isp CR_BG_DB)'
TANDEM_PASSWORD=$CR_PASSWORD tandem inbox -d $dir/isp/agent-carol -c $dir/isp/agent-carol/tandem.conf
MSG
fi
