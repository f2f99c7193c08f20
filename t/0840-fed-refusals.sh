test_description='federation: forged and replayed introductions, a deferral loop and an unroutable address, on both elements'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'
test_have_prog curl || test_skip_all 'curl is missing'

# root, isp (public, under root), corp (private, under isp), home
# (private, under root). Forged introductions go to home's FG (by mail
# to its smtpd) and BG (POST /v1/courier); bob@corp.example's messages
# go through the real Postfix instances and elements.

test_expect_success_here 'root, isp, corp and home run; bob at corp' '
	fed_pki root isp corp home && fed_start root isp corp home &&
	fed_register corp bob
'

P=$FED_TOP/pki

# intro OUT ID DIR KIND ADDRESS...: an introduction of the KIND (fg|bg)
# element of the courier CA folder $P/DIR, for corp.example (private),
# listing the addresses.
intro() {
	_o=$1 _id=$2 _d=$P/$3 _k=$4
	shift 4
	if [ $_k = fg ]; then _e=foreground _a=tandem@corp.example
	else _e=background _a=$(fed_var corp CR_BG_URL); fi
	part() {
		printf -- "--b1\r\nContent-Type: %s\r\n" "$1"
		printf "Content-Transfer-Encoding: base64\r\nTandem-Part: %s\r\n\r\n" "$2"
		base64 -w 76 "$3" | sed "s/\$/\r/"
	}
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.introduction\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s\r\nDate: %s\r\n" "$_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf "Courier: corp.example\r\nRole: private\r\n"
		printf "Element: %s\r\nElement-Address: %s\r\n" $_e "$_a"
		printf "Domain: corp.example\r\n"
		for _r; do printf "Address: %s\r\n" "$_r"; done
		part application/pem-certificate-chain element-cert $_d/elements/$_k.crt
		part application/pem-certificate-chain ca-chain $_d/chain.pem
		printf -- "--b1--\r\n"
	} >"$_o"
}

# wrap IN DIR KIND: IN signed by $P/DIR's KIND element, enveloped to
# home's element of that kind: IN.p7m
wrap() {
	openssl cms -sign -binary -nodetach -in "$1" -outform DER \
	    -signer $P/$2/elements/$3.crt -inkey $P/$2/elements/$3.key \
	    -certfile $P/$2/chain.pem -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$1.signed" \
	    -inform DER -outform DER -recip $P/home/elements/$3.crt \
	    -keyopt ecdh_kdf_md:sha256 -out "$1.p7m"
}

# fg_send IN DIR: IN wrapped by DIR's FG, mailed from tandem@corp.example
# to home's service mailbox at home's smtpd; swaks' reply in swaks.out
fg_send() {
	wrap "$1" $2 fg && {
		printf "From: tandem@corp.example\r\nTo: tandem@home.example\r\n"
		printf "Subject: Tandem inter-courier message\r\n"
		printf "Message-ID: <%s>\r\n" "$1.$(od -An -N6 -tx1 /dev/urandom | tr -d " \n")@corp.example"
		printf "MIME-Version: 1.0\r\nTandem-Kind: inter-courier\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 "$1.p7m" | sed "s/\$/\r/"
	} >"$1.eml" &&
	swaks --server "$(fed_var home CR_FG_ADDR):$(fed_var home CR_SMTP_PORT)" \
	    --from tandem@corp.example --to tandem@home.example \
	    --data "@$1.eml" >swaks.out 2>&1
}

# bg_send WANT IN DIR: IN wrapped by DIR's BG, posted to home's BG with
# DIR's BG certificate as TLS client; the body in out.body
bg_send() {
	wrap "$2" $3 bg &&
	cat $P/$3/elements/bg.crt $P/$3/chain.pem >client.pem &&
	got=$(curl -s -o out.body -w "%{http_code}" --cert client.pem \
	    --key $P/$3/elements/bg.key --cacert $P/root/root.crt \
	    --resolve "bg.home.example:$(fed_var home CR_BG_PORT):$(fed_var home CR_BG_ADDR)" \
	    --data-binary "@$2.p7m" -H "Content-Type: application/pkcs7-mime" \
	    "$(fed_var home CR_BG_URL)v1/courier")
	[ "$got" = "$1" ] && return 0
	echo "bg_send: $2: got $got, want $1"; cat out.body
	return 1
}

# learned X: X's introductions and routes, both elements, one line each
learned() {
	for k in fg bg; do
		fed_${k}_sql $1 "SELECT '$k', courier FROM introductions ORDER BY 2" &&
		fed_${k}_sql $1 "SELECT '$k', address, courier, reason, learned_at FROM address_routes ORDER BY 2"
	done
}

test_expect_success 'home knows only root' '
	learned home >before &&
	printf "fg|root.example\nbg|root.example\n" >want &&
	test_cmp want before
'

