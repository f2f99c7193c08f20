#!/bin/sh
test_description='db: each daemon refuses a database whose schema is behind or ahead of the build (exit 78), and starts once it is migrated'
. "$TANDEM_SRC/t/test-lib.sh"

# The migrations this build ships; the newest is the version it needs.
FG_LAST=$(cd "$TANDEM_SRC/sql/fg" && ls ???-*.sql | tail -n 1)
BG_LAST=$(cd "$TANDEM_SRC/sql/bg" && ls ???-*.sql | tail -n 1)
FG_NEED=$(echo "$FG_LAST" | cut -c 1-3)
BG_NEED=$(echo "$BG_LAST" | cut -c 1-3)
FG_HAVE=$(printf %03d $(expr "$FG_NEED" - 1))
BG_HAVE=$(printf %03d $(expr "$BG_NEED" - 1))
FG_AHEAD=$(printf %03d $(expr "$FG_NEED" + 1))

test_expect_success_here 'a courier whose databases lack the newest migration' '
	courier_pki &&
	courier_fg_setup && courier_bg_setup &&
	mkdir -p old/fg old/bg &&
	cp "$TANDEM_SRC"/sql/fg/*.sql old/fg/ && rm old/fg/"$FG_LAST" &&
	cp "$TANDEM_SRC"/sql/bg/*.sql old/bg/ && rm old/bg/"$BG_LAST" &&
	pg_createdb fg fgold && pg_createdb bg bgold && pg_createdb bg bgdown &&
	tandemctl db migrate --fg --db "$(pg_conninfo fg fgold)" --sqldir old >out &&
	test_grep "^fg schema at version $FG_HAVE" out &&
	tandemctl db migrate --bg --db "$(pg_conninfo bg bgold)" --sqldir old >out &&
	test_grep "^bg schema at version $BG_HAVE" out &&
	tandemctl db migrate --bg --db "$(pg_conninfo bg bgdown)" --sqldir old >out &&
	sed "s/dbname=fg /dbname=fgold /" "$CR_FG_CONF" >fg.conf &&
	sed "s/dbname=bg /dbname=bgold /" "$CR_BG_CONF" >bg.conf &&
	sed -e "s/dbname=bg /dbname=bgdown /" \
	    -e "s/purge_interval = .*/purge_interval = 1s/" "$CR_BG_CONF" >bgdown.conf &&
	test_grep "purge_interval = 1s" bgdown.conf &&
	test_grep fgold fg.conf && test_grep bgold bg.conf
'

test_expect_success 'the milter refuses a foreground schema one behind' '
	test_expect_code 78 timeout 30 tandem-milter -c fg.conf -f 2>err &&
	test_grep "database fg schema at $FG_HAVE, this build needs $FG_NEED: run tandemctl db migrate --fg" err &&
	! test -e "$TRASH/fg/milter.sock"
'

test_expect_success 'the policy daemon refuses a background schema one behind' '
	test_expect_code 78 timeout 30 tandem-policyd -c bg.conf -f 2>err &&
	test_grep "database bg schema at $BG_HAVE, this build needs $BG_NEED: run tandemctl db migrate --bg" err
'

test_expect_success 'migrate both' '
	tandemctl db migrate --fg --db "$(pg_conninfo fg fgold)" --sqldir "$TANDEM_SRC/sql" >out &&
	test_grep "^applied fg/$FG_LAST" out &&
	tandemctl db migrate --bg --db "$(pg_conninfo bg bgold)" --sqldir "$TANDEM_SRC/sql" >out &&
	test_grep "^applied bg/$BG_LAST" out
'

test_expect_success_here 'now the milter starts' '
	cr_daemon_start milter tandem-milter fg.conf milter.log &&
	wait_until 10 test -S "$TRASH/fg/milter.sock" &&
	cr_daemon_alive milter &&
	! grep schema milter.log &&
	cr_daemon_stop milter
'

test_expect_success_here 'now the policy daemon starts' '
	cr_daemon_start policyd tandem-policyd bg.conf policyd.log &&
	pf_wait_listen "$CR_BG_ADDR" "$CR_BG_PORT" 10 &&
	cr_daemon_alive policyd &&
	! grep schema policyd.log &&
	cr_daemon_stop policyd
'

test_expect_success_here 'started with its database down, the policy daemon checks at its first connection' '
	pg_stop bg &&
	cr_daemon_start policyd tandem-policyd bgdown.conf bgdown.log &&
	pf_wait_listen "$CR_BG_ADDR" "$CR_BG_PORT" 10 &&
	sleep 2 && cr_daemon_alive policyd &&
	courier_pg_restart bg &&
	wait_until 20 eval "! cr_daemon_alive policyd" &&
	test_grep "fatal: database bg schema at $BG_HAVE, this build needs $BG_NEED" bgdown.log
'

test_expect_success 'a database ahead of the build is refused too' '
	pg_psql fg fgold -c "INSERT INTO schema_migrations (version, element, name) VALUES ($FG_AHEAD, \$\$fg\$\$, \$\$999-later.sql\$\$)" &&
	test_expect_code 78 timeout 30 tandem-milter -c fg.conf -f 2>err &&
	test_grep "database fg schema at $FG_AHEAD, ahead of this build, which needs $FG_NEED" err
'

test_done
