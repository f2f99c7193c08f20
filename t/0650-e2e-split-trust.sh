test_description='end to end: split trust; the FG never holds the key, the BG never the content'
. "$TANDEM_SRC/t/test-lib.sh"

# After a message to a registered and an unregistered recipient, every
# place each element keeps things (database dump, Postfix queue and log,
# daemon log) is searched: the FG side for the content key and the
# plaintext, the BG side for the plaintext and the sealed content. Each
# search first finds its needle where it must be (the recipient's
# store, the FG database), so that a miss means something.

test_expect_success_here 'a courier; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")
{
	printf "From: alice@a.example\r\nTo: bob@a.example, dave@a.example\r\n"
	printf "Subject: %s in the subject\r\nMessage-ID: <split@a.example>\r\n\r\n" "$secret"
	printf "The body says %s too.\r\n" "$secret"
} >split.eml

test_expect_success_here 'Postfix defers local delivery, so the mail stays queued' '
	postconf -c "$(postfix_dir fg)" "defer_transports = virtual" &&
	pf_pty "postfix -c $(postfix_dir fg) reload"
'

test_expect_success 'alice sends to bob (registered) and dave (not)' '
	agent alice send --to bob@a.example --to dave@a.example --in split.eml >out &&
	echo split@a.example >expect && test_cmp expect out &&
	pg_wait_for fg fg "SELECT count(*) FROM held_messages" 1 30 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms" 1 30
'

# fg_places / bg_places: every file where an element keeps something.
fg_places() {
	pg_dump -d "$CR_FG_DB" >fg.dump &&
	find "$TRASH/postfix-fg/spool" -type f >fg.files &&
	echo fg.dump >>fg.files &&
	echo "$TRASH/postfix-fg/maillog" >>fg.files &&
	echo "$TRASH/fg/milter.log" >>fg.files &&
	echo "$(pg_dir_of fg)/server.log" >>fg.files
}
bg_places() {
	pg_dump -d "$CR_BG_DB" >bg.dump &&
	{ echo bg.dump; echo "$TRASH/bg/policyd.log";
	  echo "$(pg_dir_of bg)/server.log"; } >bg.files
}
# none NEEDLE LIST: NEEDLE (case-insensitive, as bytes) is in no file
# of LIST.
none() {
	while IFS= read -r _f; do
		if grep -a -i -q -e "$1" "$_f"; then
			echo "found $1 in $_f"
			return 1
		fi
	done <"$2"
}

test_expect_success 'while it is queued: the FG queue holds the message, sealed' '
	n=0 && until grep -a -l -s -r "split@a.example" \
		"$TRASH/postfix-fg/spool/deferred" >queued || test $n = 300; do
		n=$((n + 1)) && sleep 0.1
	done &&
	test -s queued &&
	fg_places &&
	none "$secret" fg.files
'

test_expect_success_here 'delivery resumes' '
	postconf -c "$(postfix_dir fg)" "defer_transports =" &&
	pf_pty "postfix -c $(postfix_dir fg) reload" &&
	postqueue -c "$(postfix_dir fg)" -f &&
	maildir_wait bob "^Message-ID: <split@a.example>" 60 >/dev/null
'

test_expect_success_here 'bob fetches and reads it: the needles exist' '
	agent bob fetch >/dev/null &&
	mkdir got && agent bob read --id split@a.example --out-dir got >/dev/null &&
	cmp split.eml got/split@a.example.eml &&
	key=$(agent bob arm split@a.example |
	    tr -d "\r" | sed -n "s/^Content-Key: //p") &&
	test "${#key}" = 64 &&
	sealed=$(courier_fg_sql "SELECT encode(body, \$\$hex\$\$) FROM held_messages WHERE message_id = \$\$split@a.example\$\$") &&
	test "${#sealed}" -gt 1000 &&
	chunks=$(for off in 200 700 1000; do
		printf "%s\n" "$sealed" | cut -c$((off + 1))-$((off + 64))
	done) &&
	test "$(echo "$chunks" | wc -l)" = 3
'

test_expect_success 'the held content opens with the held key, then with the content key, as plain CMS' '
	printf "%s" "$sealed" | perl -ne "print pack(q(H*), \$_)" >held.box &&
	test_must_fail openssl cms -cmsout -inform DER -in held.box -out /dev/null 2>/dev/null &&
	python3 "$TANDEM_SRC/t/keybox-open.py" "$CR_PKI/held.key" held split@a.example \
	    dave@a.example <held.box >sealed.der &&
	kid=$(printf "%s" split@a.example | od -An -tx1 | tr -d " \n") &&
	openssl cms -decrypt -inform DER -in sealed.der -binary \
	    -secretkey "$key" -secretkeyid "$kid" >signed.der &&
	openssl cms -verify -inform DER -in signed.der -binary -noverify >opened 2>/dev/null &&
	cmp split.eml opened
'

test_expect_success 'the FG: neither the key nor the plaintext anywhere' '
	fg_places &&
	test_grep "$(echo "$chunks" | head -n 1)" fg.dump &&
	none "$key" fg.files &&
	none "$secret" fg.files
'

test_expect_success 'the BG: neither the plaintext nor the sealed content anywhere' '
	bg_places &&
	test_grep "split@a.example" bg.dump &&
	none "$secret" bg.files &&
	for c in $chunks; do none "$c" bg.files || return 1; done
'

test_expect_success 'the BG keeps the key only wrapped, never in clear' '
	none "$key" bg.files
'

test_expect_success 'the Maildirs hold only ciphertext' '
	find "$TRASH/mail" -type f >mail.files &&
	test -s mail.files &&
	none "$secret" mail.files
'

test_done
