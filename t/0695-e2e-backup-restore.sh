#!/bin/sh
test_description='end to end: both databases and the keys backed up while mail flows, restored on a fresh pair of clusters; held mail and ARMs still release'
. "$TANDEM_SRC/t/test-lib.sh"

# The procedure of doc/install.md, "Backup and restore": the FG's dump
# first, then the BG's, both pg_dump -Fc while alice keeps sending; the
# roles with pg_dumpall --roles-only; the key files (keybox key, held
# key, element keys and certificates, the issuing CA folder). Then the
# old hosts go away and new clusters (new folders, new ports) get the
# restore: the BG's without its subscription and with its copy of the
# replicated tables emptied, subscribed anew to the new FG.

test_expect_success_here 'a courier; alice and bob register, dave does not' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

printf 'From: alice@a.example\r\nTo: bob@a.example, dave@a.example\r\nSubject: plans\r\nMessage-ID: <plans@a.example>\r\n\r\nDave, Bob: the plan is on.\r\n' >plans.eml

test_expect_success 'alice sends to bob and dave: content held at the FG, ARM held at the BG' '
	agent alice send --to bob@a.example --to dave@a.example --in plans.eml >out &&
	echo plans@a.example >expect && test_cmp expect out &&
	maildir_wait bob "^Message-ID: <plans@a.example>" 30 >/dev/null &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE released_at IS NULL" 1 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE released_at IS NULL" 1 30 &&
	maildir_wait dave "^Tandem-Kind: invitation" 30 >/dev/null &&
	test -s "$CR_PKI/held.key"
'

# loop_send: alice sends loop-N@a.example to bob until the file "stop"
# exists (or 100 tries, should this test fail and leave it); "sent" gets "N START END" (seconds) for each send that worked.
loop_send() {
	n=0
	while ! [ -f stop ] && [ $n -lt 100 ]; do
		n=$((n + 1))
		printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: loop %s\r\nMessage-ID: <loop-%s@a.example>\r\n\r\nNumber %s of the loop.\r\n" \
		    $n $n $n >loop-$n.eml
		t0=$(date +%s.%N)
		agent alice send --to bob@a.example --in loop-$n.eml \
		    >/dev/null 2>>loop.err &&
		echo "$n $t0 $(date +%s.%N)" >>sent
	done
}

# more_sent N: the loop has sent more than N messages.
more_sent() {
	test "$(wc -l <sent)" -gt "$1"
}

# copies USER ID N: USER's Maildir has N messages with Message-ID <ID>.
copies() {
	test "$(cr_maildir_match "$1" "^Message-ID: <$2>" | wc -l)" = "$3"
}

test_expect_success 'backup while alice keeps sending: the FG, then the BG, then the keys' '
	mkdir backup && : >sent &&
	loop_send & loop=$! &&
	wait_until 60 more_sent 0 &&
	pg_dumpall --roles-only -d "$(pg_conninfo fg postgres)" -f backup/fg-roles.sql &&
	pg_dump -Fc -d "$CR_FG_DB" -f backup/fg.dump &&
	date +%s.%N >backup/bg-dump-start &&
	pg_dump -Fc -d "$CR_BG_DB" -f backup/bg.dump &&
	pg_dumpall --roles-only -d "$(pg_conninfo bg postgres)" -f backup/bg-roles.sql &&
	(cd "$CR_PKI" && tar -cpf - keybox.key held.key root/root.crt \
	    a.example/elements a.example/issuing) >backup/keys.tar &&
	n=$(wc -l <sent) && wait_until 90 more_sent $((n + 1)) &&
	touch stop && wait $loop &&
	test $(wc -l <sent) -ge 2
'

test_expect_success_here 'the old hosts go away' '
	courier_milter_stop && courier_policyd_stop &&
	pg_stop fg && pg_stop bg &&
	mv "$PG_FG_DIR" "$TRASH/old-pg-fg" && mv "$PG_BG_DIR" "$TRASH/old-pg-bg" &&
	old_fg_port=$PG_FG_PORT && old_bg_port=$PG_BG_PORT &&
	rm -f "$CR_PKI/keybox.key" "$CR_PKI/held.key"
'

# A send while the courier is down: tandem send retries (its ARM, then
# its submission) until the restored pair takes it.
printf 'From: alice@a.example\r\nTo: bob@a.example\r\nSubject: down\r\nMessage-ID: <down@a.example>\r\n\r\nSent while the courier was away.\r\n' >down.eml

test_expect_success_here 'alice sends while both hosts are down' '
	{ agent alice send --retry-for 600 --to bob@a.example --in down.eml \
	    >down.out 2>down.err & } && down=$! &&
	test_atexit "kill $down 2>/dev/null" &&
	sleep 2 && kill -0 $down
'

test_expect_success_here 'restore the FG on a fresh cluster and publish' '
	CR_PKI=$TRASH/host2/pki && mkdir -p "$CR_PKI" &&
	(cd "$CR_PKI" && tar -xpf -) <backup/keys.tar &&
	CR_CA=$CR_PKI/a.example CR_CHAIN=$CR_PKI/a.example/issuing/chain.pem &&
	CR_ANCHOR=$CR_PKI/root/root.crt &&
	pg_start fg && test "$PG_FG_PORT" != "$old_fg_port" &&
	psql -X -q -d "$(pg_conninfo fg postgres)" -f backup/fg-roles.sql >fg-roles.log 2>&1 &&
	pg_createdb fg fg &&
	CR_FG_DB=$(pg_conninfo fg fg) &&
	pg_restore --exit-on-error -d "$CR_FG_DB" backup/fg.dump &&
	tandemctl db migrate --fg --db "$CR_FG_DB" --sqldir "$TANDEM_SRC/sql" >fg-migrate.out &&
	pg_publish fg fg >fg-publish.out &&
	cr_conf "$CR_FG_CONF" fg "$(pg_conninfo fg fg tandem_fg)" &&
	courier_milter_start