test_expect_success 'an introduction under a second root: refused on both elements, nothing learned' '
	(
		cd "$P" &&
		tandem-ca root -d evil --name root.example &&
		tandem-ca courier -d evil/corp --name corp.example \
		    --role private --superior evil --domain corp.example &&
		tandem-ca element -d evil/corp --fg tandem@corp.example &&
		tandem-ca element -d evil/corp --bg "$(fed_var corp CR_BG_URL)"
	) >evil.log 2>&1 &&
	intro e1.fg e1@corp.example evil/corp fg bob@corp.example &&
	test_must_fail fg_send e1.fg evil/corp &&
	test_grep "550 5.7.7 inter-courier: signer certificate does not chain to a trust anchor" swaks.out &&
	test_wait_log "$(fed_log home fg)" "status=reject reason=\"5.7.7 inter-courier: signer certificate does not chain to a trust anchor" &&
	intro e1.bg e1@corp.example evil/corp bg bob@corp.example &&
	bg_send 000 e1.bg evil/corp &&
	test_wait_log "$(fed_log home bg)" "tls status=refused" &&
	learned home >got && test_cmp before got
'

test_expect_success 'a private courier introducing an address outside its domain: refused on both, nothing learned' '
	intro o1.fg o1@corp.example corp fg frank@home.example &&
	test_must_fail fg_send o1.fg corp &&
	test_grep "550 5.7.7 introduction: private courier corp.example claims address frank@home.example outside its name constraints" swaks.out &&
	test_wait_log "$(fed_log home fg)" "status=reject reason=\"5.7.7 introduction: private courier corp.example claims address frank@home.example outside its name constraints\" peer=corp.example" &&
	intro o1.bg o1@corp.example corp bg frank@home.example &&
	bg_send 403 o1.bg corp &&
	test_grep "outside its name constraints" out.body &&
	learned home >got && test_cmp before got
'

test_expect_success 'a genuine introduction is recorded once; replayed, it changes nothing' '
	intro r1.fg r1@corp.example corp fg bob@corp.example &&
	fg_send r1.fg corp && test_grep "250 " swaks.out &&
	test_wait_log "$(fed_log home fg)" "peer=corp.example introduction=corp.example addresses=1 released=0" &&
	intro r1.bg r1@corp.example corp bg bob@corp.example &&
	bg_send 201 r1.bg corp &&
	fed_wait_fg home "SELECT count(*) FROM address_routes" 1 &&
	learned home >once &&
	printf "fg|corp.example\nfg|root.example\n" >want &&
	grep -v "@" once | head -2 >got && test_cmp want got &&
	grep "^fg|bob@corp.example|corp.example|introduced|" once &&
	grep "^bg|bob@corp.example|corp.example|introduced|" once &&
	fg_send r1.fg corp && test_grep "250 " swaks.out &&
	test_wait_log "$(fed_log home fg)" "peer=corp.example introduction=corp.example duplicate=yes" &&
	bg_send 200 r1.bg corp &&
	learned home >twice && test_cmp once twice
'

# A registration home's CA process must refuse: an invitation (made by
# hand, as an older tandemctl would have) for an address outside home's
# name constraints. The CA issues, its check of what it issued fails.
test_expect_success 'a registration the CA process refuses: 550 5.7.1, not a tempfail; nothing stored' '
	tok=Zm9yLWFuLWFkZHJlc3Mtb3V0c2lkZS1ob21l &&
	fed_fg_sql home "INSERT INTO invitations (address, message_id, token_hash, expires_at) VALUES (\$\$dave@elsewhere.example\$\$, \$\$ca-1@home.example\$\$, sha256(\$\$$tok\$\$::bytea), now() + interval \$\$1 day\$\$)" >/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout dave.key -subj /CN=dave@elsewhere.example \
	    -addext subjectAltName=email:dave@elsewhere.example \
	    -out dave.csr 2>/dev/null &&
	"$TANDEM_BUILD/t/milter-regmail" $P/home/elements/fg.crt \
	    dave@elsewhere.example tandem@home.example dave@elsewhere.example \
	    "$tok" dave.csr >reg.eml &&
	test_must_fail swaks --server "$(fed_var home CR_FG_ADDR):$(fed_var home CR_SMTP_PORT)" \
	    --from dave@elsewhere.example --to tandem@home.example \
	    --data @reg.eml >swaks.out 2>&1 &&
	test_grep "550 5.7.1 registration refused by the CA: issued courier-end certificate does not verify: dave@elsewhere.example: permitted subtree violation" swaks.out &&
	test_grep_not "451 4" swaks.out &&
	test_wait_log "$(fed_log home fg)" "from=dave@elsewhere.example status=reject reason=\"5.7.1 registration refused by the CA" &&
	test "$(fed_fg_sql home "SELECT count(*) FROM accounts WHERE address = \$\$dave@elsewhere.example\$\$")" = 0 &&
	test "$(fed_fg_sql home "SELECT count(*) FROM account_keys WHERE address = \$\$dave@elsewhere.example\$\$")" = 0 &&
	test "$(fed_fg_sql home "SELECT status FROM invitations WHERE address = \$\$dave@elsewhere.example\$\$")" = pending
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
printf "From: bob@corp.example\r\nTo: zed@nowhere.example\r\nSubject: loop\r\nMessage-ID: <l1@corp.example>\r\n\r\n%s\r\n" "$secret" >l1.eml
printf "From: bob@corp.example\r\nTo: yan@nowhere.example\r\nSubject: dead end\r\nMessage-ID: <u1@corp.example>\r\n\r\n%s\r\n" "$secret" >u1.eml

