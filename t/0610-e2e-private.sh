test_description='end to end: a private message between two registered users, read byte for byte'
. "$TANDEM_SRC/t/test-lib.sh"

# Seed figure 6, every recipient registered (doc/flows.md section 4):
# ARM by HTTPS to the BG, sealed content by SMTP through the milter,
# rewrapped in place; the recipient fetches, matches and opens.

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

# What transports like to damage, inside the sealed content.
long=$(printf "y%.0s" $(seq 1 990))
{
	printf "From: alice@a.example\r\nTo: bob@a.example\r\n"
	printf "Subject: the quarterly numbers\r\n"
	printf "Message-ID: <q3-numbers@a.example>\r\n"
	printf "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	printf "Content-Transfer-Encoding: 8bit\r\n\r\n"
	printf "Bob, the figures are in.\r\n.\r\n.leading dot\r\nFrom the start\r\n"
	printf "trailing blanks   \r\n\ttab first\r\n\r\n%s\r\n" "$long"
	printf "caf\303\251 cr\303\250me \342\202\254\r\nlast line\r\n"
} >letter.eml

test_expect_success_here 'alice sends: the ARM goes to the BG, the content by mail' '
	agent alice send --to bob@a.example --in letter.eml >send.out &&
	echo q3-numbers@a.example >expect &&
	test_cmp expect send.out
'

test_expect_success 'the BG put one wrapped ARM in bob'"'"'s mailbox, none held' '
	courier_bg_sql "SELECT address, kind, message_id FROM agent_mailbox" >out &&
	echo "bob@a.example|arm|q3-numbers@a.example" >expect &&
	test_cmp expect out &&
	test "$(courier_bg_sql "SELECT count(*) FROM held_arms")" = 0
'

test_expect_success_here 'the content reaches bob'"'"'s Maildir, rewrapped, nothing held' '
	mail=$(maildir_wait bob "^Message-ID: <q3-numbers@a.example>" 30) &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages")" = 0
'

test_expect_success 'the mail shows nothing of the message' '
	test_grep "^Tandem-Kind: content" "$mail" &&
	test_grep "^Subject: Tandem private message" "$mail" &&
	test_grep "^From: alice@a.example" "$mail" &&
	test_grep_not "quarterly" "$mail" &&
	test_grep_not "figures" "$mail" &&
	test "$(cr_maildir_match bob "^Tandem-Kind: content" | wc -l)" = 1 &&
	test_must_fail cr_maildir_match alice "^Tandem-Kind: content"
'

test_expect_success 'the body is a wrap by the FG element to bob'"'"'s agent' '
	sed "1,/^\$/d" "$mail" | base64 -d >wrap.der &&
	openssl cms -cmsout -print -inform DER -in wrap.der >wrap.txt &&
	test_grep "contentType: pkcs7-envelopedData\|contentType: id-smime-ct-authEnvelopedData\|envelopedData" wrap.txt
'

test_expect_success_here 'bob fetches the ARM; the BG forgets it once acknowledged' '
	agent bob fetch >fetch.out &&
	echo "q3-numbers@a.example" >expect &&
	test_cmp expect fetch.out &&
	test "$(courier_bg_sql "SELECT count(*) FROM agent_mailbox WHERE fetched_at IS NULL")" = 0 &&
	agent bob fetch >fetch2.out &&
	test_must_fail test -s fetch2.out
'

test_expect_success 'bob reads exactly what alice wrote' '
	mkdir got && agent bob read --out-dir got >read.out &&
	ls got >files && test "$(wc -l <files)" = 1 &&
	cmp letter.eml "got/$(cat files)"
'

test_expect_success 'a private message opens again' '
	mkdir again && agent bob read --id q3-numbers@a.example --out-dir again >/dev/null &&
	cmp letter.eml "again/$(ls again)"
'

test_expect_success 'alice cannot read what she sent to bob' '
	mkdir alice-got &&
	test_must_fail agent alice read --id q3-numbers@a.example \
	    --maildir "$TRASH/mail/bob" --out-dir alice-got 2>err &&
	cat err &&
	test_grep "cannot decrypt" err &&
	test -z "$(ls alice-got)"
'

test_expect_success 'a second message the same way, to two registered recipients' '
	agent_register carol &&
	printf "From: alice@a.example\r\nTo: bob@a.example, carol@a.example\r\nSubject: two\r\nMessage-ID: <two@a.example>\r\n\r\nfor both of you\r\n" >two.eml &&
	agent alice send --to bob@a.example --to carol@a.example --in two.eml >/dev/null &&
	maildir_wait bob "^Message-ID: <two@a.example>" 30 >/dev/null &&
	maildir_wait carol "^Message-ID: <two@a.example>" 30 >/dev/null &&
	for u in bob carol; do
		agent $u fetch >/dev/null &&
		mkdir $u-two &&
		agent $u read --id two@a.example --out-dir $u-two >/dev/null &&
		cmp two.eml "$u-two/$(ls $u-two)" || return 1
	done
'

test_expect_success 'the daemons are alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
