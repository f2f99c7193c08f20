test_description='policyd: key replacement; the relay to the agent, the offer of a new agent certificate, older courier-end keys in their grace'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-policyd.sh"

# doc/flows.md 8. The test acts as the foreground: it writes the FG
# database, and replication carries the rows to the background (its
# apply worker fires only ENABLE ALWAYS triggers). alice offers her new
# certificate before the foreground's change arrives, bob after it;
# carol's changes nobody offered. Once the pin moved, the old pinned
# certificate is no longer accepted (tandem-policyd(8)). An offer counts
# only while the pin that made it is still the pin, and until it
# expires. A certificate is its DER (sql/bg/010: tandem_cert_sha256()),
# whatever the layout of its PEM text.

test_have_prog curl || test_skip_all 'curl not found'

fg() { pg_psql fg fg -c "$1"; }
bg() { pg_psql bg bg -c "$1"; }

# reissue USER NEW: a new agent key and certificate for USER@a.example
# (NEW.key, NEW.crt, NEW.pem with the chain) and a new courier-end key,
# by the courier's CA; kept in $PD_CA/accounts/NEW@a.example
reissue() {
	_d=$PD_CA/accounts/$1@a.example
	mv "$_d" "$_d.keep" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$2.key" -subj "/CN=$2" -out "$2.csr" 2>/dev/null &&
	tandem-ca account -d "$PD_CA" --address "$1@a.example" \
	    --csr "$2.csr" >/dev/null &&
	mv "$_d" "$PD_CA/accounts/$2@a.example" &&
	mv "$_d.keep" "$_d" &&
	cp "$PD_CA/accounts/$2@a.example/agent.crt" "$2.crt" &&
	cat "$2.crt" "$PD_CA/chain.pem" >"$2.pem"
}

# fg_agent_cert USER FILE: the foreground's accounts.agent_cert of USER
fg_agent_cert() {
	{
		printf 'UPDATE accounts SET agent_cert = $x$' &&
		cat "$2" &&
		printf '$x$ WHERE address = $$%s@a.example$$;\n' "$1"
	} >upd.sql &&
	pg_psql fg fg -f upd.sql
}

# relayout FILE OUT: the certificate of FILE as PEM in lines of 76
# characters, without the final newline
relayout() {
	{
		echo "-----BEGIN CERTIFICATE-----" &&
		openssl x509 -in "$1" -outform DER | base64 -w 76 &&
		printf "%s" "-----END CERTIFICATE-----"
	} >"$2"
}

# der_sha FILE: the hex SHA-256 of the DER of the certificate in FILE
der_sha() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d" " -f1
}

# pinned USER: the background's pinned certificate of USER
pinned() {
	bg "SELECT agent_cert FROM agent_pins WHERE address = \$\$$1@a.example\$\$"
}

# pinned_is USER FILE
pinned_is() {
	pinned "$1" >pin.got && { cat "$2" && echo; } >pin.want &&
	test_cmp pin.want pin.got
}

# offer USER FILE WANT-CODE: POST /v1/rekey as USER, FILE the body
offer() {
	code=$(pd_curl "$1" POST /v1/rekey "$2") &&
	test "$code" = "$3" || { echo "offer $1 $2: $code, want $3"; cat out.body; return 1; }
}

test_expect_success_here 'a courier, three active accounts, the daemon' '
	pd_setup >setup.log 2>&1 &&
	pd_account alice active && pd_account bob active &&
	pd_account carol active &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pins" 3 &&
	pd_start
'

