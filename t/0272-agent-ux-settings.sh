#!/bin/sh
test_description='tandem register saves the settings in $TANDEM_HOME/tandem.conf; later commands read them'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=dave-pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mta=$(pf_random_addr) mport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port)
AG_BG_URL=https://bg.a.example:$bport

test_expect_success 'a courier with its elements; an invitation for dave' '
	ag_courier &&
	invitation inv.txt &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv.txt inv.der &&
	mkdir -p md/new md/cur md/tmp
'

test_expect_success_here 'an smtp-sink and the background stub' '
	smtp_sink_start mta $mta $mport &&
	ag_stub stub $bg $bport ca
'

test_expect_success 'register saves the SMTP server, the Maildir, the background URL and --resolve' '
	TANDEM_HOME=$PWD/dave tandem register --invitation inv.der \
		--anchor root/root.crt --smtp $mta:$mport --maildir md \
		--resolve bg.a.example:$bport:$bg --no-wait 2>err &&
	test_grep "settings saved in .*dave/tandem.conf" err &&
	test "$(stat -c %a dave/tandem.conf)" = 600 &&
	test_grep "submission = \"$mta:$mport\"" dave/tandem.conf &&
	test_grep "bg_url = \"https://bg.a.example:$bport\"" dave/tandem.conf &&
	test_grep "maildir = \"$PWD/md\"" dave/tandem.conf &&
	test_grep "resolve = {\"bg.a.example:$bport:$bg\"}" dave/tandem.conf &&
	smtp_sink_files mta >files && test $(wc -l <files) = 1
'

test_expect_success 'read with no option: the saved Maildir and SMTP server' '
	registration_csr "$(head -1 files)" dave.csr &&
	tandem-ca account -d ca --address dave@a.example --csr dave.csr &&
	exchange_keys dave@a.example md/new/1.ek &&
	(cd md && TANDEM_HOME=../dave tandem read) 2>err &&
	test_grep "generation 1 installed for dave@a.example" err &&
	smtp_sink_files mta >files && test $(wc -l <files) = 2 &&
	test_grep "^X-Rcpt-Args: <tandem@a.example>" $(tail -1 files)
'

test_expect_success 'send --in - with no option: the saved background and SMTP server' '
	printf "From: dave@a.example\r\nTo: x@a.example\r\nSubject: s\r\n\r\nhi\r\n" >m.eml &&
	TANDEM_HOME=$PWD/dave tandem send --to x@a.example --in - <m.eml >id &&
	echo "POST /v1/arm 201" >log.want && test_cmp log.want stub/log &&
	smtp_sink_files mta >files && test $(wc -l <files) = 3 &&
	test_grep "^Message-ID: <$(cat id)>" $(tail -1 files) &&
	test_grep "^X-Rcpt-Args: <x@a.example>" $(tail -1 files)
'

test_expect_success 'seal --in - reads the message from standard input' '
	TANDEM_HOME=$PWD/dave tandem seal --to x@a.example --in - \
		--sealed s.der --arm s.arm <m.eml &&
	cat m.eml | TANDEM_HOME=$PWD/dave tandem seal --to x@a.example \
		--in - --sealed p.der --arm p.arm &&
	test -s p.der &&
	test -s s.der && test_grep "^Sender: dave@a.example" s.arm &&
	printf "From: eve@a.example\r\n\r\nx\r\n" |
	test_expect_code 65 tandem seal -d dave --to x@a.example --in - \
		--sealed t.der --arm t.arm 2>err &&
	test -s err
'

test_expect_success 'fetch with no option: the saved background' '
	: >stub/log &&
	TANDEM_HOME=$PWD/dave tandem fetch >fetched &&
	test ! -s fetched &&
	echo "GET /v1/mailbox 200" >log.want && test_cmp log.want stub/log
'

test_expect_success 'an option on the command line wins over the saved one' '
	: >stub/log &&
	test_must_fail env TANDEM_HOME=$PWD/dave tandem read --maildir nowhere 2>err &&
	test_grep "nowhere: not a Maildir" err &&
	test_must_fail env TANDEM_HOME=$PWD/dave tandem fetch \
		--bg https://bg.a.example:1 2>err &&
	test -s err && test_grep "resolve host name" err &&
	test_grep_not "GET" stub/log
'

test_expect_success 'no command exits non-zero without saying why' '
	mv md md.away &&
	for c in read inbox; do
		test_must_fail env TANDEM_HOME=$PWD/dave tandem $c 2>err &&
		test_grep "md: not a Maildir" err || return 1
	done &&
	mv md.away md &&
	for c in read inbox fetch "send --to x@a.example --in m.eml" \
	    "open --sealed s.der --arm s.arm"; do
		test_must_fail env TANDEM_HOME=$PWD/nobody tandem $c 2>err &&
		test_grep "nobody/store.db: No such file" err || return 1
	done &&
	test_must_fail env TANDEM_HOME=$PWD/dave tandem read -c nothere.conf 2>err &&
	test_grep "nothere.conf" err
'

test_expect_success 'a second register keeps a tandem.conf already there' '
	cp dave/tandem.conf conf.before &&
	invitation inv2.txt erin@a.example &&
	ag_sign ca/elements/fg.crt ca/elements/fg.key inv2.txt inv2.der &&
	mkdir erin && cp conf.before erin/tandem.conf &&
	tandem register -d erin --invitation inv2.der --anchor root/root.crt \
		--no-wait 2>err &&
	test_grep "erin/tandem.conf kept as it is" err &&
	test_cmp conf.before erin/tandem.conf &&
	smtp_sink_files mta >files && test $(wc -l <files) = 4
'

test_done
