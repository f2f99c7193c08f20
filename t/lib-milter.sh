# t/lib-milter.sh - one foreground (courier a.example) for the milter's
# scenarios with a real MTA: t/0420 (Sendmail), t/0500 and t/0560
# (Postfix). Everything lives in $TRASH.
#
#	milter_pki USER...	root, courier isp (a.example, public), its
#				FG element and issuing CA, and an agent key
#				USER.key with certificates for each
#				USER@a.example (isp/accounts/)
#	milter_db STATUS USER...
#				the FG database (once), its keybox kb.key
#				(once), and each USER's account with STATUS
#	milter_conf REINJECT	tandem.conf for the milter: its socket
#				$TRASH/milter.sock, foreground.reinject
#				REINJECT (host:port)
#	milter_conf_reloadable	the files a reload (or tls.crl_refresh)
#				reads made readable by nobody, the user
#				the milter becomes: the keys to its group,
#				the chain out of the CA's folder
#	milter_start		tandem-milter -c tandem.conf -f, log
#				milter.log, pid milter.pid, until its socket
#				is there
#	milter_mta_start	smtp-sink "out" on sink_addr:sink_port, the
#				reinjection Postfix "re" on re_addr:re_port
#				and the Postfix "fg" on fg_addr:fg_port with
#				the milter (milter_start), both relaying to
#				the sink (call it at the top level or in
#				test_expect_success_here)
#	milter_send FILE FROM TO...
#				swaks through the Postfix "fg", the dialogue
#				in swaks.out; fails when the mail is refused
#	milter_mkmail NAME SIGNER FROM TO...
#				a content mail NAME: sealed.der signed by
#				SIGNER's agent key, wrapped to FROM's
#				courier end, CRLF lines
#	milter_plain_eml TO	plain.eml, LF lines: an ordinary mail from
#				carol@a.example to TO with what a milter
#				could spoil (an encoded, folded subject, a
#				header like Tandem-Kind, leading dots,
#				"From " at a line start, trailing blanks, a
#				950-byte line, UTF-8), t/0420 and t/0640
#	milter_mime_eml TO1 TO2	mime.eml, LF lines: a multipart/mixed
#				mail from carol@a.example to both with a
#				30 KB attachment (attachment.b64, random)

milter_pki() {
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d isp --name a.example --role public \
	    --superior root >/dev/null &&
	tandem-ca element -d isp --fg tandem@a.example >/dev/null &&
	tandem-ca issuing -d isp --domain a.example >/dev/null || return 1
	for _mi_u; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout $_mi_u.key -subj /CN=$_mi_u \
		    -out $_mi_u.csr 2>/dev/null &&
		tandem-ca account -d isp --address $_mi_u@a.example \
		    --csr $_mi_u.csr >/dev/null || return 1
	done
}

milter_db() {
	_mi_st=$1
	shift
	if [ ! -f kb.key ]; then
		pg_start fg && pg_createdb fg fg &&
		tandemctl db migrate --fg --db "$(pg_conninfo fg fg)" \
		    --sqldir "$TANDEM_SRC/sql" >/dev/null &&
		tandemctl keybox new kb.key || return 1
	fi
	for _mi_u; do
		_mi_a=isp/accounts/$_mi_u@a.example
		tandemctl account add --db "$(pg_conninfo fg fg)" \
		    --address $_mi_u@a.example --status "$_mi_st" \
		    --courier-key $_mi_a/courier.key \
		    --courier-cert $_mi_a/courier.crt \
		    --agent-cert $_mi_a/agent.crt --keybox-key kb.key \
		    >/dev/null || return 1
	done
}

milter_conf() {
	cat >tandem.conf <<-CONF
	courier {
	  name = "a.example"
	  role = public
	  superior = "root.example"
	}
	foreground {
	  milter_socket = "unix:$TRASH/milter.sock"
	  reinject = "$1"
	  service_mailbox = "tandem@a.example"
	  ca_dir = "$TRASH/isp/issuing"
	  user = "nobody"
	  ca_user = "daemon"
	}
	database { conninfo = "$(pg_conninfo fg fg)" }
	tls {
	  anchors = "$TRASH/root/root.crt"
	  cert = "$TRASH/isp/elements/fg.crt"
	  key = "$TRASH/isp/elements/fg.key"
	  chain = "$TRASH/isp/issuing/chain.pem"
	  keybox_key = "$TRASH/kb.key"
	}
	CONF
}