# route X ADDRESS Y: a (wrong) learned route on both of X's elements
route() {
	for k in fg bg; do
		fed_${k}_sql $1 "INSERT INTO address_routes (address, courier, reason) VALUES (\$\$$2\$\$, \$\$$3\$\$, \$\$rejected\$\$)" >/dev/null ||
		return 1
	done
}

test_expect_success 'a deferral loop: isp and root route zed to each other; it stops, bob is told' '
	route isp zed@nowhere.example root.example &&
	route root zed@nowhere.example isp.example &&
	fed_agent corp bob send --to zed@nowhere.example --in l1.eml >/dev/null &&
	f=$(fed_in corp maildir_wait bob "could not be delivered to zed@nowhere.example" 120) &&
	test_grep "^Subject: Tandem: undeliverable private message" "$f" &&
	test_grep "Your private message l1@corp.example could not be delivered to zed@nowhere.example" "$f" &&
	test_grep "^Reason: routing loop: the route leads back to the sender" "$f" &&
	test_grep "msgid=l1@corp.example rcpt=zed@nowhere.example route=defer-to-superior to=isp.example" "$(fed_log corp fg)" &&
	test_grep "peer=corp.example .* msgid=l1@corp.example origin=corp.example hops=1 rcpt=zed@nowhere.example route=to-learned-courier forwarded=root.example" "$(fed_log isp fg)" &&
	test_grep "peer=isp.example .* msgid=l1@corp.example origin=corp.example hops=2 rcpt=zed@nowhere.example route=reject notice=\"routing loop: the route leads back to the sender\"" "$(fed_log root fg)" &&
	test_grep "courier msgid=l1@corp.example rcpt=zed@nowhere.example action=forward courier=root.example hops=2 origin=corp.example" "$(fed_log isp bg)" &&
	test_wait_log "$(fed_log root bg)" "courier msgid=l1@corp.example rcpt=zed@nowhere.example action=drop reason=\"routing loop: the route leads back to the sender\"" &&
	cat "$f" >l1.notice
'

test_expect_success 'an unroutable address: isp sends yan to private home, which cannot route it; bob is told' '
	fed_intro isp home && fed_intro home isp &&
	route isp yan@nowhere.example home.example &&
	fed_agent corp bob send --to yan@nowhere.example --in u1.eml >/dev/null &&
	f=$(fed_in corp maildir_wait bob "could not be delivered to yan@nowhere.example" 120) &&
	test_grep "Your private message u1@corp.example could not be delivered to yan@nowhere.example" "$f" &&
	test_grep "^Reason: no route from here: this courier is no relay" "$f" &&
	test_grep "peer=isp.example .* msgid=u1@corp.example origin=corp.example hops=2 rcpt=yan@nowhere.example route=reject notice=\"no route from here: this courier is no relay\"" "$(fed_log home fg)" &&
	test_wait_log "$(fed_log home bg)" "courier msgid=u1@corp.example rcpt=yan@nowhere.example action=drop reason=\"no route from here: this courier is no relay\"" &&
	cat "$f" >u1.notice
'

test_expect_success 'neither half of either message was delivered or held anywhere' '
	for x in root isp corp home; do
		for m in l1 u1; do
			test "$(fed_bg_sql $x "SELECT count(*) FROM agent_mailbox WHERE message_id = \$\$$m@corp.example\$\$")" = 0 &&
			test "$(fed_bg_sql $x "SELECT count(*) FROM held_arms WHERE message_id = \$\$$m@corp.example\$\$")" = 0 &&
			test "$(fed_fg_sql $x "SELECT count(*) FROM held_messages WHERE message_id = \$\$$m@corp.example\$\$")" = 0 ||
			{ echo "$m at $x"; return 1; }
		done
	done &&
	! grep -rl "^Message-ID: <[lu]1@corp.example>" "$FED_TOP"/*/mail
'

# The content keys of l1 and u1 never left bob's agent and his BG (no
# agent fetched them), so there is no key to look for: the check here
# is that the text is on no element.
test_expect_success 'split trust: the text is on no element' '
	for x in root isp corp home; do
		fed_split_trust $x "$secret" "$secret" || return 1
	done
'

test_done