'

test_expect_success_here 'restore the BG without its subscription, empty its copy, subscribe anew' '
	pg_start bg && test "$PG_BG_PORT" != "$old_bg_port" &&
	psql -X -q -d "$(pg_conninfo bg postgres)" -f backup/bg-roles.sql >bg-roles.log 2>&1 &&
	pg_createdb bg bg &&
	CR_BG_DB=$(pg_conninfo bg bg) &&
	pg_restore --exit-on-error --no-subscriptions -d "$CR_BG_DB" backup/bg.dump &&
	test "$(courier_bg_sql "SELECT count(*) FROM pg_subscription")" = 0 &&
	courier_bg_sql "TRUNCATE accounts, account_keys, bg_relay, invitation_tokens, heartbeat" &&
	pg_subscribe bg bg fg fg >bg-subscribe.out &&
	echo "subscription tandem_bg created" >expect && test_cmp expect bg-subscribe.out &&
	pg_wait_for bg bg "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> \$\$r\$\$" 0 60 &&
	q="SELECT string_agg(address || status, \$\$,\$\$ ORDER BY address) FROM accounts" &&
	pg_wait_for bg bg "$q" "$(courier_fg_sql "$q")" 60 &&
	cr_conf "$CR_BG_CONF" bg "$(pg_conninfo bg bg tandem_bg)" &&
	courier_policyd_start
'

test_expect_success 'tandemctl status on the new pair: replication, held mail' '
	tandemctl status --conf "$CR_FG_CONF" >fg.out &&
	test_grep "^accounts active=2\$" fg.out &&
	test_grep "^held messages=1\$" fg.out &&
	test_grep "^replication slot=tandem_bg active=yes lag_bytes=[0-9]*\$" fg.out &&
	tandemctl status --conf "$CR_BG_CONF" >bg.out &&
	test_grep "^accounts active=2\$" bg.out &&
	test_grep "^held arms=1\$" bg.out &&
	test_grep "^replication subscription=tandem_bg heartbeat_age_seconds=[0-9]*\$" bg.out
'

test_expect_success_here 'the send made while the courier was down went through' '
	wait $down && echo down@a.example >expect && test_cmp expect down.out
'

test_expect_success_here 'dave registers on the restored pair' '
	agent_conf dave &&
	agent_register dave
'

test_expect_success 'the held content and the held ARM are released to dave; he reads it byte for byte' '
	pg_wait_for fg fg "SELECT count(*) FROM held_messages WHERE released_at IS NOT NULL" 1 30 &&
	maildir_wait dave "^Message-ID: <plans@a.example>" 30 >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE released_at IS NOT NULL" 1 30 &&
	agent dave fetch >out &&
	echo plans@a.example >expect && test_cmp expect out &&
	mkdir dave-got && agent dave read --out-dir dave-got >/dev/null &&
	cmp plans.eml dave-got/plans@a.example.eml &&
	test "$(ls dave-got | wc -l)" = 1
'

# Every loop message whose send ended before the BG dump began is in
# the restore; the last one began after both dumps had ended (the loop
# sent two more after them), and is not: alice sends it again. Bob's
# Maildir then has two copies of it; his agent refuses the first (its
# sealed content is not the one the new ARM names: exit status 11) and
# reads the second.
test_expect_success 'bob fetches what was sent before and during the backup; alice resends what the restore lacks' '
	agent bob fetch | sort >fetched &&
	test_grep "^plans@a.example\$" fetched &&
	test_grep "^down@a.example\$" fetched &&
	start=$(cat backup/bg-dump-start) &&
	while read n t0 t1; do
		if grep -q "^loop-$n@a.example\$" fetched; then
			echo "$n restored"
		elif [ "$(echo "$t1 < $start" | bc)" = 1 ]; then
			echo "loop-$n ended before the BG dump yet is not restored"
			exit 1
		else
			agent alice send --to bob@a.example --in loop-$n.eml >/dev/null &&
			echo "$n resent"
		fi
	done <sent >fate &&
	cat fate &&
	test_grep "^1 restored\$" fate &&
	test_grep "^$(wc -l <sent) resent\$" fate &&
	for n in $(sed -n "s/ resent\$//p" fate); do
		wait_until 60 copies bob loop-$n@a.example 2 || exit 1
	done &&
	agent bob fetch >>fetched &&
	mkdir bob-got &&
	{ agent bob read --out-dir bob-got >/dev/null 2>read.err; test $? = 11; } &&
	test "$(grep -c "refused: sealed content does not match the digest in the ARM record" read.err)" = \
	    "$(grep -c " resent\$" fate)" &&
	cmp plans.eml bob-got/plans@a.example.eml &&
	cmp down.eml bob-got/down@a.example.eml &&
	while read n t0 t1; do
		cmp loop-$n.eml bob-got/loop-$n@a.example.eml || exit 1
	done <sent
'

test_done
