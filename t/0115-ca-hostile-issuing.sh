#!/bin/sh
test_description='the milter issues with an issuing CA, never the courier CA key: what it may sign, who holds it'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'

# Owning the foreground host must not give the courier's CA key
# (issue 14, section 4): the milter holds only an issuing CA made by
# "tandem-ca issuing", limited to agent and courier-end certificates in
# the courier's domains, read by a CA process under a user of its own.

OID=2.25.109992342083808958172386236843414805153

# forge NAME CADIR DAYS EXT...: a certificate made with plain openssl,
# signed by the issuing CA of CADIR, with the given extension lines.
forge() {
	_n=$1 _ca=$2/issuing _days=$3
	shift 3
	printf '[v3]\n' >"$_n.cnf"
	for _l; do printf '%s\n' "$_l" >>"$_n.cnf"; done
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$_n.key" -subj "/CN=$_n" -out "$_n.csr" 2>/dev/null &&
	openssl x509 -req -in "$_n.csr" -CA "$_ca/issuing.crt" \
		-CAkey "$_ca/issuing.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days "$_days" \
		-extfile "$_n.cnf" -extensions v3 -out "$_n.crt" 2>/dev/null
}

leaf_ext() {
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyAgreement" \
		"extendedKeyUsage=emailProtection" \
		"certificatePolicies=$OID.1.$1" "subjectAltName=$2"
}

# verify DIR CERT [--email ADDR]: tandem-ca verify with DIR's issuing chain
verify() {
	_d=$1 _c=$2
	shift 2
	tandem-ca verify --anchor root/root.crt --chain "$_d/issuing/chain.pem" \
		"$@" "$_c"
}

test_expect_success 'tandem-ca issuing: an issuing CA for a public and a private courier' '
	tandem-ca root -d root --name root.example &&
	tandem-ca courier -d isp --name isp.example --role public --superior root &&
	tandem-ca courier -d corp --name corp.example --role private \
		--domain corp.example --superior isp &&
	tandem-ca issuing -d isp --domain isp.example --domain isp.test &&
	tandem-ca issuing -d corp --domain corp.example &&
	ls isp/issuing >files &&
	printf "%s\n" chain.pem issuing.crt issuing.key >expect &&
	test_cmp expect files &&
	test "$(stat -c %a isp/issuing/issuing.key)" = 600 &&
	test "$(grep -c "BEGIN CERTIFICATE" isp/issuing/chain.pem)" = 3 &&
	verify isp isp/issuing/issuing.crt >out && echo ok >expect &&
	test_cmp expect out && verify corp corp/issuing/issuing.crt
'

test_expect_success 'the issuing CA: kind 1.6, CA with path length 0, critical name constraints' '
	openssl x509 -in isp/issuing/issuing.crt -noout -text >ica.txt &&
	test_grep "Policy: $OID.1.6\$" ica.txt &&
	test_grep "CA:TRUE, pathlen:0" ica.txt &&
	test_grep "Basic Constraints: critical" ica.txt &&
	test_grep "Name Constraints: critical" ica.txt &&
	test_grep "email:.isp.example" ica.txt &&
	test_grep "DNS:isp.test" ica.txt &&
	test_grep "Certificate Sign" ica.txt &&
	openssl x509 -in isp/issuing/issuing.crt -noout -subject \
		-nameopt RFC2253 >subj &&
	echo "subject=CN=isp.example,OU=issuing CA" >expect &&
	test_cmp expect subj
'

test_expect_success 'tandem-ca issuing refuses a second one, no domain and a bad domain' '
	cp isp/issuing/issuing.key saved.key &&
	test_expect_code 73 tandem-ca issuing -d isp --domain isp.example 2>err &&
	test_grep "issuing.key: exists, refusing to overwrite" err &&
	cmp saved.key isp/issuing/issuing.key &&
	test_expect_code 64 tandem-ca issuing -d corp 2>err &&
	tandem-ca courier -d home --name home.example --role public \
		--superior root &&
	test_expect_code 65 tandem-ca issuing -d home --domain "..bad" 2>err &&
	test_grep "bad domain name" err &&
	test_must_fail ls home/issuing/issuing.key
'

test_expect_success 'an agent certificate the issuing CA signs verifies: courier CA, then the issuing CA' '
	forge agent isp 30 $(leaf_ext 5 email:alice@isp.example) &&
	verify isp agent.crt --email alice@isp.example >out &&
	echo ok >expect && test_cmp expect out &&
	openssl verify -show_chain -CAfile root/root.crt \
		-untrusted isp/issuing/chain.pem agent.crt >chain.out &&
	test_grep "^depth=1: OU = issuing CA, CN = isp.example" chain.out &&
	test_grep "^depth=2: CN = isp.example" chain.out &&
	test_grep "^depth=3: CN = root.example" chain.out &&
	test_expect_code 1 tandem-ca verify --anchor root/root.crt \
		--chain isp/chain.pem agent.crt 2>err
