test_description='a private Postfix instance relays mail to smtp-sink, body intact'
. "$TANDEM_SRC/t/test-lib.sh"

pf_addr=$(pf_random_addr)
sink_addr=$(pf_random_addr)
while [ "$sink_addr" = "$pf_addr" ]; do sink_addr=$(pf_random_addr); done
pf_port=$(pf_random_port)
sink_port=$(pf_random_port)

# A body with what transports like to damage: a leading dot, a line
# that is only a dot, "From " at the start of a line, trailing blanks,
# a tab, an empty line, a long line.
long=$(printf 'x%.0s' $(seq 1 900))
printf '%s\n' 'first line' '.leading dot' '.' 'From the start of a line' \
    'trailing blanks   ' '	tab first' '' "$long" 'last line' >body
{
	printf 'From: alice@a.example\nTo: bob@b.example\n'
	printf 'Subject: relay check\nMessage-ID: <relay-1@a.example>\n\n'
	cat body
} >message
# The same with CRLF and the closing dot: swaks then adds nothing.
{ sed 's/$/\r/' message; printf '.\r\n'; } >message.crlf

test_expect_success_here 'smtp-sink starts on a random 127.x address' '
	smtp_sink_start out "$sink_addr" "$sink_port"
'

test_expect_success_here 'a private Postfix instance starts' '
	postfix_start relay "$pf_addr" "$pf_port" \
	    "relayhost = [$sink_addr]:$sink_port" &&
	pf_master_pid relay >master.pid &&
	test -s master.pid
'

test_expect_success 'its smtpd listens on its own address only' '
	ss -Hltn "sport = :$pf_port" >listen &&
	test_grep "$pf_addr:$pf_port" listen &&
	test_grep_not "0.0.0.0:$pf_port" listen
'

test_expect_success 'sendmail -C queues a message, which is relayed' '
	postfix_sendmail relay -f alice@a.example bob@b.example <message &&
	postfix_wait_queue_empty relay 30 &&
	test_grep "status=sent" "$TRASH/postfix-relay/maillog"
'

test_expect_success 'the sink received exactly one transaction' '
	smtp_sink_files out >files &&
	test $(wc -l <files) -eq 1
'

test_expect_success 'the envelope went through' '
	test_grep "alice@a.example" "$(cat files)" &&
	test_grep "bob@b.example" "$(cat files)"
'

test_expect_success 'the body arrived byte for byte' '
	smtp_sink_body "$(cat files)" | tr -d "\r" >got &&
	test_cmp body got
'

test_expect_success 'and the headers too' '
	test_grep "^Subject: relay check" "$(cat files)" &&
	test_grep "^Message-ID: <relay-1@a.example>" "$(cat files)"
'

if test_have_prog swaks; then
	test_expect_success 'swaks over SMTP to the instance is relayed too' '
		swaks --server "$pf_addr:$pf_port" --from carol@a.example \
		    --to dave@b.example --data @message.crlf >swaks.out 2>&1 &&
		postfix_wait_queue_empty relay 30 &&
		smtp_sink_files out >files2 &&
		test $(wc -l <files2) -eq 2 &&
		smtp_sink_body "$(tail -n 1 files2)" | tr -d "\r" >got2 &&
		test_cmp body got2
	'
else
	test_skip 'swaks over SMTP' 'swaks is not installed'
fi

test_expect_success_here 'a broken main.cf fails to start, and says why' '
	test_must_fail postfix_start broken "$pf_addr" "$(pf_random_port)" \
	    "this line is not a parameter" >broken.out 2>&1 &&
	test_grep "fatal" broken.out
'

test_expect_success 'a broken instance is not left running' '
	test_must_fail pf_master_pid broken
'

test_expect_success_here 'postfix_stop stops the master' '
	postfix_stop relay &&
	! kill -0 "$(cat master.pid)" 2>/dev/null &&
	test_must_fail pf_master_pid relay
'

test_done
