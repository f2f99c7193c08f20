#!/bin/sh
test_description='fed: the federation engine decides on real FG and BG databases'
. "$TANDEM_SRC/t/test-lib.sh"

# t/unit/fed-test feeds lib/fed.c introductions, inter-courier messages
# and invitation-rejects for an FG and a BG element, with hands that
# record what they are asked (a hold is a row of the element's own
# table, as the elements keep it), and checks every decision. It needs
# what only a scenario has: certificates made by tandem-ca and two
# databases migrated as the elements' are. It is a check program, built
# by "make check" before the tests run; its TAP goes to this log.

FED_TEST=$TANDEM_BUILD/t/unit/fed-test

test_expect_success 'fed-test is built' '
	test -x "$FED_TEST"
'

test_expect_success 'without databases it skips, and says why' '
	test_expect_code 77 env -u TANDEM_FED_FG -u TANDEM_FED_BG \
		-u TANDEM_FED_PKI "$FED_TEST" >out &&
	test_grep "^1\.\.0 # SKIP needs an FG and a BG database" out
'

# elements X: the FG and BG elements of courier X
elements() {
	tandem-ca element -d $1 --fg tandem@$1.example &&
	tandem-ca element -d $1 --bg https://bg.$1.example/
}

# What the cases need: a (public) with b (private) under it, c and e
# (public), g (gateway) with s (private) under it, and z under a root
# nobody here trusts. c also certified two private couriers for b's
# domain (doc/security.md, section 3): d, a second claimant of
# b.example, and bx, an impostor that takes b's name, elements and all.
test_expect_success 'a small hierarchy, and one nobody trusts' '
	mkdir pki && (
		cd pki &&
		tandem-ca root -d root --name root.example &&
		tandem-ca courier -d a --name a.example --role public \
			--superior root &&
		tandem-ca courier -d b --name b.example --role private \
			--domain b.example --superior a &&
		tandem-ca courier -d c --name c.example --role public \
			--superior root &&
		tandem-ca courier -d e --name e.example --role public \
			--superior root &&
		tandem-ca courier -d g --name g.example --role gateway \
			--superior root &&
		tandem-ca courier -d s --name s.example --role private \
			--domain s.example --superior g &&
		tandem-ca root -d root2 --name root.example &&
		tandem-ca courier -d z --name z.example --role public \
			--superior root2 &&
		for x in a b c e g s z; do
			elements $x || exit 1
		done &&
		tandem-ca courier -d d --name d.example --role private \
			--domain b.example --superior c &&
		tandem-ca element -d d --fg d@b.example &&
		tandem-ca element -d d --bg https://d.b.example/ &&
		tandem-ca courier -d bx --name b.example --role private \
			--domain b.example --superior c &&
		tandem-ca element -d bx --fg tandem@b.example &&
		tandem-ca element -d bx --bg https://bg.b.example/
	) >pki.log 2>&1 || { cat pki.log; false; }
'

test_expect_success_here 'an FG and a BG database, migrated' '
	pg_start fed &&
	pg_createdb fed fg && pg_createdb fed bg &&
	FG=$(pg_conninfo fed fg) && BG=$(pg_conninfo fed bg) &&
	tandemctl db migrate --fg --db "$FG" --sqldir "$TANDEM_SRC/sql" &&
	tandemctl db migrate --bg --db "$BG" --sqldir "$TANDEM_SRC/sql"
'

# The engine needs fg/004 and bg/005: courier_key, pinned, route_tokens
# and refused_claims.
test_expect_success 'both at the schema the engine needs' '
	tandemctl db status --db "$FG" >status &&
	test_grep "^element=fg schema_version=13 " status &&
	tandemctl db status --db "$BG" >status &&
	test_grep "^element=bg schema_version=15 " status
'

# fed_run OUT CMD...: CMD's TAP in OUT, and in this log behind "| "; it
# must exit 0 with a full plan and no failed check.
fed_run() {
	_out=$1
	shift
	"$@" >"$_out" 2>&1
	_rc=$?
	sed "s/^/| /" "$_out"
	_plan=$(sed -n "s/^1\.\.\([0-9]*\)\$/\1/p" "$_out")
	_ok=$(grep -c "^ok " "$_out")
	if [ $_rc -ne 0 ] || [ -z "$_plan" ] || [ "$_plan" -eq 0 ] ||
	    [ "$_ok" -ne "$_plan" ]; then
		echo "fed_run: exit $_rc, plan ${_plan:-none}, $_ok ok"
		grep -A1 "^not ok" "$_out"
		return 1
	fi
}

test_expect_success 'the engine decides as it should, for both elements' '
	fed_run fed.tap "$FED_TEST" "$FG" "$BG" "$TRASH/pki"
'

if ! test_have_prog valgrind; then
	test_skip 'the same under valgrind' 'valgrind not found'
elif ldd "$FED_TEST" | grep -q "libasan\|libubsan"; then
	test_skip 'the same under valgrind' \
		'a sanitizer build: ASan and UBSan watch this one'
else
	test_expect_success 'the same under valgrind, without a definite leak' '
		fed_run fed-vg.tap valgrind -q --leak-check=full \
			--errors-for-leak-kinds=definite --error-exitcode=97 \
			"$FED_TEST" "$FG" "$BG" "$TRASH/pki"
	'
fi

test_done
