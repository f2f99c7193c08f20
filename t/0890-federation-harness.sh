test_description='federation harness: six couriers, each with its own clusters, Postfix, milter and policyd; introductions seeded'
. "$TANDEM_SRC/t/test-lib.sh"

# Checks t/lib-federation.sh itself: every element runs on its own
# address with its own databases, each knows exactly its superior and
# subordinates, mail between couriers crosses the right Postfix, and
# one courier still carries its own users' private mail.

test_expect_success_here 'the PKI of six couriers, then all of them started' '
	fed_pki && fed_start $FED_ALL
'

test_expect_success 'twelve daemons and twelve clusters run, each on its own address' '
	for x in $FED_ALL; do
		fed_in $x cr_daemon_alive milter &&
		fed_in $x cr_daemon_alive policyd || { echo "$x is down"; return 1; }
	done &&
	for x in $FED_ALL; do fed_var $x CR_FG_ADDR; fed_var $x CR_BG_ADDR; done |
		sort -u | wc -l >n && echo 12 >want && test_cmp want n &&
	for x in $FED_ALL; do fed_var $x PG_FG_PORT; fed_var $x PG_BG_PORT; done |
		sort -u | wc -l >n && test_cmp want n
'

test_expect_success 'each element knows its superior and its subordinates, no one else' '
	for x in $FED_ALL; do
		for k in fg bg; do
			fed_${k}_sql $x "SELECT courier FROM introductions ORDER BY 1" >got.$x.$k &&
			for y in $(fed_superior $x) $(fed_subordinates $x); do
				echo $y.example
			done | sort >want.$x.$k &&
			test_cmp want.$x.$k got.$x.$k || return 1
		done
	done &&
	echo "corp.example|{corp.example}" >want &&
	fed_bg_sql isp "SELECT courier, domains FROM introductions WHERE courier = \$\$corp.example\$\$" >got &&
	test_cmp want got
'

test_expect_success 'the gateway'"'"'s subordinate knows only its gateway' '
	echo gw.example >want &&
	fed_fg_sql sub "SELECT courier FROM introductions" >got && test_cmp want got &&
	fed_bg_sql sub "SELECT courier FROM introductions" >got && test_cmp want got &&
	fed_fg_sql root "SELECT count(*) FROM introductions WHERE courier = \$\$sub.example\$\$" >got &&
	echo 0 >want && test_cmp want got
'

test_expect_success 'ordinary mail from corp'"'"'s Postfix reaches home'"'"'s Maildir through its transport' '
	printf "From: erin@corp.example\r\nTo: frank@home.example\r\nSubject: plain\r\nMessage-ID: <plain1@corp.example>\r\n\r\nhello\r\n" |
		fed_in corp postfix_sendmail fg -f erin@corp.example frank@home.example &&
	f=$(fed_in home maildir_wait frank "^Message-ID: <plain1@corp.example>" 30) &&
	test_grep "^hello" "$f"
'

test_expect_success 'hub and dept are made only when named: the six know nothing of them' '
	case " $FED_ALL " in *" hub "*|*" dept "*) false ;; esac &&
	echo "public gw private hub" >want &&
	echo "$(fed_role hub) $(fed_superior hub) $(fed_role dept) $(fed_superior dept)" >got &&
	test_cmp want got &&
	echo sub >want && fed_subordinates gw >got && test_cmp want got &&
	test -z "$(fed_var hub CR_BG_URL)" &&
	test ! -d "$FED_TOP/pki/hub" && test ! -d "$FED_TOP/pki/dept"
'

secret=secret-$(od -An -N12 -tx1 /dev/urandom | tr -d " \n")

test_expect_success_here 'one courier carries its own private mail: alice and bob at corp' '
	fed_register corp alice && fed_register corp bob &&
	printf "From: alice@corp.example\r\nTo: bob@corp.example\r\nSubject: inside\r\nMessage-ID: <in1@corp.example>\r\n\r\n%s\r\n" "$secret" >m.eml &&
	fed_agent corp alice send --to bob@corp.example --in m.eml >out &&
	echo in1@corp.example >want && test_cmp want out &&
	fed_in corp maildir_wait bob "^Message-ID: <in1@corp.example>" 30 >/dev/null &&
	fed_agent corp bob fetch >/dev/null &&
	fed_agent corp bob read --id in1@corp.example >got &&
	test_cmp m.eml got
'

test_expect_success 'split trust holds on every element' '
	key=$(fed_content_key corp bob in1@corp.example) &&
	test ${#key} = 64 &&
	for x in $FED_ALL; do fed_split_trust $x "$secret" "$key" || return 1; done
'

test_expect_success 'the split trust check can fail' '
	echo "$key" >>"$(fed_log isp fg)" &&
	test_must_fail fed_split_trust isp "$secret" "$key" >out &&
	test_grep "isp.s FG keeps the key or the text" out
'

test_done
