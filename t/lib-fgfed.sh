# t/lib-fgfed.sh - two live foreground elements, a and b, for t/075x
#
# Sourced by a scenario after t/test-lib.sh, with FGFED_SINK_DOMAINS
# naming the domains beyond a.example and b.example whose mail ends in
# the sink. Courier a is public under the root, b private (b.example)
# under a. Each
# courier's Postfix has its milter; one reinjection Postfix without
# milter serves both; mail for users of every domain ends in one
# smtp-sink, service mailboxes at their courier.
#
#	fgfed_pki X...	the root in root/, and each courier X (a, b, and
#			private ones under a) in X/ with its FG element;
#			the accounts alice@a.example, bob@b.example and
#			dave@b.example
#	fgfed_databases	a PostgreSQL cluster with a database for a and
#			for b, migrated, the accounts active; then a.conf
#			and b.conf, the milters' configurations (in
#			test_expect_success_here)
#	fgfed_start	the sink, the Postfix instances and the milters
#			(in test_expect_success_here)
#	send ADDR:PORT FILE FROM TO	swaks, the reply in swaks.out
#	mail FILE KIND FROM TO DER	a Tandem mail around a DER wrap
#	sink_wait PATTERN	the one sink dump with a matching line
#	ic OUT ID HOPS ORIGIN SENDER RCPT [COURIER [SEALED]]
#			an inter-courier message from b to a in OUT.txt
#	ic_mail NAME SIGNER [TO [FROM]]
#			NAME.txt signed by SIGNER's FG, as a mail to TO's (a)
#			from FROM's service mailbox (b)
#	ic_send NAME SIGNER [TO [FROM]]	the same, sent

a_addr=$(pf_random_addr) b_addr=$(pf_random_addr) re_addr=$(pf_random_addr)
sink_addr=$(pf_random_addr)
a_port=$(pf_random_port) b_port=$(pf_random_port) re_port=$(pf_random_port)
sink_port=$(pf_random_port)
map="inline:{tandem@a.example=smtp:[$a_addr]:$a_port, tandem@b.example=smtp:[$b_addr]:$b_port"
for _fg_d in a.example b.example $FGFED_SINK_DOMAINS; do
	map="$map, $_fg_d=smtp:[$sink_addr]:$sink_port"
done
map="$map}"