test_expect_success 'a bg_relay row reaches the agent'"'"'s mailbox byte for byte' '
	head -c 700 /dev/urandom >notice.bin &&
	fg "INSERT INTO bg_relay (address, kind, message_id, body, expires_at) VALUES (\$\$alice@a.example\$\$, \$\$notice-to-rekey\$\$, \$\$n1@a.example\$\$, decode(\$\$$(od -An -v -tx1 notice.bin | tr -d " \n")\$\$, \$\$hex\$\$), now() + interval \$\$1 day\$\$)" &&
	pg_wait_for bg bg "SELECT kind, message_id, expires_at > now() FROM agent_mailbox WHERE address = \$\$alice@a.example\$\$" "notice-to-rekey|n1@a.example|t" &&
	pd_status 200 alice GET /v1/mailbox &&
	id=$(bg "SELECT id FROM agent_mailbox WHERE message_id = \$\$n1@a.example\$\$") &&
	echo "$id n1@a.example" >expect && test_cmp expect out.body &&
	pd_status 200 alice GET /v1/mailbox/$id &&
	cmp notice.bin out.body &&
	pd_status 404 bob GET /v1/mailbox/$id &&
	pd_status 204 alice DELETE /v1/mailbox/$id &&
	test "$(bg "SELECT count(*) FROM agent_mailbox")" = 0
'

test_expect_success 'the foreground deleting its bg_relay rows changes nothing here' '
	fg "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$alice@a.example\$\$, \$\$exchange-keys\$\$, \$\$x1@a.example\$\$, \$\$\\x01\$\$)" &&
	pg_wait_for bg bg "SELECT kind FROM agent_mailbox" exchange-keys &&
	fg "DELETE FROM bg_relay" &&
	pg_wait_for bg bg "SELECT count(*) FROM bg_relay" 0 &&
	test "$(bg "SELECT kind, message_id FROM agent_mailbox")" = "exchange-keys|x1@a.example" &&
	bg "DELETE FROM agent_mailbox" >/dev/null
'

test_expect_success 'a bg_relay row of a kind not for the agent is not filed' '
	fg "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$alice@a.example\$\$, \$\$arm\$\$, \$\$r1@a.example\$\$, \$\$\\x01\$\$)" &&
	fg "INSERT INTO bg_relay (address, kind, message_id, body) VALUES (\$\$alice@a.example\$\$, \$\$notice-to-rekey\$\$, \$\$r2@a.example\$\$, \$\$\\x01\$\$)" &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_mailbox" 1 &&
	pg_wait_for bg bg "SELECT count(*) FROM bg_relay" 2 &&
	test "$(bg "SELECT kind, message_id FROM agent_mailbox")" = "notice-to-rekey|r2@a.example" &&
	fg "DELETE FROM bg_relay" && bg "DELETE FROM agent_mailbox" >/dev/null
'

test_expect_success 'new certificates: alice2, bob2, carol2 by the courier' '
	reissue alice alice2 && reissue bob bob2 && reissue carol carol2 &&
	test_must_fail cmp -s alice.pem alice2.pem
'

test_expect_success 'refused offers: 400 or 403, the reason said, nothing recorded' '
	echo "not a certificate" >junk.txt &&
	offer alice junk.txt 400 && test_grep "^not a PEM certificate" out.body &&
	offer carol alice2.crt 403 &&
	echo "the certificate is not for carol@a.example" >expect &&
	test_cmp expect out.body &&
	offer carol "$PD_CA/accounts/carol2@a.example/courier.crt" 403 &&
	echo "the certificate is a courier-end certificate, not an agent'"'"'s" >expect &&
	test_cmp expect out.body &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = 0 &&
	test "$(bg "SELECT count(*) FROM refusals WHERE path = \$\$/v1/rekey\$\$")" = 3
'

test_expect_success 'an offer from another CA is refused' '
	(
		cd "$TRASH/pki" &&
		tandem-ca root -d root2 --name root2.example &&
		tandem-ca courier -d x --name a.example --role public \
		    --superior root2 &&
		tandem-ca courier -d b --name b.example --role public \
		    --superior root
	) >ca2.log 2>&1 &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout c3.key -subj "/CN=c3" -out c3.csr 2>/dev/null &&
	tandem-ca account -d "$TRASH/pki/x" --address carol@a.example \
		--csr c3.csr >/dev/null &&
	tandem-ca account -d "$TRASH/pki/b" --address carol@a.example \
		--csr c3.csr >/dev/null &&
	offer carol "$TRASH/pki/x/accounts/carol@a.example/agent.crt" 403 &&
	test_grep "^the certificate does not verify: " out.body &&
	cat "$TRASH/pki/b/accounts/carol@a.example/agent.crt" \
		"$TRASH/pki/b/chain.pem" >b-carol.pem &&
	openssl verify -CAfile "$TRASH/pki/root/root.crt" \
		-untrusted "$TRASH/pki/b/chain.pem" \
		"$TRASH/pki/b/accounts/carol@a.example/agent.crt" &&
	offer carol b-carol.pem 403 &&
	echo "the certificate is not issued under this courier'"'"'s CA key" >expect &&
	test_cmp expect out.body &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = 0
