test_description='end to end: faults; milter killed, FG database down, BG down, BG subscriber down'
. "$TANDEM_SRC/t/test-lib.sh"

# DESIGN.md section 6: never lose a message. Each fault is made for
# real (SIGKILL, pg_ctl stop) and each message must arrive exactly once
# after the fault is gone. The agents submit through a relay Postfix
# ("out", an ISP's submission server) that queues and retries, as a
# sending MTA does when the courier answers tempfail.

test_expect_success_here 'a courier, a relay in front of it; alice and bob register' '
	courier_pki a.example &&
	courier_fg_start && courier_bg_start &&
	agent_register alice && agent_register bob &&
	out_addr=$(cr_random_addr "$CR_FG_ADDR" "$CR_BG_ADDR") &&
	out_port=$(pf_random_port) &&
	postfix_start out "$out_addr" "$out_port" \
	    "relayhost = [$CR_FG_ADDR]:$CR_SMTP_PORT" &&
	for u in alice bob dave; do
		agent_conf $u &&
		sed -i "s|submission = .*|submission = \"$out_addr:$out_port\"|" \
		    "$TRASH/agent-$u/tandem.conf" || return 1
	done
'

# more_deferred N: the relay has logged more than N deferrals
more_deferred() {
	test "$(grep -c "status=deferred" "$TRASH/postfix-out/maillog")" -gt "$1"
}

# letter ID: a message from alice to bob with Message-ID ID, in ID.eml
letter() {
	printf "From: alice@a.example\r\nTo: bob@a.example\r\nSubject: %s\r\nMessage-ID: <%s@a.example>\r\n\r\nfault test %s\r\n" \
	    "$1" "$1" "$1" >"$1.eml"
}

# arrives_once USER ID: ID reaches USER'"'"'s Maildir, opens, exactly once
arrives_once() {
	maildir_wait "$1" "^Message-ID: <$2@a.example>" 60 >/dev/null &&
	postfix_wait_queue_empty out 30 &&
	postfix_wait_queue_empty fg 30 &&
	test "$(cr_maildir_match "$1" "^Message-ID: <$2@a.example>" | wc -l)" = 1 &&
	agent "$1" fetch >/dev/null &&
	mkdir -p "got-$1" &&
	agent "$1" read --id "$2@a.example" --out-dir "got-$1" >/dev/null &&
	cmp "$2.eml" "got-$1/$2@a.example.eml"
}

# A raw SMTP client that stops in the middle of DATA until the file
# "go" exists, so that the milter can be killed mid-message. Prints
# the server's final reply.
cat >smtp-pause.pl <<'PL'
use strict; use IO::Socket::INET;
my ($addr, $port, $from, $to, $file) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
    Timeout => 30) or die "connect: $!\n";