'

test_expect_success 'the issuing CA cannot sign an element certificate' '
	forge fg isp 30 $(leaf_ext 2 email:tandem@isp.example) &&
	test_expect_code 5 verify isp fg.crt 2>err &&
	test_grep "a fg certificate signed by the issuing CA isp.example" err &&
	test_grep "only agent and courier-end" err
'

test_expect_success 'the issuing CA cannot sign a courier CA nor another issuing CA' '
	forge sub isp 30 "basicConstraints=critical,CA:TRUE" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"certificatePolicies=$OID.1.1,$OID.2.2" &&
	test_expect_code 5 verify isp sub.crt 2>err &&
	test_grep "courier signed by the issuing CA isp.example" err &&
	forge ica2 isp 30 "basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"nameConstraints=critical,permitted;email:isp.example,permitted;DNS:isp.example" \
		"certificatePolicies=$OID.1.6" &&
	test_expect_code 5 verify isp ica2.crt 2>err &&
	test_grep "which is not a courier CA" err
'

test_expect_success 'the issuing CA cannot sign outside its domains, nor name a host' '
	forge bank isp 30 $(leaf_ext 5 email:alice@bank.example) &&
	test_expect_code 4 verify isp bank.crt 2>err &&
	forge corpuser corp 30 $(leaf_ext 5 email:bob@isp.example) &&
	test_expect_code 4 verify corp corpuser.crt 2>err &&
	forge host isp 30 $(leaf_ext 5 "email:carol@isp.example,DNS:www.isp.example") &&
	test_expect_code 4 verify isp host.crt 2>err &&
	test_grep "only addresses" err &&
	forge ok isp 30 $(leaf_ext 4 email:carol@isp.test) &&
	verify isp ok.crt --email carol@isp.test
'

test_expect_success 'tandem-ca issuing refuses a courier CA of path length 0' '
	mkdir old &&
	printf "[v3]\n%s\n%s\n%s\n%s\n%s\n%s\n" \
		"basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"nameConstraints=critical,permitted;email:.old.example,permitted;DNS:old.example" \
		"certificatePolicies=$OID.1.1,$OID.2.3" \
		"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >old.cnf &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout old/ca.key -subj "/CN=old.example" -out old.csr 2>/dev/null &&
	openssl x509 -req -in old.csr -CA isp/ca.crt -CAkey isp/ca.key \
		-set_serial 0x4321 -days 30 -extfile old.cnf -extensions v3 \
		-out old/ca.crt 2>/dev/null &&
	cat old/ca.crt isp/chain.pem >old/chain.pem &&
	cp root/root.crt old/root.crt &&
	tandem-ca verify -d old old/ca.crt &&
	test_expect_code 77 tandem-ca issuing -d old --domain old.example 2>err &&
	test_grep "path length 0 leaves no room for an issuing CA" err &&
	test_must_fail ls old/issuing/issuing.key
'

test_expect_success 'an issuing CA without path length 0 is refused' '
	printf "[v3]\n%s\n%s\n%s\n%s\n%s\n" \
		"basicConstraints=critical,CA:TRUE" \
		"keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
		"nameConstraints=critical,permitted;email:.isp.example,permitted;DNS:isp.example" \
		"certificatePolicies=$OID.1.6" \
		"subjectKeyIdentifier=hash" >loose.cnf &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout loose.key -subj "/CN=loose" -out loose.csr 2>/dev/null &&
	openssl x509 -req -in loose.csr -CA isp/ca.crt -CAkey isp/ca.key \
		-set_serial 0x1234 -days 30 -extfile loose.cnf -extensions v3 \
		-out loose.crt 2>/dev/null &&
	test_expect_code 5 tandem-ca verify --anchor root/root.crt \
		--chain isp/chain.pem loose.crt 2>err &&
	test_grep "without path length 0" err
'

# The live part: a courier whose milter issues through its CA process.

test_expect_success_here 'a courier with both elements; its milter has the issuing CA' '
	courier_pki a.example &&
	courier_fg_start &&
	courier_bg_start &&
	agent_conf alice
'

test_expect_success 'foreground.ca_dir holds no courier CA key' '
	dir=$(sed -n "s/^[[:space:]]*ca_dir = \"\(.*\)\"/\1/p" "$CR_FG_CONF") &&
	test "$dir" = "$CR_CA/issuing" &&
	ls "$dir" >files &&
	printf "%s\n" chain.pem issuing.crt issuing.key >expect &&
	test_cmp expect files &&
	openssl pkey -in "$CR_CA/ca.key" -pubout >ca.pub &&
	openssl pkey -in "$dir/issuing.key" -pubout >ica.pub &&
	test_must_fail cmp -s ca.pub ica.pub
'

