test_description='db: the background'"'"'s replication role decodes the foreground and opens nothing'

# The background's replication role (tandem_repl) may create a logical
# slot with any output plugin on the foreground database, and a slot
# sees every change of that database, whatever the role's grants. So
# the attacker who owns the background host decodes the foreground's
# changes while a registration and a held message go through, and
# tries every CMS structure in them with every key the background has:
# the courier-end keys (the keybox key opens them), its element key,
# and the content key of the held message (its ARM, held on the
# background, opens with the sender's courier-end key). Nothing opens:
# the held content is sealed under the foreground's held key.
. "$TANDEM_SRC/t/test-lib.sh"

python3 -c 'import cryptography' 2>/dev/null ||
	test_skip_all 'python3 cryptography not found'

# repl_psql [psql args]: as tandem_repl on the FG database, by password.
repl_psql() {
	psql -X -q -At -v ON_ERROR_STOP=1 \
		-d "$(pg_conninfo fg fg tandem_repl) password=$(cat "$(pg_dir_of fg)/repl.pw")" "$@"
}

# blobs_of FILE: every bytea value test_decoding printed, in hex.
blobs_of() {
	perl -ne 'while (/\[bytea\]:.\\x([0-9a-f]+)/g) { print "$1\n" }' "$1"
}

# parts_of FILE: a mail's leaf parts, decoded, into FILE.part.N (none
# when FILE is not a mail): the CMS inside outbox rows.
parts_of() {
	python3 -c '
import email, sys
raw = open(sys.argv[1], "rb").read()
if not raw.startswith((b"From:", b"MIME-", b"Received:", b"Message-", b"To:")):
    sys.exit(0)
for n, part in enumerate(p for p in email.message_from_bytes(raw).walk()
                         if not p.is_multipart()):
    open("%s.part.%d" % (sys.argv[1], n), "wb").write(
        part.get_payload(decode=True) or b"")
' "$1"
}

# unhex: hex on stdin (one line), bytes on stdout.
unhex() {
	perl -ne 'chomp; print pack(q(H*), $_)'
}

test_expect_success_here 'a courier; alice registers' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice
'

test_expect_success 'as tandem_repl, a logical slot with test_decoding on the FG database' '
	repl_psql -c "SELECT slot_name FROM pg_create_logical_replication_slot(\$\$hostile\$\$, \$\$test_decoding\$\$)" >out &&
	echo hostile >expect && test_cmp expect out
'

printf 'From: alice@a.example\r\nTo: dave@a.example\r\nSubject: held\r\nMessage-ID: <held@a.example>\r\n\r\nDave: the secret plan.\r\n' >held.eml

test_expect_success_here 'bob registers; alice writes to dave, who has no account: held' '
	agent_register bob &&
	agent alice send --to dave@a.example --in held.eml >out &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages" 1 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms" 1 30
'

test_expect_success 'the slot decodes the registration and the held message' '
	repl_psql -c "SELECT data FROM pg_logical_slot_get_changes(\$\$hostile\$\$, NULL, NULL)" >changes &&
	test_grep "table public.held_messages: INSERT" changes &&
	test_grep "table public.account_keys: INSERT:.*bob@a.example" changes &&
	blobs_of changes >blobs &&
	n=0 && while read -r hex; do
		n=$((n + 1)) &&
		printf "%s\n" "$hex" | unhex >blob.$n &&
		parts_of blob.$n || return 1
	done <blobs &&
	ls blob.* >candidates &&
	test_grep "\.part\." candidates &&
	test "$n" -gt 3
'