fgfed_pki() {
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d a --name a.example --role public \
	    --superior root >/dev/null || return 1
	for _fg_x; do
		[ "$_fg_x" = a ] || tandem-ca courier -d "$_fg_x" \
		    --name "$_fg_x.example" --role private --superior a \
		    --domain "$_fg_x.example" >/dev/null || return 1
		tandem-ca element -d "$_fg_x" --fg "tandem@$_fg_x.example" \
		    >/dev/null && tandem-ca issuing -d "$_fg_x" \
		    --domain "$_fg_x.example" >/dev/null &&
		ln -s "$_fg_x" "$_fg_x.example" || return 1
	done
	for _fg_u in alice@a.example bob@b.example dave@b.example; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout $_fg_u.key -subj /CN=$_fg_u \
		    -out $_fg_u.csr 2>/dev/null &&
		tandem-ca account -d ${_fg_u#*@} --address $_fg_u \
		    --csr $_fg_u.csr >/dev/null || return 1
	done
}

fgfed_databases() {
	pg_start fg && tandemctl keybox new kb.key &&
	for x in a b; do
		pg_createdb fg fg$x &&
		tandemctl db migrate --fg --db "$(pg_conninfo fg fg$x)" \
		    --sqldir "$TANDEM_SRC/sql" >/dev/null || return 1
	done &&
	for u in alice@a.example bob@b.example dave@b.example; do
		d=${u#*@} && x=${d%.example} && c=$x/accounts/$u &&
		tandemctl account add --db "$(pg_conninfo fg fg$x)" \
		    --address $u --status active \
		    --courier-key $c/courier.key --courier-cert $c/courier.crt \
		    --agent-cert $c/agent.crt --keybox-key kb.key >/dev/null ||
		return 1
	done &&
	fgfed_confs
}


# fgfed_confs: a.conf and b.conf, once the database runs.
fgfed_confs() {
	for x in a b; do
		sup=root.example role=public
		[ $x = a ] || { sup=a.example role=private; }
		cat >$x.conf <<CONF
courier {
  name = "$x.example"
  role = $role
  domains = {"$x.example"}
  superior = "$sup"
}
foreground {
  milter_socket = "unix:$TRASH/$x.sock"
  reinject = "$re_addr:$re_port"
  service_mailbox = "tandem@$x.example"
  ca_dir = "$TRASH/$x/issuing"
  user = "nobody"
  ca_user = "daemon"
}
database { conninfo = "$(pg_conninfo fg fg$x)" }
tls {
  anchors = "$TRASH/root/root.crt"
  cert = "$TRASH/$x/elements/fg.crt"
  key = "$TRASH/$x/elements/fg.key"
  chain = "$TRASH/$x/issuing/chain.pem"
  keybox_key = "$TRASH/kb.key"
}
CONF
done
}

fgfed_start() {
	smtp_sink_start out "$sink_addr" "$sink_port" &&
	postfix_start re "$re_addr" "$re_port" "transport_maps = $map" &&
	for x in a b; do
		{ tandem-milter -c $x.conf -f 2>$x.log &
		    echo $! >$x.pid; } &&
		test_atexit "kill \$(cat $TRASH/$x.pid) 2>/dev/null" &&
		n=0 && while [ ! -S $x.sock ] && [ $n -lt 50 ]; do
			sleep 0.1; n=$((n + 1)); done &&
		test -S $x.sock || return 1
	done &&
	postfix_start a "$a_addr" "$a_port" "transport_maps = $map" \
	    "smtpd_milters = unix:$TRASH/a.sock" \
	    "milter_default_action = tempfail" "milter_protocol = 6" &&
	postfix_start b "$b_addr" "$b_port" "transport_maps = $map" \
	    "smtpd_milters = unix:$TRASH/b.sock" \
	    "milter_default_action = tempfail" "milter_protocol = 6"
}

# send PORTADDR FILE FROM TO: swaks, the reply in swaks.out
send() {
	swaks --server "$1" --from "$3" --to "$4" --data "@$2" >swaks.out 2>&1
}

# mail FILE KIND FROM TO DER: a Tandem mail around a DER wrap
mail() {
	{
		printf "From: %s\r\nTo: %s\r\n" "$3" "$4"
		printf "Subject: Tandem\r\nMessage-ID: <%s@%s>\r\n" "$1" "${3#*@}"
		printf "MIME-Version: 1.0\r\nTandem-Kind: %s\r\n" "$2"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 "$5" | sed "s/\$/\r/"
	} >"$1"
}

# sink_wait PATTERN: the one sink dump with a line matching PATTERN
sink_wait() {
	n=0
	while [ $n -lt 150 ]; do
		f=$(grep -l -e "$1" $(smtp_sink_files out) /dev/null 2>/dev/null |
		    head -1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.2; n=$((n + 1))
	done
	echo "sink_wait: nothing matches $1" >&2
	return 1
}

# ic OUT ID HOPS ORIGIN SENDER RCPT [COURIER [SEALED]]: an inter-courier
# message to a from b's FG (IC_FROM's, when set: c, say), its origin
# COURIER (b.example) asserted by ORIGIN's FG (a CA folder), carrying
# SEALED (sealed.der)
ic() {
	_ic_c=${7:-b.example} _ic_s=${8:-sealed.der} _ic_f=${IC_FROM:-b}
	part() {
		printf -- "--b1\r\nContent-Type: %s\r\n" "$1"
		printf "Content-Transfer-Encoding: base64\r\nTandem-Part: %s\r\n\r\n" "$2"
		base64 -w 76 "$3" | sed "s/\$/\r/"
	}
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.inter-courier\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s\r\nDate: %s\r\n" "$2" "$now"
		printf "From-Element: tandem@%s.example\r\nTo-Element: tandem@a.example\r\n" "$_ic_f"
		printf "Message-Id: %s@b.example\r\nSender: %s\r\n" "$1" "$5"
		printf "Recipient: %s\r\nHops: %s\r\n" "$6" "$3"
		printf "Origin-Courier: %s\r\nOrigin-Date: %s\r\n" "$_ic_c" "$now"
		printf "Origin-Signature: %s\r\n" "$({
			printf "Statement: tandem-origin/1\nOrigin-Courier: %s\n" "$_ic_c"
			printf "Origin-Date: %s\nMessage-Id: %s@b.example\n" "$now" "$1"
			printf "Sender: %s\nRecipient: %s\n" "$5" "$6"
			printf "Payload: sealed %s\n" "$(openssl dgst -sha256 -r "$_ic_s" | cut -d" " -f1)"
		} | openssl dgst -sha256 -sign $4/elements/fg.key -binary | base64 -w0)"
		part application/pkcs7-mime sealed "$_ic_s"
		part application/pem-certificate-chain origin-cert $4/elements/fg.crt
		part application/pem-certificate-chain origin-chain $4/chain.pem
		printf -- "--b1--\r\n"
	} >"$1.txt"
}

# ic_mail NAME SIGNER [TO [FROM]]: NAME.txt signed by SIGNER's FG key,
# enveloped to TO's FG (a), as a mail NAME from FROM's service mailbox
# (b) to TO's; TO and FROM are couriers a, b, c... (CA folders)
ic_mail() {
	_ic_to=${3:-a} _ic_from=${4:-b}
	openssl cms -sign -binary -nodetach -in "$1.txt" -outform DER \
	    -signer $2/elements/fg.crt -inkey $2/elements/fg.key \
	    -certfile $2/chain.pem -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$1.signed" \
	    -inform DER -outform DER -recip $_ic_to/elements/fg.crt \
	    -keyopt ecdh_kdf_md:sha256 -out "$1.der" &&
	mail "$1" inter-courier tandem@$_ic_from.example \
	    tandem@$_ic_to.example "$1.der"
}

# ic_send NAME SIGNER [TO [FROM]]: ic_mail, then sent to TO's Postfix
ic_send() {
	ic_mail "$@" &&
	eval "_ic_at=\$${_ic_to}_addr:\$${_ic_to}_port" &&
	send "$_ic_at" "$1" tandem@$_ic_from.example tandem@$_ic_to.example
}
