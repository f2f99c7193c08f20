#!/bin/sh

test_description='federation: a certified relay forges the origin and the sender; replays and stale or future dates, on both elements'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog curl || test_skip_all 'curl is missing'

. "$TANDEM_SRC/t/lib-hostile.sh"

# root and home (private, under root) run, root's purge every 2 s;
# carol is registered at root, dave at home. root certifies evil, a
# public courier of the tree (t/lib-hostile.sh): a real courier, whose
# chain verifies to the root, that may relay other couriers' messages
# (Hops 2 and more). evil does not run: what it says is written by
# hand and sent to root, by mail to its FG and by HTTPS to its BG.
#
# doc/security.md, section 4: the origin's element signs what it
# asserts (Origin-Courier, Origin-Date, Message-Id, Sender, Recipient,
# the payload's digest: Origin-Signature) and every receiver checks it
# with the origin's certificate, whoever relayed it. evil relays a
# message it says home.example sent for dave@home.example: unsigned,
# or signed with its own key, it is refused and recorded as evil's
# refused claim. Then freshness: a message taken once is refused when
# it comes again under a fresh Id, one dated before the replay window
# or beyond the clock skew is refused, and seen_messages rows older
# than the replay window are purged.

EVIL_FG=tandem@evil.example
EVIL_BG=https://bg.evil.example:4443/

test_expect_success_here 'root and home run; carol at root, dave at home; root certifies evil.example, a public courier' '
	fed_pki root home &&
	CR_PURGE_INTERVAL=2s fed_start root home &&
	fed_register root carol && fed_register home dave &&
	hostile_ca evil evil.example public root "$EVIL_FG" "$EVIL_BG" &&
	openssl rand 512 >sealed
'

# nothing_for_carol ID: no trace of Message-Id ID at root: not queued
# to her agent, not held, not in her BG mailbox
nothing_for_carol() {
	fed_fg_sql root "SELECT 'fg outbox', id FROM outbox WHERE message_id = \$\$$1\$\$" >n.got &&
	fed_fg_sql root "SELECT 'fg held', id FROM held_messages WHERE message_id = \$\$$1\$\$" >>n.got &&
	fed_bg_sql root "SELECT 'bg mailbox', id FROM agent_mailbox WHERE message_id = \$\$$1\$\$" >>n.got &&
	fed_bg_sql root "SELECT 'bg held', id FROM held_arms WHERE message_id = \$\$$1\$\$" >>n.got &&
	test_cmp /dev/null n.got
}

# refused_fg FILE TEXT: evil's FG mails FILE to root's FG, which
# answers 550 5.7.1 inter-courier: TEXT and logs it
refused_fg() {
	rm -f swaks.out &&
	{ hostile_fg_send $1 evil root; true; } &&
	test_grep "^<\*\* *550 5.7.1 inter-courier: $2" swaks.out &&
	test_wait_log "$(fed_log root fg)" "reason=\"5.7.1 inter-courier: $2"
}

# refused_bg FILE TEXT: evil's BG posts FILE to root's BG: 403 TEXT
refused_bg() {
	rm -f out.body &&
	hostile_bg_send 403 $1 evil root &&
	test_grep "$2" out.body
}

# ic_home OUT ID KIND PAYLOAD: evil relays, at hop 2, a message it says
# home.example sent from dave@home.example to carol@root.example
ic_home() {
	HS_HOPS=2 HS_ORIGIN=home hostile_ic $1 $2 evil $3 root f1@home.example \
	    dave@home.example $4 carol@root.example
}

NOSIG="origin home.example, sender dave@home.example: no Origin-Signature"
BADSIG="origin home.example, sender dave@home.example: Origin-Signature does not verify"

test_expect_success 'evil relays a message of home.example with no Origin-Signature, FG path: 550 5.7.1, nothing for carol' '
	HS_ORIGIN_KEY=none ic_home f1.fg f1a@evil.example fg sealed &&
	refused_fg f1.fg "$NOSIG" &&
	nothing_for_carol f1@home.example
'

test_expect_success 'the same, BG path: 403, nothing for carol' '
	hostile_arm f1@home.example dave@home.example carol@root.example >f1.arm &&
	HS_ORIGIN_KEY=none ic_home f1.bg f1a@evil.example bg f1.arm &&
	refused_bg f1.bg "$NOSIG" &&
	nothing_for_carol f1@home.example
'

test_expect_success 'evil signs for home.example with its own key, FG path: 550 5.7.1, nothing for carol' '
	ic_home f2.fg f2a@evil.example fg sealed &&
	refused_fg f2.fg "$BADSIG" &&
	nothing_for_carol f1@home.example
'

test_expect_success 'the same, BG path: 403, nothing for carol' '
	ic_home f2.bg f2a@evil.example bg f1.arm &&
	refused_bg f2.bg "$BADSIG" &&
	nothing_for_carol f1@home.example
'

test_expect_success 'each element recorded evil'"'"'s claim once, with evil'"'"'s key, and logged it once' '
	echo "evil.example|Origin home.example|2" >want &&
	for k in fg bg; do
		fed_${k}_sql root "SELECT courier, claim, times FROM refused_claims" >got &&
		test_cmp want got &&
		n=$(hostile_count "$(fed_log root $k)" "courier refused courier=evil.example claim=\"Origin home.example\"") &&
		test "$n" = 1 || { echo "$k logs the refused claim $n times"; return 1; }
	done
'

