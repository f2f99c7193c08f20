#!/bin/sh
test_description='the agent store at rest: ARMs and counts of opens sealed under a key only the password unlocks; an older store upgraded; tandem passwd'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

test_have_prog sqlite3 || test_skip_all 'sqlite3 not found'
test_have_prog perl || test_skip_all 'perl not found'
TANDEM_PASSWORD=pw
export TANDEM_PASSWORD

# no_secret DIR ID...: neither the content key (hex, base64) nor the
# digest of any ID, nor an ARM field name, is in DIR's store files
no_secret() {
	_d=$1; shift
	for _id in "$@"; do
		_k=$(ag_field Content-Key $_id.arm) &&
		_g=$(ag_field Content-Digest $_id.arm) &&
		_b=$(perl -e 'print pack("H*", $ARGV[0])' "$_k" | base64) &&
		test -n "$_k" && test -n "$_g" && test -n "$_b" || return 1
		for _f in "$_d"/store.db*; do
			for _s in "$_k" "$_g" "$_b" Content-Key Max-Opens; do
				if grep -a -q -i -F "$_s" "$_f"; then
					echo "$_s of $_id in $_f"
					return 1
				fi
			done
		done
	done
}

q() { sqlite3 "$1/store.db" "$2"; }

test_expect_success 'a courier, alice and bob registered' '
	ag_courier &&
	ag_users alice bob &&
	test "$(q bob "SELECT kdf || n || r || p FROM vault")" = scrypt3276881
'

test_expect_success 'fetched ARMs in clear are sealed at the first unlock: no key, digest or restriction left in the files' '
	ag_content m1@a.example && ag_fetched m1@a.example &&
	ag_content m2@a.example --max-opens 3 && ag_fetched m2@a.example &&
	key=$(ag_field Content-Key m2@a.example.arm) &&
	grep -a -q -F "$key" bob/store.db &&
	tandem inbox -d bob m1@a.example.mail m2@a.example.mail >inbox &&
	printf "%s\n" "m1@a.example alice@a.example readable" \
		"m2@a.example alice@a.example readable" >inbox.want &&
	test_cmp inbox.want inbox &&
	test "$(q bob "SELECT group_concat(typeof(arm)) FROM arms")" = blob,blob &&
	test "$(q bob "SELECT count(*) FROM arms WHERE substr(arm, 1, 4) = CAST('\''TNS1'\'' AS BLOB)")" = 2 &&
	no_secret bob m1@a.example m2@a.example &&
	test ! -e bob/store.db-wal &&
	test ! -e bob/store.db-journal
'

test_expect_success 'the count of opens is sealed too; tandem open counts without the password' '
	tandem read -d bob m2@a.example.mail >m2.out &&
	test_cmp m2@a.example.eml m2.out &&
	test "$(q bob "SELECT count(*) FROM opens")" = 0 &&
	test "$(q bob "SELECT typeof(sealed) FROM opened WHERE msgid = '\''m2@a.example'\''")" = blob &&
	(unset TANDEM_PASSWORD &&
	 tandem open -d bob --sealed m2@a.example.der --arm m2@a.example.arm \
		--out m2.open </dev/null) &&
	test_cmp m2@a.example.eml m2.open &&
	tandem read -d bob m2@a.example.mail >m2.out &&
	test_expect_code 15 tandem read -d bob m2@a.example.mail 2>err &&
	test_grep "already opened 3 times (at most 3)" err &&
	no_secret bob m1@a.example m2@a.example
'

sealed() {
	q bob "SELECT substr(arm, 1, 4) = CAST('TNS1' AS BLOB) FROM arms WHERE msgid = '$1'"
}

test_expect_success 'a wrong password: a clear error, the store unchanged; the right one seals' '
	ag_content m6@a.example && ag_fetched m6@a.example &&
	test "$(sealed m6@a.example)" = 0 &&
	cp bob/store.db before.db &&
	test_expect_code 77 env TANDEM_PASSWORD=wrong \
		tandem read -d bob m6@a.example.mail >out 2>err &&
	test_grep "wrong password" err &&
	test ! -s out &&
	cmp before.db bob/store.db &&
	tandem read -d bob m6@a.example.mail >m6.out &&
	test_cmp m6@a.example.eml m6.out &&
	test "$(sealed m6@a.example)" = 1 &&
	no_secret bob m6@a.example
'

test_expect_success 'a store key wrapped under another password: the private key is not enough' '
	TANDEM_PASSWORD="other horse 8" tandem init -d carol \
		--address carol@a.example --csr carol.csr &&
	mkdir bob2 && cp bob/anchors.pem bob/store.db bob2/ &&
	q bob2 "ATTACH '\''carol/store.db'\'' AS c;
		UPDATE vault SET salt = (SELECT salt FROM c.vault),
		wrapped = (SELECT wrapped FROM c.vault)" &&
	cp bob2/store.db before.db &&
	test_expect_code 77 tandem read -d bob2 m1@a.example.mail >out 2>err &&
	test_grep "cannot unlock the store (wrong password?)" err &&
	test ! -s out &&
	cmp before.db bob2/store.db
'

