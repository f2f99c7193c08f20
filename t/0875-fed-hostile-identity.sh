test_description='federation: certified couriers claim a domain and a name that another courier holds, on both elements'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog curl || test_skip_all 'curl is missing'

. "$TANDEM_SRC/t/lib-hostile.sh"

# root and home (private, under root) run; root knows home from its
# operator (tandemctl intro add, as fed_start seeds it). carol is
# registered at root, dave at home. isp, a public courier of the tree,
# does not run: its CA folder alone certifies two attackers, each a
# private courier name-constrained to home.example, with FG and BG
# element certificates (t/lib-hostile.sh):
#
#	fake	named fake.example: claims the domain home.example, which
#		home serves (doc/protocol.md, introduction: "A Domain
#		already served by another known courier ... is refused")
#	imp	named home.example, with another CA key than home's: a
#		courier is its CA's key, its name a label, and what the
#		operator recorded is pinned
#
# Both speak to root on both paths, by introductions and (imp) as the
# origin of an inter-courier message at hop 1. Each is refused, logged
# once per element and claim, shown in helpdesk.refused_claims; root's
# introductions of home stay byte for byte, and carol's mail to dave
# still reaches the real home. (The domain claim is here, not in
# t/0870, because it needs the same two couriers as the name claim.)

FAKE_FG=tandem@mx.home.example
FAKE_BG=https://bg.mx.home.example:4443/
IMP_FG=tandem@relay.home.example
IMP_BG=https://bg.relay.home.example:4443/

test_expect_success_here 'root and home run; carol at root, dave at home; isp certifies fake.example and another home.example' '
	fed_pki root isp home && fed_start root home &&
	fed_register root carol && fed_register home dave &&
	hostile_ca fake fake.example private isp "$FAKE_FG" "$FAKE_BG" home.example &&
	hostile_ca imp home.example private isp "$IMP_FG" "$IMP_BG" home.example
'

# home_certs X OUT: the certificate of home.example in each of X's
# databases, into OUT.fg and OUT.bg
home_certs() {
	fed_fg_sql $1 "SELECT certificate FROM introductions WHERE courier = \$\$home.example\$\$" >$2.fg &&
	fed_bg_sql $1 "SELECT certificate FROM introductions WHERE courier = \$\$home.example\$\$" >$2.bg &&
	test -s $2.fg && test -s $2.bg
}

# towards_hostile X: X's FG outbox and BG outbox rows to an attacker
towards_hostile() {
	fed_fg_sql $1 "SELECT 'fg', id, message_id, rcpt_to FROM outbox WHERE rcpt_to && ARRAY[\$\$$FAKE_FG\$\$, \$\$$IMP_FG\$\$]" &&
	fed_bg_sql $1 "SELECT 'bg', id, kind, message_id, url FROM bg_outbox WHERE url IN (\$\$$FAKE_BG\$\$, \$\$$IMP_BG\$\$)"
}

test_expect_success 'root knows home alone, both elements, as its operator recorded it' '
	hostile_state root >before &&
	cut -d"|" -f1-4,6 before >got &&
	cat >want <<-EOF &&
	fg|home.example|fg|tandem@home.example|home.example
	bg|home.example|bg|$(fed_var home CR_BG_URL)|home.example
	EOF
	test_cmp want got &&
	home_certs root home0 &&
	for k in fg bg; do
		openssl x509 -in "$FED_TOP/pki/home/elements/$k.crt" -noout -fingerprint -sha256 >want &&
		openssl x509 -in home0.$k -noout -fingerprint -sha256 >got &&
		test_cmp want got || return 1
	done
'

# refused_fg FILE DIR TEXT: DIR's FG mails FILE to root's FG: root
# learned nothing and answered 550 5.7.1 TEXT, which its log says
refused_fg() {
	rm -f swaks.out &&
	{ hostile_fg_send $1 $2 root; true; } &&
	hostile_state root >got && test_cmp before got &&
	test_grep "^<\*\* *550 5.7.1 $3" swaks.out &&
	test_wait_log "$(fed_log root fg)" "reason=\"5.7.1 $3\""
}

