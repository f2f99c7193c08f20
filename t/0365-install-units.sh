#!/bin/sh
test_description='make install: the sample tandem.conf of each element, the systemd units and the tmpfiles.d entry; the units verify, and the daemons take the samples'
. "$TANDEM_SRC/t/test-lib.sh"

# The folders this build was configured with, as make expands them.
mk_var() {
	_v=$(sed -n "s/^$1 = //p" "$TANDEM_BUILD/Makefile")
	while case $_v in *'$'*) true ;; *) false ;; esac; do
		eval "_v=\"$_v\""
	done
	echo "$_v"
}
prefix=$(mk_var prefix) && exec_prefix=$(mk_var exec_prefix) &&
datarootdir=$(mk_var datarootdir) && PACKAGE_TARNAME=$(mk_var PACKAGE_TARNAME) &&
sbindir=$(mk_var sbindir) && sysconfdir=$(mk_var sysconfdir) &&
docdir=$(mk_var docdir) && test -n "$prefix" && test -n "$docdir" ||
	test_skip_all "no configured build in $TANDEM_BUILD"
D=$TRASH/dest
EX=$D$docdir/examples
UNITS=$D$prefix/lib/systemd/system
TMPF=$D$prefix/lib/tmpfiles.d

test_expect_success_here 'make install DESTDIR= of this build' '
	make -s -C "$TANDEM_BUILD" install DESTDIR="$D" >install.out 2>&1 ||
	{ cat install.out; false; }
'

test_expect_success 'the samples, the units and the tmpfiles.d entry are installed' '
	for f in "$EX/tandem-milter.conf" "$EX/tandem-policyd.conf" \
	    "$EX/tandem-agent.conf" "$UNITS/tandem-milter.service" \
	    "$UNITS/tandem-policyd.service" "$TMPF/tandem-milter.conf"; do
		test -s "$f" || { echo "missing: $f"; exit 1; }
	done &&
	! test -e "$D$sysconfdir/tandem/tandem.conf"
'

test_expect_success 'no token is left in what was installed from etc/' '
	cat "$EX"/tandem-*.conf "$UNITS"/tandem-*.service \
	    "$TMPF/tandem-milter.conf" >installed &&
	test "$(grep -c "^ExecStart=" installed)" = 2 &&
	test_grep_not "@[A-Za-z_]*@" installed
'

# unit_exec UNIT: the ExecStart= line, without the key.
unit_exec() {
	sed -n "s/^ExecStart=//p" "$UNITS/$1"
}

test_expect_success 'each unit runs the installed daemon, in the foreground, on the configured tandem.conf' '
	for u in milter policyd; do
		unit_exec "tandem-$u.service" >exec.$u &&
		set -- $(cat exec.$u) &&
		test "$1" = "$sbindir/tandem-$u" &&
		test -x "$D$1" &&
		cmp "$D$1" "$(command -v tandem-$u)" &&
		grep -q " -c $sysconfdir/tandem/tandem.conf" exec.$u &&
		grep -q " -f" exec.$u || { echo "tandem-$u.service: $(cat exec.$u)"; exit 1; }
	done &&
	grep -q " -u _tandem-policyd\$" exec.policyd &&
	test_grep "^	user = \"_tandem-milter\"" "$EX/tandem-milter.conf" &&
	test_grep "^	ca_user = \"_tandem-ca\"" "$EX/tandem-milter.conf"
'

test_expect_success 'each unit is hardened and simple, with no User= (the daemons drop root themselves)' '
	for u in milter policyd; do
		f=$UNITS/tandem-$u.service &&
		for l in Type=simple NoNewPrivileges=yes ProtectSystem=strict \
		    PrivateTmp=yes ProtectHome=yes; do
			test_grep "^$l\$" "$f" || exit 1
		done &&
		test_grep_not "^User=" "$f" || exit 1
	done &&
	test_grep_not "^ReadWritePaths=" "$UNITS/tandem-policyd.service"
'

# The milter sample's socket folder and held key folder.
sock_dir=$(sed -n "s|^[	 ]*milter_socket = \"unix:\(.*\)/[^/]*\"|\1|p" "$EX/tandem-milter.conf")
held_dir=$(sed -n "s|^[	 ]*held_key = \"\(.*\)/[^/]*\"|\1|p" "$EX/tandem-milter.conf")