test_expect_success 'an agent certificate issued through the milter chains courier CA -> issuing CA' '
	agent_register alice &&
	courier_fg_sql "SELECT agent_cert FROM accounts WHERE address = \$\$alice@a.example\$\$" >agent.crt &&
	courier_fg_sql "SELECT courier_cert FROM accounts WHERE address = \$\$alice@a.example\$\$" >courier.crt &&
	for c in agent courier; do
		tandem-ca verify --anchor "$CR_ANCHOR" --chain "$CR_CHAIN" \
		    --email alice@a.example $c.crt >out &&
		echo ok >expect && test_cmp expect out &&
		openssl x509 -in $c.crt -noout -issuer -nameopt RFC2253 >iss &&
		echo "issuer=CN=a.example,OU=issuing CA" >expect &&
		test_cmp expect iss &&
		test_expect_code 1 tandem-ca verify --anchor "$CR_ANCHOR" \
		    --chain "$CR_CA/chain.pem" $c.crt 2>/dev/null || return 1
	done &&
	sqlite3 "$TRASH/agent-alice/store.db" \
	    "SELECT value FROM config WHERE name = '"'chain'"'" >agent-chain.pem &&
	openssl x509 -in "$CR_CA/issuing/issuing.crt" -noout -fingerprint >want &&
	openssl x509 -in agent-chain.pem -noout -fingerprint >got &&
	test_cmp want got
'

# bad_conf SED >FILE: the FG configuration changed by SED, on a socket
# of its own (a milter that wrongly starts must not take the real one's).
bad_conf() {
	sed -e "s|milter_socket = .*|milter_socket = \"unix:$TRASH/bad.sock\"|" \
	    -e "$1" "$CR_FG_CONF"
}

# must_refuse CODE CONF: tandem-milter exits with CODE, within 30 s.
must_refuse() {
	test_expect_code "$1" timeout 30 tandem-milter -c "$2" -f
}

test_expect_success 'the milter refuses a courier CA key, a loose issuing key and a chain without the issuing CA' '
	mkdir bad1 bad2 &&
	cp "$CR_CA/issuing/"* bad1/ && cp "$CR_CA/ca.key" bad1/ &&
	bad_conf "s|ca_dir = .*|ca_dir = \"$TRASH/bad1\"|" >bad1.conf &&
	must_refuse 78 bad1.conf 2>err &&
	test_grep "bad1/ca.key: a courier CA key has no place on the foreground" err &&
	cp "$CR_CA/issuing/"* bad2/ && chmod 640 bad2/issuing.key &&
	bad_conf "s|ca_dir = .*|ca_dir = \"$TRASH/bad2\"|" >bad2.conf &&
	must_refuse 78 bad2.conf 2>err &&
	test_grep "bad2/issuing.key: the issuing key is readable or writable by group or other (mode 0640)" err &&
	bad_conf "s|chain = .*|chain = \"$CR_CA/chain.pem\"|" >bad3.conf &&
	must_refuse 78 bad3.conf 2>err &&
	test_grep "lacks the issuing CA certificate" err
'

if [ "$(id -u)" != 0 ]; then
	test_skip 'the CA process runs as foreground.ca_user' 'not root'
	test_done
fi

test_expect_success 'as root: the CA process runs as ca_user, the milter as its own user' '
	mpid=$(cat "$TRASH/milter.pid") &&
	muid=$(sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" /proc/$mpid/status) &&
	test "$muid" = "$(id -u nobody)" &&
	cpid=$(sed -n "s/.*CA process pid=\([0-9]*\) .*/\1/p" "$TRASH/fg/milter.log" | tail -n 1) &&
	test -n "$cpid" &&
	test "$(sed -n "s/^PPid:[[:space:]]*//p" /proc/$cpid/status)" = "$mpid" &&
	cuid=$(sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" /proc/$cpid/status) &&
	test "$cuid" = "$(id -u daemon)" &&
	test "$cuid" != "$muid" &&
	test_must_fail runuser -u nobody -- cat "$CR_CA/issuing/issuing.key" \
	    >/dev/null 2>&1
'

test_expect_success 'as root: foreground.user and ca_user are two users, and ca_user is set' '
	bad_conf "s|^\([[:space:]]*\)user = .*|\1user = \"daemon\"|" >same.conf &&
	test_grep "user = \"daemon\"" same.conf &&
	must_refuse 78 same.conf 2>err &&
	test_grep "ca_user daemon: the same user as foreground.user" err &&
	bad_conf "/ca_user = /d" >nouser.conf &&
	must_refuse 78 nouser.conf 2>err &&
	test_grep "ca_user is not set" err
'

test_expect_success 'as root: a milter whose user can read the issuing key does not run' '
	mkdir bad4 &&
	cp "$CR_CA/issuing/"* bad4/ && chown nobody bad4/issuing.key &&
	chmod o+x "$TRASH" bad4 &&
	bad_conf "s|ca_dir = .*|ca_dir = \"$TRASH/bad4\"|" >bad4.conf &&
	must_refuse 78 bad4.conf 2>err &&
	test_grep "bad4/issuing.key: readable by the milter.s user nobody" err
'

test_done