'

test_expect_success 'alice offers alice2 first: 200 offered, shown to the help desk' '
	offer alice alice2.crt 200 &&
	echo offered >expect && test_cmp expect out.body &&
	sha=$(der_sha alice2.crt) && by=$(der_sha "$PD_CA/accounts/alice@a.example/agent.crt") &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT address, offered_sha256, offered_by_sha256, expires_at > now() + interval \$\$6 days\$\$ FROM helpdesk.agent_pin_offers" >got &&
	echo "alice@a.example|$sha|$by|t" >expect && test_cmp expect got &&
	offer alice alice2.crt 200 &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = 1 &&
	pinned_is alice "$PD_CA/accounts/alice@a.example/agent.crt"
'

test_expect_success 'alice2 is a client before the change arrives, but may not offer' '
	pd_status 200 alice2 GET /v1/mailbox &&
	pd_status 200 alice GET /v1/mailbox &&
	offer alice2 bob2.crt 403 &&
	test_grep "only the pinned agent certificate" out.body &&
	pd_status 403 bob2 GET /v1/mailbox
'

test_expect_success 'the replicated change to alice2, laid out otherwise, moves the pin' '
	relayout alice2.crt alice2-76.crt &&
	test_must_fail cmp -s alice2.crt alice2-76.crt &&
	fg_agent_cert alice alice2-76.crt &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pin_offers" 0 &&
	pinned_is alice alice2-76.crt &&
	test "$(bg "SELECT count(*) FROM agent_cert_changes")" = 0 &&
	pd_status 200 alice2 GET /v1/mailbox &&
	pd_status 403 alice GET /v1/mailbox &&
	test_grep_not "address=alice@a.example status=agent-cert-refused" policyd.log
'

test_expect_success 'the old pinned certificate may not offer once the pin moved' '
	offer alice alice2.crt 403 &&
	test_grep "only the pinned agent certificate" out.body &&
	offer alice2 alice2.crt 200 && echo pinned >expect &&
	test_cmp expect out.body
'

test_expect_success 'bob: the replicated change first is unproved, bob2 refused' '
	fg_agent_cert bob bob2.crt &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_cert_changes WHERE resolved_at IS NULL" 1 &&
	pinned_is bob "$PD_CA/accounts/bob@a.example/agent.crt" &&
	pd_status 403 bob2 GET /v1/mailbox
'

test_expect_success 'then bob offers bob2: 200 pinned, the change resolved' '
	offer bob bob2.crt 200 &&
	echo pinned >expect && test_cmp expect out.body &&
	pinned_is bob bob2.crt &&
	test "$(bg "SELECT count(*) FROM agent_cert_changes WHERE resolved_at IS NOT NULL")" = 1 &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = 0 &&
	pd_status 200 bob2 GET /v1/mailbox &&
	pd_status 403 bob GET /v1/mailbox &&
	offer bob2 bob2.crt 200 && echo pinned >expect && test_cmp expect out.body
'

test_expect_success 'carol: a change nobody offered stays unproved (sql/bg/006)' '
	fg_agent_cert carol carol2.crt &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_cert_changes WHERE address = \$\$carol@a.example\$\$ AND resolved_at IS NULL" 1 &&
	pinned_is carol "$PD_CA/accounts/carol@a.example/agent.crt" &&
	pd_status 403 carol2 GET /v1/mailbox &&
	pd_status 200 carol GET /v1/mailbox
'