test_expect_success 'the milter unit may write the socket folder and the held key folder of the sample, nothing else' '
	test -n "$sock_dir" && test -n "$held_dir" &&
	grep "^ReadWritePaths=" "$UNITS/tandem-milter.service" >rw &&
	echo "ReadWritePaths=$sock_dir" >rw.want && test_cmp rw.want rw &&
	test_grep "^StateDirectory=${held_dir#/var/lib/}\$" "$UNITS/tandem-milter.service" &&
	case $held_dir in /var/lib/*) ;; *) false;; esac
'

test_expect_success 'the tmpfiles.d entry makes the socket folder: root, group postfix, 0750' '
	grep -v "^#" "$TMPF/tandem-milter.conf" >entry &&
	echo "d $sock_dir 0750 root postfix -" >entry.want &&
	test_cmp entry.want entry &&
	if test_have_prog systemd-tmpfiles && getent group postfix >/dev/null; then
		mkdir -p root/etc && cp /etc/passwd /etc/group root/etc/ &&
		systemd-tmpfiles --root="$TRASH/root" --create \
		    "$TMPF/tandem-milter.conf" &&
		stat -c "%F %a %U %G" "root$sock_dir" >st &&
		echo "directory 750 root postfix" >st.want && test_cmp st.want st
	else
		echo "# no systemd-tmpfiles or no group postfix: entry checked as text only"
	fi
'

# systemd-analyze verify, on the installed tree as root: it checks that
# ExecStart names an executable there. The targets the units name come
# from this machine's systemd.
if test_have_prog systemd-analyze && test -d /lib/systemd/system; then
	test_expect_success 'systemd-analyze verify: both units, no warning' '
		mkdir -p "$D/lib/systemd/system" &&
		cp -a /lib/systemd/system/*.target /lib/systemd/system/*.slice \
		    "$D/lib/systemd/system/" &&
		: ExecReload names the system.s kill &&
		mkdir -p "$D/bin" && cp /bin/kill "$D/bin/" &&
		systemd-analyze verify --man=no --root="$D" \
		    "$UNITS/tandem-milter.service" \
		    "$UNITS/tandem-policyd.service" >verify.out 2>&1 &&
		cat verify.out && ! test -s verify.out
	'
	test_expect_success 'systemd-analyze verify fails on a unit whose daemon is missing' '
		mkdir -p bad/lib/systemd && cp -a "$D/lib/systemd/system" bad/lib/systemd/ &&
		mkdir -p "bad$prefix/lib/systemd" && cp -a "$UNITS" "bad$prefix/lib/systemd/" &&
		! systemd-analyze verify --man=no --root="$TRASH/bad" \
		    "$TRASH/bad$prefix/lib/systemd/system/tandem-milter.service" >bad.out 2>&1 &&
		test_grep "tandem-milter is not executable" bad.out
	'
else
	test_skip 'systemd-analyze verify' 'systemd-analyze is not installed (Debian package systemd)'
fi

# sections FILE: the sections a sample opens, in order.
sections() {
	sed -n "s/^\([a-z]*\) {\$/\1/p" "$1" | tr "\n" " "
}

test_expect_success 'each sample has only the sections of its element' '
	test "$(sections "$EX/tandem-milter.conf")" = "courier foreground background database tls hygiene " &&
	test "$(sections "$EX/tandem-policyd.conf")" = "courier background database tls hygiene agent " &&
	test "$(sections "$EX/tandem-agent.conf")" = "agent "
'

# conf_keys SECTION: the keys of SECTION in lib/conf.c's option table.
conf_keys() {
	sed -n "/^static cfg_opt_t conf_$1_opts/,/CFG_END/s/.*CFG_[A-Z_]*(\"\([a-z_]*\)\".*/\1/p" \
	    "$TANDEM_SRC/lib/conf.c"
}
# sample_keys FILE SECTION: the keys set or shown commented in it.
sample_keys() {
	sed -n "/^$2 {\$/,/^}/s/^[	 ]*#\{0,1\}\([a-z_]*\) = .*/\1/p" "$1"
}

test_expect_success 'every option of the sections a sample carries whole is in it, set or commented with its default' '
	conf_keys foreground >keys && test -s keys &&
	for c in "milter courier" "milter foreground" "milter database" \
	    "milter tls" "milter hygiene" "policyd courier" \
	    "policyd background" "policyd database" "agent agent"; do
		set -- $c &&
		conf_keys $2 | sort >want.$1.$2 &&
		sample_keys "$EX/tandem-$1.conf" $2 | sort >have.$1.$2 &&
		test_cmp want.$1.$2 have.$1.$2 || exit 1
	done &&
	grep -c "Default:" "$EX/tandem-milter.conf" >n &&
	test "$(cat n)" -ge "$(sample_keys "$EX/tandem-milter.conf" foreground | wc -l)"
'

test_expect_success 'the string defaults the samples show are lib/conf.c'"'"'s' '
	for s in courier foreground background database agent; do
		sed -n "/^static cfg_opt_t conf_${s}_opts/,/CFG_END/s/.*CFG_STR(\"\([a-z_]*\)\", \"\([^\"]*\)\".*/\1 \2/p" \
		    "$TANDEM_SRC/lib/conf.c" | while read -r k v; do
			[ -n "$v" ] || continue
			for f in "$EX"/tandem-*.conf; do
				l=$(sed -n "/^$s {\$/,/^}/s/^[	 ]*#\($k = .*\)/\1/p" "$f")
				[ -z "$l" ] || [ "$l" = "$k = \"$v\"" ] ||
				    [ "$l" = "$k = $v" ] ||
				    { echo "$f: $s.$l, default $v"; exit 1; }
			done
		done || exit 1
	done
'

