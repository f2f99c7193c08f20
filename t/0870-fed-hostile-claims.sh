test_description='federation: a certified public courier claims addresses it cannot prove, on both elements'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog curl || test_skip_all 'curl is missing'

. "$TANDEM_SRC/t/lib-hostile.sh"

# isp (public) and corp (private, under isp) run; bob is registered at
# corp, alice at isp. The attacker, evil.example, is a public courier
# that root certified (its CA issued from root's CA folder, with FG and
# BG element certificates): its chain is as good as isp's. It never
# runs; its introductions to isp are written and sent by hand (t/lib-
# hostile.sh). A route for an address is learned only with proof
# (doc/protocol.md, introduction): evil has none for bob@corp.example
# (corp's user), for zed@nowhere.example (invited by isp, which holds
# alice's message to him) or for alice@isp.example (isp's own domain).
# Each claim must be refused on both paths with nothing learned, and
# what alice sends afterwards must go where it went before: bob's
# message to corp, zed's held halves nowhere. A second attacker,
# shady.example, a gateway under root with a private subordinate for
# shady.example (its segment), proves an address of its segment but
# adds bob@corp.example: the whole introduction is refused; alone, the
# address of its segment is learned (the checks refuse claims, not
# introductions).

EVIL_FG=tandem@evil.example
EVIL_BG=https://bg.evil.example:4443/
SHADY_FG=tandem@shady.example
SHADY_BG=https://bg.shady.example:4443/

test_expect_success_here 'isp and corp run; alice at isp, bob at corp; root certifies evil.example (public)' '
	fed_pki isp corp && fed_start isp corp &&
	fed_register isp alice && fed_register corp bob &&
	hostile_ca evil evil.example public root "$EVIL_FG" "$EVIL_BG" &&
	hostile_ca shady shady.example gateway root "$SHADY_FG" "$SHADY_BG" &&
	hostile_ca shadysub sub.shady.example private shady tandem@sub.shady.example https://bg.sub.shady.example:4443/ shady.example &&
	cat "$FED_TOP/pki/shady/chain.pem" "$FED_TOP/pki/shadysub/ca.crt" >"$FED_TOP/pki/shady-segment.pem"
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
printf "From: alice@isp.example\r\nTo: zed@nowhere.example\r\nSubject: %s\r\nMessage-ID: <z1@isp.example>\r\n\r\nZed, %s.\r\n" \
	"$secret" "$secret" >z1.eml
printf "From: alice@isp.example\r\nTo: bob@corp.example\r\nSubject: %s\r\nMessage-ID: <b1@isp.example>\r\n\r\nBob, %s.\r\n" \
	"$secret" "$secret" >b1.eml

# towards_evil X: X's FG outbox rows to evil's mailbox, BG outbox rows
# to evil's URL
towards_evil() {
	fed_fg_sql $1 "SELECT 'fg', id, message_id FROM outbox WHERE \$\$$EVIL_FG\$\$ = ANY (rcpt_to)" &&
	fed_bg_sql $1 "SELECT 'bg', id, kind, message_id FROM bg_outbox WHERE url = \$\$$EVIL_BG\$\$"
}

# zed_held [fg|bg]: isp still holds z1 for zed, unreleased (on the
# element named, default both), and zed's invitation is still pending
zed_held() {
	: >held && : >held.want &&
	if [ "${1:-fg}" = fg ]; then
		fed_fg_sql isp "SELECT 'fg', message_id, recipient, released_at IS NULL FROM held_messages ORDER BY id" >>held &&
		fed_fg_sql isp "SELECT 'invitation', address, status FROM invitations WHERE address = \$\$zed@nowhere.example\$\$" >>held &&
		printf "fg|z1@isp.example|zed@nowhere.example|t\ninvitation|zed@nowhere.example|pending\n" >>held.want
	fi &&
	if [ "${1:-bg}" = bg ]; then
		fed_bg_sql isp "SELECT 'bg', message_id, recipient, released_at IS NULL FROM held_arms ORDER BY id" >>held &&
		printf "bg|z1@isp.example|zed@nowhere.example|t\n" >>held.want
	fi &&
	test_cmp held.want held
}

test_expect_success 'alice writes to zed@nowhere.example: isp holds both halves and invites zed' '
	fed_agent isp alice send --to zed@nowhere.example --in z1.eml >out &&
	echo z1@isp.example >want && test_cmp want out &&
	fed_wait_fg isp "SELECT count(*) FROM held_messages WHERE released_at IS NULL" 1 30 &&
	fed_wait_bg isp "SELECT count(*) FROM held_arms WHERE released_at IS NULL" 1 30 &&
	fed_wait_fg isp "SELECT status FROM invitations WHERE address = \$\$zed@nowhere.example\$\$" pending 30 &&
	zed_held