test_expect_success 'a message evil sends as its own origin is taken, on both paths' '
	hostile_ic o1.fg o1a@evil.example evil fg root o1@evil.example eve@evil.example sealed carol@root.example &&
	rm -f swaks.out &&
	hostile_fg_send o1.fg evil root &&
	test_grep "^<- *250 " swaks.out &&
	test_wait_log "$(fed_log root fg)" "msgid=o1@evil.example origin=evil.example hops=1 rcpt=carol@root.example route=deliver-local" &&
	hostile_arm o1@evil.example eve@evil.example carol@root.example >o1.arm &&
	hostile_ic o1.bg o1a@evil.example evil bg root o1@evil.example eve@evil.example o1.arm carol@root.example &&
	hostile_bg_send 201 o1.bg evil root &&
	fed_wait_bg root "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$o1@evil.example\$\$" 1
'

REPLAY="message o1@evil.example for carol@root.example from evil.example was taken already (replay)"

test_expect_success 'the same message again under the same Id: a duplicate, nothing done twice' '
	rm -f swaks.out &&
	hostile_fg_send o1.fg evil root &&
	test_grep "^<- *250 " swaks.out &&
	hostile_bg_send 200 o1.bg evil root &&
	fed_bg_sql root "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$o1@evil.example\$\$" >got &&
	echo 1 >want && test_cmp want got
'

test_expect_success 'replayed under a fresh Id, FG path: 550 5.7.1' '
	sed "s/^Id: o1a@evil.example/Id: o1b@evil.example/" o1.fg >o2.fg &&
	! test_cmp o1.fg o2.fg >/dev/null &&
	refused_fg o2.fg "$REPLAY"
'

test_expect_success 'replayed under a fresh Id, BG path: 403, carol'"'"'s mailbox holds it once' '
	sed "s/^Id: o1a@evil.example/Id: o1b@evil.example/" o1.bg >o2.bg &&
	refused_bg o2.bg "$REPLAY" &&
	fed_bg_sql root "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$o1@evil.example\$\$" >got &&
	echo 1 >want && test_cmp want got
'

test_expect_success 'dated before the replay window: refused on both paths' '
	HS_DATE=2020-01-01T00:00:00Z hostile_ic d1.fg d1a@evil.example evil fg root d1@evil.example eve@evil.example sealed carol@root.example &&
	refused_fg d1.fg "Date 2020-01-01T00:00:00Z is older than the replay window" &&
	hostile_arm d1@evil.example eve@evil.example carol@root.example >d1.arm &&
	HS_DATE=2020-01-01T00:00:00Z hostile_ic d1.bg d1a@evil.example evil bg root d1@evil.example eve@evil.example d1.arm carol@root.example &&
	refused_bg d1.bg "Date 2020-01-01T00:00:00Z is older than the replay window" &&
	nothing_for_carol d1@evil.example
'

test_expect_success 'dated beyond the clock skew: refused on both paths' '
	future=$(date -u -d "+1 day" +%Y-%m-%dT%H:%M:%SZ) &&
	HS_DATE=$future hostile_ic d2.fg d2a@evil.example evil fg root d2@evil.example eve@evil.example sealed carol@root.example &&
	refused_fg d2.fg "Date $future is in the future" &&
	hostile_arm d2@evil.example eve@evil.example carol@root.example >d2.arm &&
	HS_DATE=$future hostile_ic d2.bg d2a@evil.example evil bg root d2@evil.example eve@evil.example d2.arm carol@root.example &&
	refused_bg d2.bg "Date $future is in the future" &&
	nothing_for_carol d2@evil.example
'

test_expect_success 'seen_messages rows older than the replay window are purged, younger ones stay' '
	for k in fg bg; do
		fed_${k}_sql root "UPDATE seen_messages SET seen_at = now() - interval \$\$8 days\$\$ WHERE message_id = \$\$o1a@evil.example\$\$" >/dev/null &&
		fed_${k}_sql root "SELECT count(*) FROM seen_messages WHERE kind = \$\$origin\$\$" >n.$k &&
		test "$(cat n.$k)" -ge 1 || return 1
	done &&
	fed_wait_fg root "SELECT count(*) FROM seen_messages WHERE message_id = \$\$o1a@evil.example\$\$" 0 30 &&
	fed_wait_bg root "SELECT count(*) FROM seen_messages WHERE message_id = \$\$o1a@evil.example\$\$" 0 30 &&
	for k in fg bg; do
		fed_${k}_sql root "SELECT count(*) FROM seen_messages WHERE kind = \$\$origin\$\$" >got &&
		test_cmp n.$k got || return 1
	done &&
	test_wait_log "$(fed_log root fg)" "hygiene seen_messages purged=" &&
	test_wait_log "$(fed_log root bg)" "hygiene seen_messages purged="
'

test_expect_success 'carol writes to dave@home.example: relayed or not, honest mail still goes' '
	printf "From: carol@root.example\r\nTo: dave@home.example\r\nSubject: h1\r\nMessage-ID: <h1@root.example>\r\n\r\nDave, this is h1.\r\n" >h1.eml &&
	fed_agent root carol send --to dave@home.example --in h1.eml >out &&
	fed_in home maildir_wait dave "^Message-ID: <h1@root.example>" 60 >/dev/null &&
	fed_wait_bg home "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$h1@root.example\$\$" 1 60 &&
	fed_agent home dave fetch >/dev/null &&
	fed_agent home dave read --id h1@root.example >got &&
	test_cmp h1.eml got
'

test_done
