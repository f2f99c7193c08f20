#!/bin/sh
test_description='federation: the root revokes a courier; its introductions, its mail and its ARMs are refused everywhere, naming the certificate'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog curl || test_skip_all 'curl is missing'

. "$TANDEM_SRC/t/lib-hostile.sh"

# root, isp (public, under root), corp (private, under isp) and home
# (private, under root) run, every element checking revocation lists
# (tls.crl_file, crl_missing = refuse): the lists of the eight CAs, the
# four couriers' and their issuing CAs' (root's courier CA is the root
# CA). carol is at root, alice at isp, bob at corp, dave at home. Mail
# goes; then root, which certified home, revokes home's CA certificate,
# and root, isp and corp restart with the new lists. home keeps the
# ones it had, as a courier that has not heard goes on. From then on
# whatever home's elements sign is refused with a reason naming home's
# CA certificate (doc/pki.md, revocation): its introductions to isp on
# both paths (t/lib-hostile.sh writes them with home's own keys), the
# inter-courier message and the ARM of dave's mail to carol, which
# home's elements send themselves, and an inter-courier message sent
# by hand. Mail between isp and corp still flows.

# crls X FILE...: the lists FILE... of $FED_TOP/pki as X's crls.pem
crls() {
	_x=$1
	shift
	(cd "$FED_TOP/pki" && cat "$@") >"$FED_TOP/$_x/crls.pem.new" &&
	chmod 644 "$FED_TOP/$_x/crls.pem.new" &&
	mv "$FED_TOP/$_x/crls.pem.new" "$FED_TOP/$_x/crls.pem"
}

CAS="root root/issuing isp isp/issuing corp corp/issuing home home/issuing"
LISTS=$(for d in $CAS; do printf "%s/crl.pem " $d; done)

test_expect_success_here 'root, isp, corp and home run, each element with the lists of the eight CAs; carol at root, alice at isp, bob at corp, dave at home' '
	fed_pki root isp corp home &&
	for d in $CAS; do
		tandem-ca crl -d "$FED_TOP/pki/$d" >/dev/null || return 1
	done &&
	for x in root isp corp home; do crls $x $LISTS || return 1; done &&
	FED_CRL_MISSING=refuse && fed_start root isp corp home &&
	for x in root isp corp home; do
		for k in FG BG; do
			test_grep "^	crl_file = \"$FED_TOP/$x/crls.pem\"\$" "$(fed_var $x CR_${k}_CONF)" &&
			test_grep "^	crl_missing = refuse\$" "$(fed_var $x CR_${k}_CONF)" ||
			return 1
		done
	done &&
	test $(grep -c "BEGIN X509 CRL" "$FED_TOP/home/crls.pem") = 8 &&
	fed_register root carol && fed_register isp alice &&
	fed_register corp bob && fed_register home dave
'

# letter FROM TO ID: a message FROM writes to TO, in ID.eml
letter() {
	printf "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n\r\nThis is %s.\r\n" \
		"$1" "$2" "$3" "$3" "${1#*@}" "$3" >"$3.eml"
}

# mail_in X USER Y USER2 ID: USER@X.example writes to USER2@Y.example;
# both halves arrive at Y, the content in USER2's Maildir, the ARM in
# Y's background for USER2's agent
mail_in() {
	letter $2@$1.example $4@$3.example $5 &&
	fed_agent $1 $2 send --to $4@$3.example --in $5.eml >out &&
	echo $5@$1.example >want && test_cmp want out &&
	fed_in $3 maildir_wait $4 "^Message-ID: <$5@$1.example>" 60 >/dev/null &&
	fed_wait_bg $3 "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$5@$1.example\$\$" 1 60
}

# mail_ok X USER Y USER2 ID: mail_in, and USER2 reads it byte for byte
mail_ok() {
	mail_in "$@" &&
	fed_agent $3 $4 fetch >/dev/null &&
	fed_agent $3 $4 read --id $5@$1.example >got &&
	test_cmp $5.eml got
}

test_expect_success 'with the lists in place, mail goes: dave (home) to carol (root) and back, alice (isp) to bob (corp)' '
	mail_ok home dave root carol m1 &&
	mail_ok root carol home dave m2 &&
	mail_ok isp alice corp bob m3
'

# restart X: X's milter and policyd start again, reading the new lists
# (a reload would do, but the milter rereads its files as
# foreground.user, which may not read the harness's keybox key)
restart() {
	fed_in $1 courier_milter_stop && fed_in $1 courier_milter_start &&
	fed_in $1 courier_policyd_stop && fed_in $1 courier_policyd_start
}