'

test_expect_success 'isp knows corp alone and no address route; nothing goes to evil' '
	hostile_state isp >before &&
	cut -d"|" -f1-4 before >got &&
	cat >want <<-EOF &&
	fg|corp.example|fg|tandem@corp.example
	bg|corp.example|bg|$(fed_var corp CR_BG_URL)
	EOF
	test_cmp want got &&
	towards_evil isp >got && test_cmp /dev/null got
'

# claim N ADDRESS [FIELD...]: evil's introductions nN.fg and nN.bg,
# claiming ADDRESS
claim() {
	_n=$1 _a=$2
	shift 2
	hostile_intro $_n.fg $_n@evil.example evil fg public "Address: $_a" "$@" &&
	hostile_intro $_n.bg $_n@evil.example evil bg public "Address: $_a" "$@"
}

# refused_fg N TEXT [DIR]: evil (or DIR) mails nN.fg to isp's FG: isp
# learned nothing and answered 550 5.7.1 TEXT, which its log says
refused_fg() {
	rm -f swaks.out &&
	{ hostile_fg_send $1.fg ${3:-evil} isp; true; } &&
	hostile_state isp >got && test_cmp before got &&
	test_grep "^<\*\* *550 5.7.1 introduction: $2" swaks.out &&
	test_wait_log "$(fed_log isp fg)" "reason=\"5.7.1 introduction: $2\""
}

# refused_bg N TEXT [DIR]: evil (or DIR) posts nN.bg to isp's BG: isp
# learned nothing and answered 403 with TEXT
refused_bg() {
	rm -f out.body &&
	{ hostile_bg_send 403 $1.bg ${3:-evil} isp; st=$?; } &&
	hostile_state isp >got && test_cmp before got &&
	test $st = 0 && test_grep "$2" out.body
}

test_expect_success 'evil claims bob@corp.example (registered at corp) on the FG path: 550 5.7.1, nothing learned' '
	claim c1 bob@corp.example &&
	refused_fg c1 "Address bob@corp.example comes with no proof"
'

test_expect_success 'evil claims bob@corp.example on the BG path: 403, nothing learned' '
	refused_bg c1 "Address bob@corp.example comes with no proof"
'

test_expect_success 'evil claims zed@nowhere.example (invited by isp) on the FG path: 550 5.7.1, nothing learned, zed'"'"'s mail stays held' '
	claim c2 zed@nowhere.example &&
	refused_fg c2 "Address zed@nowhere.example comes with no proof" &&
	zed_held fg &&
	towards_evil isp >got && test_cmp /dev/null got
'

test_expect_success 'evil claims zed@nowhere.example on the BG path: 403, nothing learned, zed'"'"'s ARM stays held' '
	refused_bg c2 "Address zed@nowhere.example comes with no proof" &&
	zed_held bg &&
	towards_evil isp >got && test_cmp /dev/null got
'

test_expect_success 'evil claims alice@isp.example, of the domain isp serves, on the FG path: 550 5.7.1, nothing learned' '
	claim c3 alice@isp.example &&
	refused_fg c3 "Address alice@isp.example is in a domain this courier serves"
'

test_expect_success 'evil claims alice@isp.example on the BG path: 403, nothing learned' '
	refused_bg c3 "Address alice@isp.example is in a domain this courier serves"
'

tok=$(openssl rand -base64 32 | tr "+/" "_-" | tr -d "=\n")

test_expect_success 'evil claims carol@corp.example with a Route-Proof isp never issued, FG path: 550 5.7.1, nothing learned' '
	claim c4 carol@corp.example "Route-Proof: carol@corp.example $tok" &&
	refused_fg c4 "Address carol@corp.example comes with no proof"
'

test_expect_success 'the same with a Route-Proof on the BG path: 403, nothing learned' '
	refused_bg c4 "Address carol@corp.example comes with no proof"
'

test_expect_success 'shady claims x@shady.example (of its segment) and bob@corp.example, FG path: refused as a whole, nothing learned' '
	hostile_intro s1.fg s1@shady.example shady fg gateway "--ca-chain=$FED_TOP/pki/shady-segment.pem" "Domain: shady.example" "Address: x@shady.example" "Address: bob@corp.example" &&
	refused_fg s1 "Address bob@corp.example comes with no proof" shady
'

test_expect_success 'the same on the BG path: refused as a whole, nothing learned' '
	hostile_intro s1.bg s1@shady.example shady bg gateway "--ca-chain=$FED_TOP/pki/shady-segment.pem" "Domain: shady.example" "Address: x@shady.example" "Address: bob@corp.example" &&
	refused_bg s1 "Address bob@corp.example comes with no proof" shady
