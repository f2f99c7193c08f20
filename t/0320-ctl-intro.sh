#!/bin/sh
test_description='tandemctl intro and route: introductions checked to the root, on both databases'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

SQLDIR=$TANDEM_SRC/sql
FG_KIND=2.25.109992342083808958172386236843414805153.1.2

# forge NAME CADIR SAN: an FG certificate made with plain openssl,
# signed with CADIR's CA key: what tandem-ca itself refuses to issue.
forge() {
	printf '%s\n' "[v3]" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyAgreement" \
		"extendedKeyUsage=emailProtection" \
		"certificatePolicies=$FG_KIND" "subjectAltName=$3" >"$1.cnf" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -subj "/CN=fg" -out "$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$1.csr" -CA "$2/ca.crt" -CAkey "$2/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 \
		-extfile "$1.cnf" -extensions v3 -out "$1.crt" 2>/dev/null
}

# The rows of introductions, without the time (checked apart).
rows() {
	tandemctl intro list --db "$1" >list.out &&
	sed "s/ [0-9-]*T[0-9:]*Z\$//" list.out
}

test_expect_success_here 'two clusters, migrated' '
	pg_start fg && pg_start bg &&
	pg_createdb fg fg && pg_createdb bg bg &&
	FG=$(pg_conninfo fg fg) && BG=$(pg_conninfo bg bg) &&
	tandemctl db migrate --fg --db "$FG" --sqldir "$SQLDIR" >/dev/null &&
	tandemctl db migrate --bg --db "$BG" --sqldir "$SQLDIR" >/dev/null
'

test_expect_success 'a hierarchy from tandem-ca' '
	tandem-ca root -d root --name "Tandem Root" &&
	tandem-ca courier -d isp --name isp.example --role public \
		--superior root &&
	tandem-ca courier -d corp --name example.org --role private \
		--domain example.org --superior isp &&
	tandem-ca courier -d gw --name gw.example --role gateway \
		--superior root &&
	tandem-ca element -d corp --fg tandem@example.org &&
	tandem-ca element -d corp --bg https://bg.example.org/tandem &&
	tandem-ca element -d isp --fg tandem@isp.example &&
	tandem-ca element -d gw --bg https://bg.gw.example/ &&
	tandem-ca root -d fakeroot --name "Tandem Root" &&
	tandem-ca courier -d fake --name example.org --role private \
		--domain example.org --superior fakeroot &&
	tandem-ca element -d fake --fg tandem@example.org
'

test_expect_success 'intro add learns each element from its certificate' '
	tandemctl intro add --db "$FG" --cert corp/elements/bg.crt \
		--chain corp/chain.pem --anchors root/root.crt >out &&
	echo "introduction example.org bg https://bg.example.org/tandem domains example.org" >expect &&
	test_cmp expect out &&
	tandemctl intro add --db "$FG" --cert corp/elements/fg.crt \
		--chain corp/chain.pem --anchors root/root.crt >out &&
	echo "introduction example.org fg tandem@example.org domains example.org" >expect &&
	test_cmp expect out &&
	tandemctl intro add --db "$FG" --cert isp/elements/fg.crt \
		--chain isp/chain.pem --anchors root/root.crt >out &&
	echo "introduction isp.example fg tandem@isp.example domains -" >expect &&
	test_cmp expect out &&
	tandemctl intro add --db "$FG" --cert gw/elements/bg.crt \
		--chain gw/chain.pem --anchors root/root.crt >out &&
	echo "introduction gw.example bg https://bg.gw.example/ domains -" >expect &&
	test_cmp expect out
'

test_expect_success 'intro list: one line per introduction' '
	rows "$FG" >got &&
	cat >expect <<-\EOF &&
	example.org bg https://bg.example.org/tandem example.org
	example.org fg tandem@example.org example.org
	gw.example bg https://bg.gw.example/ -
	isp.example fg tandem@isp.example -
	EOF
	test_cmp expect got &&
	test "$(grep -c " [0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]\{8\}Z\$" list.out)" = 4
'

test_expect_success 'the row keeps role, certificate and chain' '
	pg_psql fg fg -c "SELECT role, domains FROM introductions WHERE courier = \$\$example.org\$\$ AND element = \$\$bg\$\$" >row.got &&
	echo "private|{example.org}" >expect &&
	test_cmp expect row.got &&
	pg_psql fg fg -c "SELECT certificate FROM introductions WHERE courier = \$\$example.org\$\$ AND element = \$\$bg\$\$" >cert.got &&
	cat corp/elements/bg.crt corp/chain.pem >cert.expect &&
	echo >>cert.expect &&
	test_cmp cert.expect cert.got &&
	test "$(pg_psql fg fg -c "SELECT role FROM introductions WHERE courier = \$\$gw.example\$\$")" = gateway
'

test_expect_success 'adding again replaces the row' '
	tandemctl intro add --db "$FG" --cert corp/elements/bg.crt \
		--chain corp/chain.pem --anchors root/root.crt >/dev/null &&
	rows "$FG" >got2 &&
	test_cmp got got2
'

test_expect_success 'refused: a forged certificate under the same names' '
	test_expect_code 65 tandemctl intro add --db "$FG" \
		--cert fake/elements/fg.crt --chain corp/chain.pem \
		--anchors root/root.crt 2>err &&
	test_grep "^tandemctl: fake/elements/fg.crt: untrusted introduction: " err
'