milter_conf_reloadable() {
	cp isp/issuing/chain.pem fgchain.pem &&
	sed -i "s|isp/issuing/chain.pem|fgchain.pem|" tandem.conf &&
	chgrp nogroup isp/elements/fg.key kb.key &&
	chmod 640 isp/elements/fg.key kb.key &&
	chmod 644 tandem.conf fgchain.pem
}

milter_start() {
	{ tandem-milter -c tandem.conf -f 2>milter.log &
	    echo $! >milter.pid; } &&
	test_atexit "kill \$(cat $TRASH/milter.pid) 2>/dev/null" &&
	_mi_n=0
	while [ ! -S milter.sock ] && [ $_mi_n -lt 100 ]; do
		sleep 0.1
		_mi_n=$((_mi_n + 1))
	done
	test -S milter.sock
}

milter_mta_start() {
	smtp_sink_start out "$sink_addr" "$sink_port" &&
	postfix_start re "$re_addr" "$re_port" \
	    "relayhost = [$sink_addr]:$sink_port" &&
	milter_start &&
	postfix_start fg "$fg_addr" "$fg_port" \
	    "relayhost = [$sink_addr]:$sink_port" \
	    "smtpd_milters = unix:$TRASH/milter.sock" \
	    "milter_default_action = tempfail" "milter_protocol = 6"
}

milter_send() {
	_mi_f=$1 _mi_from=$2
	shift 2
	swaks --server "$fg_addr:$fg_port" --from "$_mi_from" \
	    --to "$(echo "$@" | tr " " ",")" --data "@$_mi_f" >swaks.out 2>&1
}

milter_mkmail() {
	_mi_name=$1 _mi_signer=$2 _mi_from=$3
	shift 3
	openssl cms -sign -binary -nodetach -outform DER -in sealed.der \
	    -signer isp/accounts/$_mi_signer@a.example/agent.crt \
	    -inkey $_mi_signer.key -certfile isp/chain.pem \
	    -out $_mi_name.signed &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
	    -in $_mi_name.signed -out $_mi_name.der \
	    isp/accounts/$_mi_from/courier.crt &&
	{
		printf "From: %s\r\nTo: %s\r\n" "$_mi_from" \
		    "$(echo "$@" | sed "s/ /, /g")"
		printf "Subject: Tandem private message\r\n"
		printf "Message-ID: <%s@a.example>\r\n" "$_mi_name"
		printf "MIME-Version: 1.0\r\nTandem-Kind: content\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 $_mi_name.der | sed "s/\$/\r/"
	} >$_mi_name
}

milter_mime_eml() {
	head -c 30000 /dev/urandom | base64 -w 76 >attachment.b64
	{
		printf 'From: carol@a.example\nTo: %s, %s\n' "$1" "$2"
		printf 'Subject: report\nDate: Sat, 28 Nov 2026 23:51:00 +0000\n'
		printf 'Message-ID: <mime-1@a.example>\nMIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf 'preamble\n--b1\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'see attached\n--b1\nContent-Type: application/octet-stream\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		cat attachment.b64
		printf -- '--b1--\nepilogue\n'
	} >mime.eml
}

milter_plain_eml() {
	_mi_long=$(printf 'z%.0s' $(seq 1 950))
	{
		printf 'From: Carol <carol@a.example>\nTo: %s\n' "$1"
		printf 'Subject: =?utf-8?q?caf=C3=A9?= and a folded\n  subject line\n'
		printf 'Date: Sat, 28 Nov 2026 23:50:00 +0000\n'
		printf 'Message-ID: <plain-1@a.example>\nX-Tandem-Kind: content\n'
		printf 'Tandem-Kindly: not the header\n'
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n'
		printf 'Content-Transfer-Encoding: 8bit\n\n'
		printf 'first line\n.leading dot\n.\nFrom the start of a line\n'
		printf 'trailing blanks   \n\ttab first\n\n%s\n' "$_mi_long"
		printf 'caf\303\251 \342\202\254\nlast line\n'
	} >plain.eml
}