sub reply { my $r = ""; while (my $l = <$s>) { $r .= $l; last if $l =~ /^\d{3} / } return $r }
sub cmd { print $s "$_[0]\r\n"; return reply() }
reply();
cmd("EHLO pause.test");
cmd("MAIL FROM:<$from>") =~ /^250/ or die "MAIL refused\n";
cmd("RCPT TO:<$to>") =~ /^250/ or die "RCPT refused\n";
cmd("DATA") =~ /^354/ or die "DATA refused\n";
open(my $fh, "<", $file) or die "$file: $!\n";
my @lines = <$fh>; close $fh;
my $half = int(@lines / 2);
print $s $_ for @lines[0 .. $half - 1];
open(my $p, ">", "paused") or die "paused: $!\n";
close $p;
sleep 1 until -e "go";
print $s $_ for @lines[$half .. $#lines];
print $s ".\r\n";
print reply();
cmd("QUIT");
PL

test_expect_success_here 'a content mail captured as alice'"'"'s agent submits it' '
	sink_addr=$(cr_random_addr "$CR_FG_ADDR" "$CR_BG_ADDR" "$out_addr") &&
	sink_port=$(pf_random_port) &&
	smtp_sink_start cap "$sink_addr" "$sink_port" &&
	letter mid &&
	agent alice send --smtp "$sink_addr:$sink_port" --to bob@a.example --in mid.eml >/dev/null &&
	wait_until 10 test -n "$(smtp_sink_files cap)" &&
	test_grep "^Tandem-Kind: content" "$(smtp_sink_files cap)"
'

test_expect_success_here 'the milter is killed mid-message: tempfail, nothing kept' '
	# the dump holds the SMTP envelope lines first, then the message
	sed -n "/^From: /,\$p" "$(smtp_sink_files cap)" >mid.mail &&
	test_grep "^Tandem-Kind: content" mid.mail &&
	{ perl smtp-pause.pl "$CR_FG_ADDR" "$CR_SMTP_PORT" alice@a.example \
	    bob@a.example mid.mail >mid.reply 2>&1 & } &&
	client=$! &&
	wait_until 20 test -f paused &&
	courier_milter_stop KILL &&
	touch go &&
	wait $client &&
	cat mid.reply &&
	test_grep "^4[0-9][0-9] " mid.reply &&
	test_must_fail cr_maildir_match bob "^Message-ID: <mid@a.example>" &&
	test "$(courier_fg_sql "SELECT count(*) FROM held_messages")" = 0
'

test_expect_success_here 'the milter is back; the same mail is accepted and arrives once' '
	courier_milter_start &&
	rm -f paused go &&
	( touch go; perl smtp-pause.pl "$CR_FG_ADDR" "$CR_SMTP_PORT" alice@a.example \
	    bob@a.example mid.mail >mid.reply2 2>&1 ) &&
	test_grep "^250 " mid.reply2 &&
	arrives_once bob mid
'

test_expect_success_here 'the milter down: the relay keeps the mail, delivers it once it is back' '
	courier_milter_stop KILL &&
	letter down &&
	agent alice send --to bob@a.example --in down.eml >/dev/null &&
	wait_until 20 grep -q "status=deferred.*451" "$TRASH/postfix-out/maillog" &&
	test_must_fail cr_maildir_match bob "^Message-ID: <down@a.example>" &&
	courier_milter_start &&
	postqueue -c "$(postfix_dir out)" -f &&
	arrives_once bob down
'

test_expect_success_here 'the FG database down: tempfail, then delivery once it is back' '
	pg_stop fg &&
	letter dbdown &&
	n=$(grep -c "status=deferred" "$TRASH/postfix-out/maillog") &&
	agent alice send --to bob@a.example --in dbdown.eml >/dev/null &&
	wait_until 30 more_deferred "$n" &&
	test_must_fail cr_maildir_match bob "^Message-ID: <dbdown@a.example>" &&
	courier_pg_restart fg &&
	postqueue -c "$(postfix_dir out)" -f &&
	arrives_once bob dbdown &&
	cr_daemon_alive milter
'

test_expect_success_here 'the BG down while alice sends: the agent retries the ARM' '
	courier_policyd_stop &&
	letter bgdown &&
	{ ( agent alice send --retry-for 90 --to bob@a.example --in bgdown.eml \
	    >bgdown.out 2>bgdown.err; echo $? >bgdown.rc ) & } &&
	sender=$! &&
	sleep 4 &&
	test_must_fail test -f bgdown.rc &&
	test_must_fail cr_maildir_match bob "^Message-ID: <bgdown@a.example>" &&
	courier_policyd_start &&
	wait $sender &&
	echo 0 >expect && test_cmp expect bgdown.rc &&
	arrives_once bob bgdown &&
	courier_bg_sql "SELECT count(*) FROM seen_messages WHERE message_id = \$\$bgdown@a.example\$\$" >out &&
	echo 1 >expect && test_cmp expect out
'

test_expect_success_here 'alice writes to dave, who is not registered' '
	printf "From: alice@a.example\r\nTo: dave@a.example\r\nSubject: held\r\nMessage-ID: <held@a.example>\r\n\r\nfault test held\r\n" >held.eml &&
	agent alice send --to dave@a.example --in held.eml >/dev/null &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$" 1 30 &&
	maildir_wait dave "^Tandem-Kind: invitation" 60 >/dev/null
'

test_expect_success_here 'the BG database is down while dave registers' '
	pg_stop bg &&
	inv=$(cr_maildir_match dave "^Tandem-Kind: invitation" | tail -n 1) &&
	agent dave register --invitation "$inv" --anchor "$CR_ANCHOR" --timeout 60 &&
	pg_wait_for fg fg "SELECT status FROM accounts WHERE address = \$\$dave@a.example\$\$" active 30 &&
	cr_daemon_alive policyd
'

test_expect_success_here 'the BG comes back: replication catches up, the held ARM is released' '
	courier_pg_restart bg &&
	pg_wait_for bg bg "SELECT status FROM accounts WHERE address = \$\$dave@a.example\$\$" active 60 &&
	pg_wait_for bg bg "SELECT count(*) FROM held_arms WHERE recipient = \$\$dave@a.example\$\$ AND released_at IS NOT NULL" 1 60 &&
	arrives_once dave held
'

test_expect_success 'the daemons are alive and logged no crash' '
	cr_daemon_alive milter && cr_daemon_alive policyd &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/fg/milter.log" &&
	test_grep_not "AddressSanitizer\|runtime error" "$TRASH/bg/policyd.log"
'

test_done