test_expect_success 'refused: a private courier element outside its domain' '
	forge evil corp email:tandem@evil.example &&
	test_expect_code 65 tandemctl intro add --db "$FG" --cert evil.crt \
		--chain corp/chain.pem --anchors root/root.crt 2>err &&
	test_grep "^tandemctl: evil.crt: untrusted introduction: .*permitted subtree violation" err
'

test_expect_success 'refused: a hierarchy under another root' '
	test_expect_code 65 tandemctl intro add --db "$FG" \
		--cert fake/elements/fg.crt --chain fake/chain.pem \
		--anchors root/root.crt 2>err &&
	test_grep "^tandemctl: fake/elements/fg.crt: untrusted introduction: " err
'

test_expect_success 'refused: a courier CA is not an element' '
	test_expect_code 65 tandemctl intro add --db "$FG" \
		--cert corp/ca.crt --chain corp/chain.pem \
		--anchors root/root.crt 2>err &&
	echo "tandemctl: corp/ca.crt: introduction: certificate of kind courier-ca, not an element" >expect &&
	test_cmp expect err
'

test_expect_success 'refused: a courier whose name is not domain-like' '
	tandem-ca element -d root --fg tandem@root.example &&
	test_expect_code 65 tandemctl intro add --db "$FG" \
		--cert root/elements/fg.crt --chain root/chain.pem \
		--anchors root/root.crt 2>err &&
	echo "tandemctl: root/elements/fg.crt: introduction: courier CA name \"Tandem Root\" is not a domain-like name" >expect &&
	test_cmp expect err
'

test_expect_success 'nothing refused was stored' '
	rows "$FG" >got3 &&
	test_cmp got got3
'

test_expect_success 'bad command lines and files' '
	test_expect_code 64 tandemctl intro add --db "$FG" \
		--cert corp/elements/bg.crt 2>err &&
	test_grep "intro add needs --cert, --chain and --anchors" err &&
	test_expect_code 66 tandemctl intro add --db "$FG" --cert nothere.crt \
		--chain corp/chain.pem --anchors root/root.crt 2>err &&
	test_grep "nothere.crt" err &&
	test_expect_code 64 tandemctl intro frob --db "$FG" 2>err &&
	test_grep "intro: unknown command \"frob\"" err &&
	test_expect_code 64 tandemctl intro list 2>err &&
	test_grep "\-\-db CONNINFO is required" err &&
	test_expect_code 64 tandemctl intro remove --db "$FG" \
		--courier x --element mx 2>err &&
	test_grep "\-\-element: fg or bg, not \"mx\"" err
'

test_expect_success 'intro remove: one element, then the rest' '
	tandemctl intro remove --db "$FG" --courier example.org \
		--element bg >out &&
	echo "removed 1 introduction of example.org" >expect &&
	test_cmp expect out &&
	test_expect_code 65 tandemctl intro remove --db "$FG" \
		--courier example.org --element bg 2>err &&
	echo "tandemctl: no introduction of example.org for element bg" >expect &&
	test_cmp expect err &&
	tandemctl intro remove --db "$FG" --courier example.org >out &&
	echo "removed 1 introduction of example.org" >expect &&
	test_cmp expect out &&
	rows "$FG" >got &&
	printf "gw.example bg https://bg.gw.example/ -\nisp.example fg tandem@isp.example -\n" >expect &&
	test_cmp expect got
'

test_expect_success 'the background database takes the same commands' '
	tandemctl intro add --db "$BG" --cert corp/elements/bg.crt \
		--chain corp/chain.pem --anchors root/root.crt >out &&
	echo "introduction example.org bg https://bg.example.org/tandem domains example.org" >expect &&
	test_cmp expect out &&
	rows "$BG" >got &&
	echo "example.org bg https://bg.example.org/tandem example.org" >expect &&
	test_cmp expect got &&
	tandemctl intro remove --db "$BG" --courier example.org >out &&
	test "$(pg_psql bg bg -c "SELECT count(*) FROM introductions")" = 0
'

test_expect_success 'route list and remove' '
	for db in fg bg; do
		pg_psql $db $db -c "INSERT INTO address_routes (address, courier, reason, learned_at) VALUES (\$\$dave@b.example\$\$, \$\$b.example\$\$, \$\$rejected\$\$, \$\$2026-01-31T12:00:00Z\$\$), (\$\$ann@c.example\$\$, \$\$c.example\$\$, \$\$introduced\$\$, \$\$2026-02-01T08:30:00Z\$\$)" || return 1
	done &&
	tandemctl route list --db "$FG" >out &&
	cat >expect <<-\EOF &&
	ann@c.example c.example introduced 2026-02-01T08:30:00Z
	dave@b.example b.example rejected 2026-01-31T12:00:00Z
	EOF
	test_cmp expect out &&
	tandemctl route list --db "$BG" --address dave@b.example >out &&
	echo "dave@b.example b.example rejected 2026-01-31T12:00:00Z" >expect &&
	test_cmp expect out &&
	tandemctl route remove --db "$BG" --address dave@b.example >out &&
	echo "removed route of dave@b.example" >expect &&
	test_cmp expect out &&
	test_expect_code 65 tandemctl route remove --db "$BG" \
		--address dave@b.example 2>err &&
	echo "tandemctl: no route of dave@b.example" >expect &&
	test_cmp expect err &&
	test_expect_code 64 tandemctl route remove --db "$FG" 2>err &&
	test_grep "route remove needs --address A" err &&
	test "$(pg_psql fg fg -c "SELECT count(*) FROM address_routes")" = 2
'

test_done