test_expect_success 'an offer does not outlive a repin away from the certificate that made it' '
	reissue carol carol3 &&
	offer carol carol3.crt 200 &&
	pd_status 200 carol3 GET /v1/mailbox &&
	old=$(der_sha "$PD_CA/accounts/carol@a.example/agent.crt") &&
	tandemctl account repin --db "$PD_BG" --address carol@a.example >out &&
	echo "account carol@a.example agent certificate pinned sha256=$(der_sha carol2.crt)" >expect &&
	test_cmp expect out &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = 0 &&
	pd_status 403 carol3 GET /v1/mailbox &&
	pd_status 200 carol2 GET /v1/mailbox &&
	{
		printf "INSERT INTO agent_pin_offers (address, offered_sha256, offered_cert, offered_by_sha256, expires_at) VALUES (\$\$carol@a.example\$\$, \$\$%s\$\$, \$x\$" "$(der_sha carol3.crt)" &&
		cat carol3.crt &&
		printf "\$x\$, \$\$%s\$\$, now() + interval \$\$1 day\$\$);\n" "$old"
	} >stale.sql &&
	pg_psql bg bg -f stale.sql &&
	pd_status 403 carol3 GET /v1/mailbox &&
	offer carol carol3.crt 403 &&
	fg_agent_cert carol carol3.crt &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_cert_changes WHERE offered_sha256 = \$\$$(der_sha carol3.crt)\$\$ AND resolved_at IS NULL" 1 &&
	pinned_is carol carol2.crt &&
	pd_status 403 carol3 GET /v1/mailbox
'

test_expect_success 'an expired offer neither authenticates nor moves the pin' '
	reissue bob bob3 &&
	offer bob2 bob3.crt 200 && echo offered >expect &&
	test_cmp expect out.body &&
	pd_status 200 bob3 GET /v1/mailbox &&
	bg "UPDATE agent_pin_offers SET expires_at = now() - interval \$\$1 second\$\$" &&
	pd_status 403 bob3 GET /v1/mailbox &&
	fg_agent_cert bob bob3.crt &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_cert_changes WHERE offered_sha256 = \$\$$(der_sha bob3.crt)\$\$ AND resolved_at IS NULL" 1 &&
	pinned_is bob bob2.crt &&
	pd_status 200 bob2 GET /v1/mailbox
'

test_expect_success_here 'the hygiene pass (here at start) deletes the expired offer' '
	n=$(bg "SELECT count(*) FROM agent_pin_offers WHERE expires_at <= now()") &&
	test "$n" -ge 1 &&
	test "$(bg "SELECT count(*) FROM agent_pin_offers")" = "$n" &&
	pd_stop && pd_start &&
	pg_wait_for bg bg "SELECT count(*) FROM agent_pin_offers" 0 &&
	test_grep "hygiene agent_pin_offers expired=$n\$" policyd.log
'

# arm_to NAME COURIER-END-OF WANT: an ARM alice -> bob signed by
# alice2, wrapped to the courier-end certificate kept as COURIER-END-OF
arm_to() {
	pd_arm "$1.arm" "$1@a.example" alice@a.example - bob@a.example &&
	pd_wrap alice2 "$1.arm" "$1.p7m" "$2" &&
	code=$(pd_curl alice2 POST /v1/arm "$1.p7m") &&
	test "$code" = "$3" || { echo "arm $1: $code, want $3"; cat out.body; return 1; }
}

test_expect_success 'the foreground adds generation 2 of alice'"'"'s courier-end key' '
	pg_createdb fg scratch &&
	tandemctl db migrate --fg --db "$(pg_conninfo fg scratch)" \
		--sqldir "$TANDEM_SRC/sql" >/dev/null &&
	d=$PD_CA/accounts/alice2@a.example &&
	tandemctl account add --db "$(pg_conninfo fg scratch)" \
		--address alice@a.example --status active --generation 2 \
		--courier-key "$d/courier.key" --courier-cert "$d/courier.crt" \
		--agent-cert "$d/agent.crt" \
		--keybox-key "$TRASH/pki/keybox.key" >/dev/null &&
	row=$(pg_psql fg scratch -c "SELECT key_serial || \$\$,\$\$ || encode(sealed_key, \$\$hex\$\$) FROM account_keys") &&
	fg "INSERT INTO account_keys (address, generation, key_serial, sealed_key) VALUES (\$\$alice@a.example\$\$, 2, \$\$${row%,*}\$\$, decode(\$\$${row#*,}\$\$, \$\$hex\$\$))" &&
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE address = \$\$alice@a.example\$\$" 2
'