# The files the samples name, made as the other tests make them.
test_expect_success_here 'a PKI for courier a.example (tandem-ca), the files where the samples want them' '
	mkdir -p pki etc state run && (
		cd pki &&
		tandem-ca root -d root --name root.example &&
		tandem-ca courier -d a --name a.example --role public \
		    --superior root &&
		tandem-ca element -d a --fg "tandem@a.example" &&
		tandem-ca element -d a --bg "https://bg.a.example:8443/" &&
		tandem-ca issuing -d a --domain a.example &&
		tandemctl keybox new keybox.key
	) >pki.log 2>&1 || { cat pki.log; false; }
'

# element_conf ELEMENT FG|BG: the sample of ELEMENT with its paths moved
# into the scratch folder and its users made ones that exist here.
element_conf() {
	mkdir -p "etc-$1" &&
	cp pki/root/root.crt "etc-$1/anchors.pem" &&
	cp -p "pki/a/elements/$2.crt" "etc-$1/element.pem" &&
	cp -p "pki/a/elements/$2.key" "etc-$1/element.key" &&
	cp pki/a/issuing/chain.pem "etc-$1/chain.pem" &&
	cp -p pki/keybox.key "etc-$1/keybox.key" &&
	{ tandem-ca crl -d pki/root && tandem-ca crl -d pki/a; } >/dev/null &&
	cat pki/root/crl.pem pki/a/crl.pem >"etc-$1/crls.pem" &&
	sed -e "s|$sysconfdir/tandem/|$TRASH/etc-$1/|g" \
	    -e "s|\"$held_dir/|\"$TRASH/state/|" \
	    -e "s|\"unix:$sock_dir/|\"unix:$TRASH/run/|" \
	    -e "s|\"_tandem-milter\"|\"nobody\"|" \
	    -e "s|\"_tandem-ca\"|\"daemon\"|" \
	    -e "s|#socket_group = \"postfix\"|socket_group = \"$group\"|" \
	    "$EX/tandem-$1.conf"
}
# The milter's socket group must exist: postfix, else ours.
if getent group postfix >/dev/null; then group=postfix; else group=$(id -gn); fi

test_expect_success_here 'tandem-milter -n takes the milter sample, with its paths made' '
	element_conf milter fg >milter.conf &&
	test_grep "$TRASH/etc-milter/element.pem" milter.conf &&
	tandem-milter -c milter.conf -n >out 2>&1 &&
	cat out && test_grep "^configuration OK\$" out &&
	test -f state/held.key
'

test_expect_success 'tandem-milter -n does not reach the database: the sample'"'"'s conninfo names none here, and the check passes' '
	test_grep "^	conninfo = \"host=localhost dbname=tandem user=tandem_fg password=CHANGE-ME\"" milter.conf &&
	tandem-milter -c milter.conf -n >out 2>&1 && test_grep "configuration OK" out
'

test_expect_success 'tandem-milter -n refuses the sample without its service mailbox, or with a missing file' '
	sed "/^	service_mailbox = /d" milter.conf >nomb.conf &&
	test_expect_code 78 tandem-milter -c nomb.conf -n >out 2>&1 &&
	test_grep "service_mailbox is not set" out &&
	sed "s|etc-milter/element.key|etc-milter/nothing.key|" milter.conf >nokey.conf &&
	test_expect_code 78 tandem-milter -c nokey.conf -n >out 2>&1 &&
	test_grep "nothing.key" out
'

# uncomment: every "#key = value" line of the sample set as shown.
uncomment() {
	sed "s/^\([	 ]*\)#\([a-z_]* = \)/\1\2/" "$1"
}

test_expect_success 'the milter sample with every commented line set, and the agent sample: still OK' '
	uncomment milter.conf >all.conf &&
	test_grep_not "^[	 ]*#[a-z_]* = " all.conf &&
	test_grep "^	rekey_batch = 10\$" all.conf &&
	sed "s|$sysconfdir/tandem/ca|$TRASH/pki/a/issuing|" all.conf >all2.conf &&
	uncomment "$EX/tandem-agent.conf" >>all2.conf &&
	HOME=$TRASH tandem-milter -c all2.conf -n >out 2>&1 &&
	cat out && test_grep "^configuration OK\$" out
'

test_expect_success 'tandem-policyd -n takes the policyd sample, with its paths made, also with every commented line set' '
	element_conf policyd bg >policyd.conf &&
	tandem-policyd -c policyd.conf -n >out 2>&1 &&
	cat out && test_grep "^configuration OK\$" out &&
	uncomment policyd.conf >pall.conf &&
	test_grep "^	resolve = " pall.conf &&
	tandem-policyd -c pall.conf -n >out 2>&1 &&
	cat out && test_grep "^configuration OK\$" out
'

test_expect_success 'tandem-policyd -n refuses the policyd sample given the foreground certificate' '
	sed "s|etc-policyd/element|etc-milter/element|" policyd.conf >wrong.conf &&
	test_expect_code 78 tandem-policyd -c wrong.conf -n >out 2>&1 &&
	test_grep "not a background element certificate" out
'

test_done
