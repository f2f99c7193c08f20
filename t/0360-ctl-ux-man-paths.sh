#!/bin/sh
test_description='man pages: the installed pages name the folders this build was configured with, and the files they name are installed'
. "$TANDEM_SRC/t/test-lib.sh"

# A build of the pages only (no compiler run), configured with folders
# under the scratch folder that no default could produce.
test_expect_success_here 'configure with --sysconfdir and --datadir of our own, install the pages' '
	mkdir cfg && (
		cd cfg &&
		"$TANDEM_SRC/configure" -q --prefix=/opt/tx \
		    --sysconfdir=/srv/tx-etc --datadir=/srv/tx-share >configure.out 2>&1 &&
		make -s install-data DESTDIR="$TRASH/dest" >install.out 2>&1
	) &&
	MAN=$TRASH/dest/opt/tx/share/man &&
	ls "$MAN"/man1 "$MAN"/man5 "$MAN"/man8 >pages &&
	test_grep "^tandem.conf.5\$" pages && test_grep "^tandemctl.8\$" pages &&
	test_grep "^tandem-milter.8\$" pages && test_grep "^tandem-policyd.8\$" pages
'

test_expect_success 'no token is left, no other build'"'"'s folder is named' '
	! grep -rn "@TANDEM_[A-Z]*@" "$MAN" &&
	! grep -rnE "/usr/local|/etc/tandem|SYSCONFDIR" "$MAN"
'

test_expect_success 'the configuration file is the configured one, in every page that names it' '
	for p in man5/tandem.conf.5 man8/tandem-milter.8 man8/tandem-policyd.8; do
		test_grep "/srv/tx-etc/tandem/tandem.conf" "$MAN/$p" || exit 1
	done &&
	test_grep "Default: /srv/tx-etc/tandem/keybox.key" "$MAN/man5/tandem.conf.5"
'

test_expect_success 'tandemctl(8) names the installed migrations folder, which holds them' '
	test_grep "^\.I /srv/tx-share/tandem/sql\$" "$MAN/man8/tandemctl.8" &&
	ls "$TRASH/dest/srv/tx-share/tandem/sql/fg" >fg &&
	test_grep "^001-schema.sql\$" fg
'

test_expect_success 'tandemctl(8) cites no file that is not shipped' '
	! grep -n "DESIGN.md" "$MAN/man8/tandemctl.8" &&
	sed -n "s/.*\(doc\/[a-z-]*\.md\).*/\1/p" "$MAN"/man*/* | sort -u >cited &&
	test -s cited &&
	while read -r f; do
		test -f "$TANDEM_SRC/$f" || { echo "cited, not shipped: $f"; exit 1; }
		grep -q "$f" "$TANDEM_SRC/Makefile.am" || { echo "not in the distribution: $f"; exit 1; }
	done <cited
'

test_expect_success 'tandem.conf(5) says where the agent store really is: store.db in the folder' '
	sed -n "/^\.B store\$/,/^\.TP/p" "$MAN/man5/tandem.conf.5" >store &&
	test_grep "store.db" store &&
	grep -q "\"store.db\"\|store\.db" "$TANDEM_SRC"/agent/*.c
'

test_done
