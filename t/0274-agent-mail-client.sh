#!/bin/sh
test_description='tandem sendmail and fetch --maildir: what a mail client needs'
. "$TANDEM_SRC/t/test-lib.sh"
. "$TANDEM_SRC/t/lib-agent.sh"

TANDEM_PASSWORD=pw
export TANDEM_PASSWORD
test_have_prog python3 || test_skip_all 'python3 is needed for the background stub'

mta=$(pf_random_addr) mport=$(pf_random_port)
bg=$(pf_random_addr) bport=$(pf_random_port)
net="--smtp $mta:$mport --bg https://bg.a.example:$bport --resolve bg.a.example:$bport:$bg"
alice=ca/accounts/alice@a.example
bob=ca/accounts/bob@a.example

# sink_for RCPT: the one sink dump whose envelope has RCPT
sink_for() {
	grep -l "^X-Rcpt-Args: <$1>" $(smtp_sink_files mta) </dev/null
}

# posted_for RCPT OUT: the ARM posted for RCPT, unwrapped
posted_for() {
	for _p in stub/posted/*; do
		ag_unwrap $_p $alice/courier.crt $alice/courier.key "$2" &&
		grep -q "^Recipient: $1" "$2" && return 0
	done
	return 1
}

# opened DUMP ARM OUT: what bob's agent opens of the content in DUMP
opened() {
	ag_sink_body "$1" | base64 -d >"$1.der" &&
	ag_unwrap "$1.der" $alice/courier.crt $alice/courier.key "$1.sealed" &&
	tandem open -d bob --sealed "$1.sealed" --arm "$2" --out "$3"
}

test_expect_success 'a courier, alice and bob' '
	ag_courier &&
	ag_users --courier-cert alice bob
'

test_expect_success_here 'the smtp-sink and the stub run' '
	smtp_sink_start mta $mta $mport &&
	ag_stub stub $bg $bport ca
'

test_expect_success 'sendmail -t as mutt runs it: To and Cc in one message' '
	printf "%s\n" "From: Alice <alice@a.example>" \
		"To: Bob <bob@a.example>" "Cc: carol@a.example" \
		"Bcc: dave@a.example," "	eve@a.example" \
		"Subject: plans" "Message-ID: <plans-1@a.example>" "" \
		"Bcc: in the body stays" "Meet at noon." >m.eml &&
	printf "%s\n" "From: Alice <alice@a.example>" \
		"To: Bob <bob@a.example>" "Cc: carol@a.example" \
		"Subject: plans" "Message-ID: <plans-1@a.example>" "" \
		"Bcc: in the body stays" "Meet at noon." >sent.want &&
	tandem sendmail -d alice $net -oem -oi -f alice@a.example -t \
		<m.eml >out 2>err &&
	! test -s out && ! test -s err &&
	printf "POST /v1/arm 201\nPOST /v1/arm 201\nPOST /v1/arm 201\n" >log.want &&
	test_cmp log.want stub/log &&
	test $(smtp_sink_files mta | wc -l) = 3 &&
	f=$(sink_for bob@a.example) && test -n "$f" &&
	grep "^X-Mail-Args\|^X-Rcpt-Args\|^To:\|^Message-ID:" $f | tr -d "\r" >env &&
	printf "%s\n" "X-Mail-Args: <alice@a.example>" "X-Rcpt-Args: <bob@a.example>" \
		"X-Rcpt-Args: <carol@a.example>" >env.want &&
	grep "^X-" env >env.x && test_cmp env.want env.x &&
	test_grep "^Message-ID: <plans-1@a.example>" env &&
	test_grep_not "dave\|eve" $f &&
	posted_for bob@a.example arm1.txt &&
	test "$(ag_field Recipient arm1.txt | tr "\n" " ")" = "bob@a.example carol@a.example " &&
	test "$(ag_field Message-Id arm1.txt)" = plans-1@a.example &&
	opened $f arm1.txt got.eml &&
	test_cmp sent.want got.eml
'

test_expect_success 'each Bcc recipient gets a copy of its own, fresh id, no Bcc' '
	for r in dave eve; do
		f=$(sink_for $r@a.example) && test -n "$f" &&
		test "$(grep -c "^X-Rcpt-Args:" $f)" = 1 &&
		test_grep_not "bob@\|carol@" $f &&
		posted_for $r@a.example arm-$r.txt &&
		test "$(ag_field Recipient arm-$r.txt)" = $r@a.example &&
		id=$(ag_field Message-Id arm-$r.txt) &&
		test "$id" != plans-1@a.example &&
		test_grep "^Message-ID: <$id>" $f &&
		opened $f arm-$r.txt got-$r.eml &&
		test_cmp sent.want got-$r.eml || return 1
	done &&
	test "$(ag_field Message-Id arm-dave.txt)" != "$(ag_field Message-Id arm-eve.txt)"
'

test_expect_success 'without -t: the arguments; one not in To or Cc is blind' '
	: >stub/log && rm -f stub/posted/* &&
	n=$(smtp_sink_files mta | wc -l) &&
	printf "From: alice@a.example\nTo: bob@a.example\nSubject: x\n\nhi\n" >m2.eml &&
	tandem sendmail -d alice -oem -oi $net -- bob@a.example Dave@a.example <m2.eml &&
	test $(smtp_sink_files mta | wc -l) = $((n + 2)) &&
	smtp_sink_files mta | tail -2 >new &&
	test "$(grep -l "^X-Rcpt-Args: <bob@a.example>" $(cat new) | wc -l)" = 1 &&
	test "$(grep -l "^X-Rcpt-Args: <Dave@a.example>" $(cat new) | wc -l)" = 1 &&
	test "$(grep -c "^X-Rcpt-Args:" $(cat new) | cut -d: -f2 | tr "\n" " ")" = "1 1 "
'

test_expect_success 'a -f that is not the agent: refused (77), nothing posted or mailed' '
	: >stub/log && n=$(smtp_sink_files mta | wc -l) &&
	test_expect_code 77 tandem sendmail -d alice $net -oi -f carol@a.example -t \
		<m.eml 2>err &&
	test_grep "^tandem sendmail: -f carol@a.example: not this agent.s address alice@a.example" err &&
	test $(wc -l <err) = 1 &&
	! test -s stub/log && test $(smtp_sink_files mta | wc -l) = $n
'

test_expect_success 'no recipient, an unknown option, a refusal: sysexits codes' '
	printf "From: alice@a.example\nSubject: x\n\nhi\n" >m3.eml &&
	test_expect_code 64 tandem sendmail -d alice $net -t <m3.eml 2>err &&
	test_grep "no recipients" err &&
	test_expect_code 64 tandem sendmail -d alice $net -q bob@a.example <m2.eml 2>err &&
	test_grep "option not supported: -q" err &&
	echo 403 >stub/status &&
	test_expect_code 69 tandem sendmail -d alice $net -t <m2.eml 2>err &&
	test_grep "^tandem sendmail: the background refused the ARM: 403" err &&
	printf "From: carol@a.example\nTo: bob@a.example\n\nhi\n" >m4.eml &&
	test_expect_code 65 tandem sendmail -d alice $net -t <m4.eml 2>err &&
	test_grep "From: carol@a.example is not your address" err
'

# mailbox ID FILE: an ARM waiting for bob at the stub, wrapped by the BG
mailbox() {
	ag_wrap ca/elements/bg.crt ca/elements/bg.key $bob/agent.crt "$2" \
		stub/mailbox/$1 &&
	rm -f stub/mailbox/$1.signed &&
	ag_field Message-Id "$2" >stub/mailbox/$1.msgid
}

test_expect_success 'bob: an open message, a restricted one, one whose ARM waits' '
	mkdir -p md/new md/cur md/tmp &&
	cat >bob.conf <<-EOF &&
	agent {
	    bg_url = "https://bg.a.example:$bport"
	    resolve = {"bg.a.example:$bport:$bg"}
	    maildir = "$PWD/md"
	}
	EOF
	ag_content u1@a.example && cp u1@a.example.mail md/new/1.host &&
	printf "From: alice@a.example\nTo: bob@a.example\nSubject: the vault\nDate: Sun, 29 Nov 2026 10:00:00 +0000\nMessage-ID: <r1@a.example>\n\nThe code is 4711-SECRET.\n" >r1@a.example.eml &&
	tandem seal -d alice --to bob@a.example --max-opens 1 --no-forward \
		--in r1@a.example.eml --sealed r1@a.example.der --arm r1@a.example.arm >/dev/null &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key $bob/agent.crt r1@a.example.der r1@a.example.wrap &&
	ag_mail content alice@a.example bob@a.example r1@a.example r1@a.example.wrap >md/new/2.host &&
	ag_content n1@a.example && cp n1@a.example.mail md/cur/3.host:2,S &&
	mailbox 1 u1@a.example.arm && mailbox 2 r1@a.example.arm
'

test_expect_success 'fetch --maildir: the open one as sealed, the restricted one as a notice' '
	: >stub/log &&
	tandem fetch -d bob -c bob.conf --maildir inbox >fetched &&
	printf "r1@a.example\nu1@a.example\n" >fetched.want && sort fetched | test_cmp fetched.want - &&
	test -d inbox/cur && test -z "$(ls inbox/tmp)" &&
	test $(ls inbox/new | wc -l) = 2 &&
	for f in inbox/new/*; do
		case $(basename $f) in
		*.*.*) ;;
		*) echo "not a Maildir name: $f"; return 1 ;;
		esac
		if cmp -s $f u1@a.example.eml; then echo u1; else echo other; fi
	done | sort >which &&
	printf "other\nu1\n" >which.want && test_cmp which.want which &&
	notice=$(grep -l "tandem read --id r1@a.example" inbox/new/*) &&
	test_must_fail grep -r "4711\|vault" inbox &&
	for h in From To Subject Date Message-ID; do
		grep "^$h:" md/new/2.host | tr -d "\r" >h.want &&
		grep "^$h:" $notice >h.got && test_cmp h.want h.got || return 1
	done &&
	test_grep "may be opened 1 time" $notice &&
	test_grep "may not be forwarded" $notice &&
	test_grep_not "Tandem-Kind" $notice
'

test_expect_success 'delivering spent no open: read --id r1@a.example still opens it, once' '
	tandem read -d bob -c bob.conf --id r1@a.example >r1@a.example.out &&
	test_cmp r1@a.example.eml r1@a.example.out &&
	test_expect_code 15 tandem read -d bob -c bob.conf --id r1@a.example 2>err
'

test_expect_success 'a second fetch delivers nothing again; an ARM come later, its message' '
	tandem fetch -d bob -c bob.conf --maildir inbox >fetched &&
	! test -s fetched && test $(ls inbox/new | wc -l) = 2 &&
	mailbox 3 n1@a.example.arm &&
	tandem fetch -d bob -c bob.conf --maildir inbox >fetched &&
	echo n1@a.example >fetched.want && test_cmp fetched.want fetched &&
	test $(ls inbox/new | wc -l) = 3 &&
	test "$(for f in inbox/new/*; do cmp -s $f n1@a.example.eml && echo $f; done | wc -l)" = 1 &&
	tandem fetch -d bob -c bob.conf --maildir inbox &&
	test $(ls inbox/new | wc -l) = 3
'

test_done