test_expect_success 'the background'"'"'s keys: courier-end keys, element key, the held content key' '
	: >keys &&
	for a in alice bob; do
		courier_bg_sql "SELECT courier_cert FROM accounts WHERE address = \$\$$a@a.example\$\$" >$a-ce.crt &&
		courier_bg_sql "SELECT encode(sealed_key, \$\$hex\$\$) FROM account_keys WHERE address = \$\$$a@a.example\$\$" |
			unhex >$a-ce.box &&
		python3 "$TANDEM_SRC/t/keybox-open.py" "$CR_PKI/keybox.key" key $a@a.example <$a-ce.box >$a-ce.key &&
		echo "$a-ce" >>keys || return 1
	done &&
	cp "$CR_CA/elements/bg.crt" bg.crt && cp "$CR_CA/elements/bg.key" bg.key &&
	echo bg >>keys &&
	courier_bg_sql "SELECT encode(arm, \$\$hex\$\$) FROM held_arms WHERE message_id = \$\$held@a.example\$\$" |
		unhex >arm.der &&
	openssl cms -decrypt -inform DER -in arm.der -recip alice-ce.crt -inkey alice-ce.key -out arm.signed &&
	openssl cms -verify -inform DER -in arm.signed -noverify -out arm.txt 2>/dev/null &&
	ckey=$(tr -d "\r" <arm.txt | sed -n "s/^Content-Key: //p") &&
	test "${#ckey}" = 64 && echo "$ckey" >content.key
'

# opens_any FILE: FILE (DER) is CMS and opens with one of the keys.
opens_any() {
	while read -r k; do
		openssl cms -decrypt -inform DER -in "$1" -recip "$k.crt" \
			-inkey "$k.key" -out /dev/null 2>/dev/null && {
			echo "$1 opens with $k"; return 0; }
	done <keys
	openssl cms -decrypt -inform DER -in "$1" -binary \
		-secretkey "$(cat content.key)" \
		-secretkeyid "$(printf %s held@a.example | od -An -tx1 | tr -d " \n")" \
		-out /dev/null 2>/dev/null && { echo "$1 opens with the content key"; return 0; }
	return 1
}

test_expect_success 'no CMS structure decoded opens with a key of the background' '
	cms=0 &&
	while read -r f; do
		openssl cms -cmsout -inform DER -in $f -out /dev/null 2>/dev/null || continue
		cms=$((cms + 1))
		if opens_any $f; then return 1; fi
	done <candidates &&
	echo "# $cms CMS structures among $(wc -l <candidates) values and mail parts" &&
	test "$cms" -gt 0
'

test_expect_success 'the held body in the FG database is no CMS; the held key alone opens it' '
	courier_fg_sql "SELECT encode(body, \$\$hex\$\$) FROM held_messages" |
		unhex >held.box &&
	test_must_fail openssl cms -cmsout -inform DER -in held.box -out /dev/null 2>/dev/null &&
	test_must_fail opens_any held.box &&
	python3 "$TANDEM_SRC/t/keybox-open.py" "$CR_PKI/held.key" held held@a.example dave@a.example <held.box >held.der &&
	opens_any held.der >out &&
	test_grep "opens with the content key" out
'

test_expect_success 'physical replication is refused to tandem_repl' '
	test_must_fail psql -X -At -d "$(pg_conninfo fg fg tandem_repl) password=$(cat "$(pg_dir_of fg)/repl.pw") replication=true" \
		-c "IDENTIFY_SYSTEM" 2>err &&
	test_grep "pg_hba.conf rejects replication connection" err
'

test_expect_success 'the held key: made by the milter, 0600, never in the database' '
	test "$(stat -c %a "$CR_PKI/held.key")" = 600 &&
	pg_dump -d "$CR_FG_DB" >fg.dump &&
	test_grep_not "$(cat "$CR_PKI/held.key")" fg.dump &&
	test_grep_not "$(cat "$CR_PKI/held.key")" changes
'

test_expect_success 'the milter refuses a held key its group may read' '
	cp "$CR_PKI/held.key" held2.key && chmod 640 held2.key &&
	sed "s|^	keybox_key = .*|&\n	held_key = \"$TRASH/held2.key\"|" "$CR_FG_CONF" >group.conf &&
	test_grep "held_key = " group.conf &&
	test_expect_code 78 timeout 20 tandem-milter -c group.conf -f >out 2>&1 &&
	test_grep "held2.key: key file is accessible to others than its owner (mode 640); chmod 600" out
'

test_done