test_expect_success 'an ARM row moved onto another message id is refused' '
	ag_content m5@a.example && ag_fetched m5@a.example &&
	tandem inbox -d bob m5@a.example.mail >/dev/null &&
	cp bob/store.db swap.db &&
	q bob "UPDATE arms SET arm = (SELECT arm FROM arms WHERE msgid = '\''m1@a.example'\'') WHERE msgid = '\''m5@a.example'\''" &&
	test_must_fail tandem read -d bob m5@a.example.mail >out 2>err &&
	test_grep "record of m5@a.example does not open" err &&
	test ! -s out &&
	cp swap.db bob/store.db &&
	tandem read -d bob m5@a.example.mail >m5.out &&
	test_cmp m5@a.example.eml m5.out
'

test_expect_success 'a count of opens moved onto another message is refused' '
	cp bob/store.db swap.db &&
	q bob "UPDATE opened SET sealed = (SELECT sealed FROM opened WHERE msgid = '\''m2@a.example'\'') WHERE msgid = '\''m6@a.example'\''" &&
	test "$(q bob "SELECT count(*) FROM opened WHERE msgid = '\''m6@a.example'\''")" = 1 &&
	test_must_fail tandem read -d bob m6@a.example.mail >out 2>err &&
	test_grep "record of m6@a.example does not open" err &&
	cp swap.db bob/store.db
'

test_expect_success 'a store of the earlier format is upgraded at the first unlock, nothing lost' '
	mkdir old &&
	cp bob/anchors.pem old/ &&
	cp bob/store.db old/store.db &&
	ag_content m3@a.example --max-opens 3 &&
	q old "DROP TABLE vault; DROP TABLE opened; DELETE FROM arms;
		INSERT INTO arms (msgid, arm, fetched) VALUES
		('\''m1@a.example'\'', readfile('\''m1@a.example.arm'\''), 0),
		('\''m3@a.example'\'', readfile('\''m3@a.example.arm'\''), 0);
		INSERT INTO opens (msgid, count, last) VALUES
		('\''m3@a.example'\'', 2, 0); VACUUM" &&
	key=$(ag_field Content-Key m3@a.example.arm) &&
	grep -a -q -F "$key" old/store.db &&
	cp old/store.db old.db &&
	test_expect_code 77 env TANDEM_PASSWORD=wrong \
		tandem read -d old m1@a.example.mail 2>err &&
	test_grep "wrong password" err &&
	cmp old.db old/store.db &&
	tandem read -d old m1@a.example.mail >m1.out &&
	test_cmp m1@a.example.eml m1.out &&
	test "$(q old "SELECT count(*) FROM vault")" = 1 &&
	test "$(q old "SELECT count(*) FROM opens")" = 0 &&
	no_secret old m1@a.example m3@a.example &&
	tandem read -d old m3@a.example.mail >m3.out &&
	test_cmp m3@a.example.eml m3.out &&
	test_expect_code 15 tandem read -d old m3@a.example.mail 2>err &&
	test_grep "already opened 3 times" err
'

test_expect_success 'tandem passwd: a wrong current password changes nothing' '
	echo "new horse 9" >new.pw &&
	cp bob/store.db before.db &&
	test_expect_code 77 env TANDEM_PASSWORD=wrong \
		tandem passwd -d bob --new-password-file new.pw 2>err &&
	test_grep "wrong password" err &&
	cmp before.db bob/store.db
'

test_expect_success 'tandem passwd: the old password refused, the new one opens everything' '
	q bob "SELECT arm FROM arms ORDER BY msgid" >arms.before &&
	tandem passwd -d bob --new-password-file new.pw 2>err &&
	test_grep "password is changed" err &&
	q bob "SELECT arm FROM arms ORDER BY msgid" >arms.after &&
	test_cmp arms.before arms.after &&
	test_expect_code 77 tandem read -d bob m1@a.example.mail 2>err &&
	test_grep "wrong password" err &&
	TANDEM_PASSWORD="new horse 9" tandem read -d bob m1@a.example.mail >m1.out &&
	test_cmp m1@a.example.eml m1.out &&
	TANDEM_PASSWORD="new horse 9" tandem read -d bob m5@a.example.mail >m5.out &&
	test_cmp m5@a.example.eml m5.out &&
	TANDEM_PASSWORD="new horse 9" tandem arm -d bob m2@a.example >m2.arm.out &&
	test_cmp m2@a.example.arm m2.arm.out &&
	q bob "SELECT value FROM config WHERE name = '\''key'\''" >key.pem &&
	openssl pkey -in key.pem -passin "pass:new horse 9" -noout &&
	no_secret bob m1@a.example m2@a.example m5@a.example
'

test_expect_success 'a command while another holds the store waits for it, rather than failing "database is locked"' '
	python3 -c "import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute(\"BEGIN IMMEDIATE\")
open(sys.argv[2], \"w\").close()
time.sleep(2)
c.execute(\"COMMIT\")" bob/store.db held &
	pid=$! &&
	i=0 && while [ ! -e held ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done &&
	test -e held &&
	TANDEM_PASSWORD="new horse 9" tandem inbox -d bob m1@a.example.mail \
	    >inbox2 2>err || { cat err; false; } &&
	wait $pid &&
	test_grep_not "locked" err &&
	test_grep "^m1@a.example alice@a.example " inbox2
'

test_done