'

test_expect_success 'the bob claim again, under new Ids: refused again, logged once per element, one row in helpdesk.refused_claims on each' '
	claim c5 bob@corp.example &&
	refused_fg c5 "Address bob@corp.example comes with no proof" &&
	refused_bg c5 "Address bob@corp.example comes with no proof" &&
	n=$(hostile_count "$(fed_log isp fg)" "from=$EVIL_FG status=reject reason=\"5.7.1 introduction: Address bob@corp.example comes with no proof\"") &&
	test "$n" = 2 || { echo "isp'"'"'s FG rejected the claim $n times, not 2"; return 1; }
	for k in fg bg; do
		n=$(hostile_count "$(fed_log isp $k)" "courier refused courier=evil.example .*Address bob@corp.example comes with no proof") &&
		test "$n" = 1 || { echo "$k logs the refused claim $n times"; return 1; }
		fed_${k}_sql isp "SELECT courier, reason FROM helpdesk.refused_claims WHERE courier = \$\$evil.example\$\$ AND claim LIKE \$\$%bob@corp.example%\$\$" >got &&
		echo "evil.example|Address bob@corp.example comes with no proof" >want &&
		test_cmp want got || return 1
	done
'

test_expect_success 'every refused claim is in helpdesk.refused_claims on both elements' '
	cat >want <<-EOF &&
	evil.example|Address alice@isp.example is in a domain this courier serves
	evil.example|Address bob@corp.example comes with no proof
	evil.example|Address carol@corp.example comes with no proof
	evil.example|Address zed@nowhere.example comes with no proof
	shady.example|Address bob@corp.example comes with no proof
	EOF
	for k in fg bg; do
		fed_${k}_sql isp "SELECT courier, reason FROM helpdesk.refused_claims ORDER BY courier, reason" >got &&
		test_cmp want got || return 1
	done
'

test_expect_success 'alice'"'"'s next message to bob@corp.example goes to corp; bob reads it byte for byte' '
	fed_agent isp alice send --to bob@corp.example --in b1.eml >out &&
	echo b1@isp.example >want && test_cmp want out &&
	test_grep "msgid=b1@isp.example rcpt=bob@corp.example route=to-introduced-courier to=corp.example" "$(fed_log isp fg)" &&
	test_grep "courier msgid=b1@isp.example rcpt=bob@corp.example action=forward courier=corp.example hops=1 origin=isp.example" "$(fed_log isp bg)" &&
	f=$(fed_in corp maildir_wait bob "^Message-ID: <b1@isp.example>" 60) &&
	test_grep "^From: alice@isp.example" "$f" &&
	fed_wait_bg corp "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$b1@isp.example\$\$" 1 60 &&
	fed_agent corp bob fetch >fetched &&
	echo b1@isp.example >want && test_cmp want fetched &&
	fed_agent corp bob read --id b1@isp.example >got &&
	test_cmp b1.eml got &&
	test_grep_not "$secret" "$f"
'

test_expect_success 'at the end: nothing ever queued towards evil, isp learned nothing, zed'"'"'s halves still held' '
	ok=0 &&
	{ towards_evil isp >got && test_cmp /dev/null got || ok=1; } &&
	{ hostile_state isp >got && test_cmp before got || ok=1; } &&
	{ test_grep_not "to=evil.example" "$(fed_log isp fg)" || ok=1; } &&
	{ test_grep_not "courier=evil.example hops" "$(fed_log isp bg)" || ok=1; } &&
	{ zed_held || ok=1; } &&
	test $ok = 0
'

test_expect_success 'control: shady introducing x@shady.example alone, of its segment, is taken on both paths and learned' '
	hostile_intro s2.fg s2@shady.example shady fg gateway "--ca-chain=$FED_TOP/pki/shady-segment.pem" "Domain: shady.example" "Address: x@shady.example" &&
	hostile_intro s2.bg s2@shady.example shady bg gateway "--ca-chain=$FED_TOP/pki/shady-segment.pem" "Domain: shady.example" "Address: x@shady.example" &&
	hostile_fg_send s2.fg shady isp &&
	hostile_bg_send 201 s2.bg shady isp &&
	for k in fg bg; do
		fed_${k}_sql isp "SELECT courier, reason FROM address_routes WHERE address = \$\$x@shady.example\$\$" >got &&
		echo "shady.example|introduced" >want && test_cmp want got &&
		fed_${k}_sql isp "SELECT endpoint FROM introductions WHERE courier = \$\$shady.example\$\$" >got &&
		echo "$( [ $k = fg ] && echo $SHADY_FG || echo $SHADY_BG)" >want &&
		test_cmp want got || return 1
	done
'

test_done