test_expect_success 'before the switch, ARMs to either courier-end certificate open' '
	arm_to a1 alice 201 &&
	arm_to a2 alice2 201 &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT key_generation, keys_in_grace FROM helpdesk.account_status WHERE address = \$\$alice@a.example\$\$" >got &&
	echo "1|0" >expect && test_cmp expect got
'

test_expect_success 'after the switch, the old generation in its grace still opens' '
	{
		printf "UPDATE accounts SET courier_cert = \$x\$" &&
		cat "$PD_CA/accounts/alice2@a.example/courier.crt" &&
		printf "\$x\$ WHERE address = \$\$alice@a.example\$\$;\n" &&
		printf "UPDATE account_keys SET retired_at = now() + interval \$\$1 hour\$\$ WHERE address = \$\$alice@a.example\$\$ AND generation = 1;\n"
	} >switch.sql &&
	pg_psql fg fg -f switch.sql &&
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE retired_at > now()" 1 &&
	arm_to a3 alice 201 &&
	arm_to a4 alice2 201 &&
	pg_psql_as tandem_helpdesk bg bg -c "SELECT key_generation, keys_in_grace FROM helpdesk.account_status WHERE address = \$\$alice@a.example\$\$" >got &&
	echo "2|1" >expect && test_cmp expect got
'

# A lost database while looking for the older keys: the session that
# reads alice's keys a second time, and every new session within 2
# seconds, is terminated (row-level security on account_keys).
test_expect_success 'a database lost while looking for an older key: 503, not 400' '
	bg "CREATE SEQUENCE t_fired; CREATE FUNCTION t_gate() RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS \$g\$
	DECLARE s text := current_setting(\$\$t.seen\$\$, true);
	BEGIN
		IF (s IS NOT NULL AND s <> \$\$\$\$ AND s <> statement_timestamp()::text) OR nextval(\$\$t_fired\$\$) > extract(epoch FROM clock_timestamp())::bigint - 2 THEN
			PERFORM setval(\$\$t_fired\$\$, extract(epoch FROM clock_timestamp())::bigint);
			PERFORM pg_terminate_backend(pg_backend_pid());
			PERFORM pg_sleep(5);
		END IF;
		PERFORM set_config(\$\$t.seen\$\$, statement_timestamp()::text, false);
		RETURN true;
	END \$g\$; GRANT EXECUTE ON FUNCTION t_gate() TO tandem_bg; GRANT USAGE ON SEQUENCE t_fired TO tandem_bg" &&
	bg "ALTER TABLE account_keys ENABLE ROW LEVEL SECURITY; CREATE POLICY t_gate ON account_keys TO tandem_bg USING (address <> \$\$alice@a.example\$\$ OR t_gate())" &&
	{ arm_to a7 alice 503; r=$?; } &&
	bg "DROP POLICY t_gate ON account_keys; ALTER TABLE account_keys DISABLE ROW LEVEL SECURITY" &&
	test "$r" = 0 &&
	test_grep "^database unavailable" out.body
'

test_expect_success 'once retired_at is past, an ARM to the old one is refused' '
	fg "UPDATE account_keys SET retired_at = now() - interval \$\$1 second\$\$ WHERE address = \$\$alice@a.example\$\$ AND generation = 1" &&
	pg_wait_for bg bg "SELECT count(*) FROM account_keys WHERE retired_at < now()" 1 &&
	arm_to a5 alice 400 &&
	test_grep "^garbled wrap: cannot decrypt" out.body &&
	arm_to a6 alice2 201 &&
	test "$(bg "SELECT string_agg(message_id, \$\$ \$\$ ORDER BY message_id) FROM seen_messages WHERE kind = \$\$arm\$\$")" = "a1@a.example a2@a.example a3@a.example a4@a.example a6@a.example"
'

test_done