# refused_bg FILE DIR TEXT: DIR's BG posts FILE to root's BG: root
# learned nothing and answered 403 with TEXT
refused_bg() {
	rm -f out.body &&
	{ hostile_bg_send 403 $1 $2 root; st=$?; } &&
	hostile_state root >got && test_cmp before got &&
	test $st = 0 && test_grep "$3" out.body
}

# mail_dave N: carol writes to dave@home.example (Message-ID N@root.example);
# root sends it to home, and dave reads it byte for byte
mail_dave() {
	printf "From: carol@root.example\r\nTo: dave@home.example\r\nSubject: %s\r\nMessage-ID: <%s@root.example>\r\n\r\nDave, this is %s.\r\n" \
		"$1" "$1" "$1" >"$1.eml" &&
	fed_agent root carol send --to dave@home.example --in "$1.eml" >out &&
	echo "$1@root.example" >want && test_cmp want out &&
	test_grep "msgid=$1@root.example rcpt=dave@home.example route=to-introduced-courier to=home.example" "$(fed_log root fg)" &&
	test_grep "courier msgid=$1@root.example rcpt=dave@home.example action=forward courier=home.example hops=1 origin=root.example" "$(fed_log root bg)" &&
	fed_in home maildir_wait dave "^Message-ID: <$1@root.example>" 60 >/dev/null &&
	fed_wait_bg home "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$1@root.example\$\$" 1 60 &&
	fed_agent home dave fetch >/dev/null &&
	fed_agent home dave read --id "$1@root.example" >got &&
	test_cmp "$1.eml" got
}

DOMAIN_TEXT="Domain home.example is already served by home.example"
KEY_TEXT="courier home.example presents another key than the one known"

test_expect_success 'fake.example claims home.example on the FG path: 550 5.7.1, nothing learned' '
	hostile_intro d1.fg d1@mx.home.example fake fg private "Domain: home.example" &&
	refused_fg d1.fg fake "introduction: $DOMAIN_TEXT"
'

test_expect_success 'fake.example claims home.example on the BG path: 403, nothing learned' '
	hostile_intro d1.bg d1@mx.home.example fake bg private "Domain: home.example" &&
	refused_bg d1.bg fake "$DOMAIN_TEXT"
'