test_expect_success 'root revokes home'"'"'s CA certificate; root, isp and corp restart with the new lists, home keeps its own' '
	hostile_state isp >isp.before &&
	openssl x509 -noout -serial -in "$FED_TOP/pki/home/ca.crt" |
	    sed "s/^serial=//" >home.serial &&
	tandem-ca revoke -d "$FED_TOP/pki/root" --reason keyCompromise \
	    "$FED_TOP/pki/home/ca.crt" >/dev/null &&
	for x in root isp corp; do crls $x $LISTS || return 1; done &&
	! cmp -s "$FED_TOP/root/crls.pem" "$FED_TOP/home/crls.pem" &&
	restart root && restart isp && restart corp
'

# revoked: the reason that names home's CA certificate, as a pattern
revoked() {
	echo "certificate $(cat home.serial) (home\.example) of CA root\.example is revoked: keyCompromise"
}

# refused_fg X: X's milter refused mail of home's FG with 550 5.7.7
# naming the certificate (the wrap's signature is checked first, so an
# introduction is refused as the inter-courier message that carries it)
refused_fg() {
	test_wait_log "$(fed_log $1 fg)" "from=tandem@home\.example status=reject reason=\"5\.7\.7 inter-courier: $(revoked)\"\$" 60
}

test_expect_success 'home introduces itself to isp by mail: 550 5.7.7, naming its revoked certificate; isp learns nothing' '
	hostile_intro h1.fg h1@home.example home fg private "Domain: home.example" &&
	rm -f swaks.out && { hostile_fg_send h1.fg home isp; true; } &&
	test_grep "^<\*\* *550 5\.7\.7 inter-courier: $(revoked)" swaks.out &&
	refused_fg isp &&
	hostile_state isp >got && test_cmp isp.before got
'

test_expect_success 'home introduces itself to isp by HTTPS: the handshake is refused, isp'"'"'s background names the certificate' '
	hostile_intro h1.bg h1@home.example home bg private "Domain: home.example" &&
	hostile_bg_send 000 h1.bg home isp &&
	test_wait_log "$(fed_log isp bg)" "tls status=refused reason=\"$(revoked)\"\$" 10 &&
	hostile_state isp >got && test_cmp isp.before got
'

test_expect_success 'dave writes to carol: root'"'"'s milter refuses home'"'"'s inter-courier message, 550 5.7.7 naming the certificate, which home'"'"'s Postfix bounces' '
	letter dave@home.example carol@root.example r1 &&
	fed_agent home dave send --to carol@root.example --in r1.eml >out &&
	echo r1@home.example >want && test_cmp want out &&
	test_grep "msgid=r1@home.example rcpt=carol@root.example route=to-learned-courier to=root.example" "$(fed_log home fg)" &&
	refused_fg root &&
	test_wait_log "$FED_TOP/home/postfix-fg/maillog" "to=<tandem@root\.example>, .* dsn=5\.7\.7, status=bounced (host .* said: 550 5\.7\.7 inter-courier: $(revoked) (in reply to end of DATA command))" 30 &&
	test_must_fail fed_in root cr_maildir_match carol "^Message-ID: <r1@home.example>"
'

test_expect_success 'and root'"'"'s background refuses home'"'"'s at the handshake, naming the certificate: the ARM stays in home'"'"'s outbox' '
	test_wait_log "$(fed_log root bg)" "tls status=refused reason=\"$(revoked)\"\$" 60 &&
	id=$(fed_bg_sql home "SELECT id FROM bg_outbox WHERE message_id = \$\$r1@home.example\$\$") &&
	test -n "$id" &&
	test_wait_log "$(fed_log home bg)" "courier-send id=$id url=$(fed_var root CR_BG_URL) status=retry" 30 &&
	test "$(fed_bg_sql root "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$r1@home.example\$\$")" = 0
'

test_expect_success 'an inter-courier message from home'"'"'s foreground sent by hand: 550 5.7.7, naming the certificate, nothing for carol' '
	openssl rand 512 >i1.sealed &&
	hostile_ic i1.fg i1@home.example home fg root i1@home.example dave@home.example i1.sealed carol@root.example &&
	rm -f swaks.out && { hostile_fg_send i1.fg home root; true; } &&
	test_grep "^<\*\* *550 5\.7\.7 inter-courier: $(revoked)" swaks.out &&
	test "$(fed_fg_sql root "SELECT count(*) FROM outbox WHERE message_id = \$\$i1@home.example\$\$")" = 0
'

test_expect_success 'isp and corp still exchange mail both ways' '
	mail_ok isp alice corp bob m4 &&
	mail_ok corp bob isp alice m5
'

test_done
