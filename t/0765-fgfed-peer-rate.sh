#!/bin/sh
test_description='tandem-milter: one courier flooding the Inter-Courier intake is answered 451 beyond foreground.max_peer_rate, logged once; another courier is still served'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog swaks || test_skip_all 'swaks is missing'

# Couriers a (public), b and c (private, under a); a and b run.
FGFED_SINK_DOMAINS=c.example
. "$TANDEM_SRC/t/lib-fgfed.sh"

# last_reply: the code of the server's answer to the end of the data in
# swaks.out (the last answer but QUIT's)
last_reply() {
	sed -n "s/^<[-*]* *\([245][0-9][0-9]\) .*/\1/p" swaks.out |
	    grep -v "^221$" | tail -n 1
}

test_expect_success 'three couriers, their FG elements and accounts' '
	fgfed_pki a b c
'

test_expect_success_here 'a foreground database for a and for b; a takes 3 Inter-Courier messages a minute from one courier' '
	fgfed_databases &&
	sed -i "s|^  max_messages = .*||; s|^\(  service_mailbox = \"tandem@a.example\"\)|\1\n  max_peer_rate = 3|" a.conf &&
	test_grep "^  max_peer_rate = 3" a.conf
'

test_expect_success 'a knows b and c' '
	for x in b c; do
		tandemctl intro add --db "$(pg_conninfo fg fga)" \
		    --cert $x/elements/fg.crt --chain $x/chain.pem \
		    --anchors root/root.crt >/dev/null || return 1
	done
'

test_expect_success_here 'the milters, the Postfix instances and the sink start' '
	fgfed_start
'

test_expect_success 'b sends 6 to alice at once: 3 taken, 3 answered 451 4.7.0 naming the limit' '
	printf "sealed content stand-in\n" >sealed.der &&
	for i in 1 2 3 4 5 6; do
		ic r$i r$i@b.example 1 b bob@b.example alice@a.example &&
		ic_mail r$i b || return 1
	done &&
	: >codes &&
	: all made first, then sent at once: the bucket refills by one in 20 s &&
	for i in 1 2 3 4 5 6; do
		{ send "$a_addr:$a_port" r$i tandem@b.example tandem@a.example || :; } &&
		last_reply >>codes || return 1
	done &&
	cat codes &&
	test "$(grep -c "^250$" codes)" = 3 &&
	test "$(grep -c "^451$" codes)" = 3 &&
	test_grep "451 4.7.0 inter-courier: more than 3 messages a minute from courier b.example (foreground.max_peer_rate); try again later" swaks.out &&
	for i in 1 2 3; do
		test_wait_log a.log "msgid=r$i@b.example origin=b.example hops=1 rcpt=alice@a.example route=deliver-local" || return 1
	done
'

test_expect_success 'the flood is logged once, not once a message' '
	test "$(grep -c "status=tempfail reason=\"4.7.0 inter-courier: more than 3" a.log)" = 1 &&
	test_grep "peer=b.example limited=once-a-minute" a.log
'

test_expect_success 'c is still served meanwhile: its message is taken' '
	IC_FROM=c ic c1 c1@c.example 1 c carol@c.example alice@a.example c.example &&
	ic_send c1 c a c &&
	test "$(last_reply)" = 250 &&
	test_wait_log a.log "msgid=c1@b.example origin=c.example hops=1 rcpt=alice@a.example route=deliver-local"
'

test_done