test_expect_success 'the domain claim again, under new Ids: refused, logged once per element, in helpdesk.refused_claims on each' '
	hostile_intro d2.fg d2@mx.home.example fake fg private "Domain: home.example" &&
	hostile_intro d2.bg d2@mx.home.example fake bg private "Domain: home.example" &&
	refused_fg d2.fg fake "introduction: $DOMAIN_TEXT" &&
	refused_bg d2.bg fake "$DOMAIN_TEXT" &&
	n=$(hostile_count "$(fed_log root fg)" "reason=\"5.7.1 introduction: $DOMAIN_TEXT\"") &&
	test "$n" = 2 || { echo "root'"'"'s FG rejected the claim $n times, not 2"; return 1; }
	echo "fake.example|$DOMAIN_TEXT" >want &&
	for k in fg bg; do
		n=$(hostile_count "$(fed_log root $k)" "courier refused courier=fake.example .*$DOMAIN_TEXT") &&
		test "$n" = 1 || { echo "$k logs the refused claim $n times"; return 1; }
		fed_${k}_sql root "SELECT courier, reason FROM helpdesk.refused_claims WHERE courier = \$\$fake.example\$\$" >got &&
		test_cmp want got || return 1
	done
'

test_expect_success 'carol writes to dave@home.example: root still sends it to home, dave reads it' '
	mail_dave m1
'

test_expect_success 'another home.example introduces itself on the FG path: 550 5.7.1, root'"'"'s introduction of home unchanged' '
	hostile_intro k1.fg k1@relay.home.example imp fg private "Domain: home.example" &&
	refused_fg k1.fg imp "introduction: $KEY_TEXT" &&
	home_certs root home1 &&
	test_cmp home0.fg home1.fg && test_cmp home0.bg home1.bg
'

test_expect_success 'another home.example introduces itself on the BG path: 403, root'"'"'s introduction of home unchanged' '
	hostile_intro k1.bg k1@relay.home.example imp bg private "Domain: home.example" &&
	refused_bg k1.bg imp "$KEY_TEXT" &&
	home_certs root home1 &&
	test_cmp home0.fg home1.fg && test_cmp home0.bg home1.bg
'

# nothing_for_carol: no trace of i1@home.example at root: not queued to
# her agent, not held, not in her BG mailbox
nothing_for_carol() {
	fed_fg_sql root "SELECT 'fg outbox', id FROM outbox WHERE message_id = \$\$i1@home.example\$\$" >i1.got &&
	fed_fg_sql root "SELECT 'fg held', id FROM held_messages WHERE message_id = \$\$i1@home.example\$\$" >>i1.got &&
	fed_bg_sql root "SELECT 'bg mailbox', id FROM agent_mailbox WHERE message_id = \$\$i1@home.example\$\$" >>i1.got &&
	fed_bg_sql root "SELECT 'bg held', id FROM held_arms WHERE message_id = \$\$i1@home.example\$\$" >>i1.got &&
	test_cmp /dev/null i1.got
}

test_expect_success 'the other home.example as the origin of a message at hop 1, FG path: 550 5.7.1, nothing taken' '
	openssl rand 512 >i1.sealed &&
	hostile_ic i1.fg i1@relay.home.example imp fg root i1@home.example mallory@home.example i1.sealed carol@root.example &&
	refused_fg i1.fg imp "inter-courier: $KEY_TEXT" &&
	nothing_for_carol &&
	home_certs root home1 &&
	test_cmp home0.fg home1.fg && test_cmp home0.bg home1.bg
'

test_expect_success 'the other home.example as the origin of a message at hop 1, BG path: 403, nothing taken' '
	hostile_arm i1@home.example mallory@home.example carol@root.example >i1.arm &&
	hostile_ic i1.bg i1@relay.home.example imp bg root i1@home.example mallory@home.example i1.arm carol@root.example &&
	refused_bg i1.bg imp "$KEY_TEXT" &&
	nothing_for_carol &&
	home_certs root home1 &&
	test_cmp home0.fg home1.fg && test_cmp home0.bg home1.bg
'

test_expect_success 'the name claim again, under new Ids: refused, logged once per element, in helpdesk.refused_claims on each' '
	hostile_intro k2.fg k2@relay.home.example imp fg private "Domain: home.example" &&
	hostile_intro k2.bg k2@relay.home.example imp bg private "Domain: home.example" &&
	refused_fg k2.fg imp "introduction: $KEY_TEXT" &&
	refused_bg k2.bg imp "$KEY_TEXT" &&
	n=$(hostile_count "$(fed_log root fg)" "reason=\"5.7.1 introduction: $KEY_TEXT\"") &&
	test "$n" = 2 || { echo "root'"'"'s FG rejected the introduction $n times, not 2"; return 1; }
	echo "home.example|$KEY_TEXT" >want &&
	for k in fg bg; do
		n=$(hostile_count "$(fed_log root $k)" "courier refused courier=home.example .*$KEY_TEXT") &&
		test "$n" = 1 || { echo "$k logs the refused claim $n times"; return 1; }
		fed_${k}_sql root "SELECT courier, reason FROM helpdesk.refused_claims WHERE courier = \$\$home.example\$\$" >got &&
		test_cmp want got || return 1
	done
'

test_expect_success 'carol writes to dave@home.example again: it reaches the real home, dave reads it' '
	mail_dave m2
'

test_expect_success 'at the end: root'"'"'s introductions of home byte for byte as recorded, nothing learned, nothing towards the attackers' '
	ok=0 &&
	{ home_certs root home2 && test_cmp home0.fg home2.fg &&
	    test_cmp home0.bg home2.bg || ok=1; } &&
	{ hostile_state root >got && test_cmp before got || ok=1; } &&
	{ towards_hostile root >got && test_cmp /dev/null got || ok=1; } &&
	test $ok = 0
'

test_done
