# t/lib-agent.sh - what the courier would send an agent, made by hand
#
# Sourced by the t/025x agent scenarios after t/test-lib.sh. These
# stand in for tandem-milter and tandem-policyd with stock openssl, so
# that the agent's side of doc/flows.md is checked on its own.
#
#	crlf				stdin to stdout, LF -> CRLF
#	ag_courier			root/, ca/ (public a.example) with FG
#					and BG element certificates
#	ag_users [--courier-cert] USER...
#					each USER@a.example: tandem init in
#					USER/, certified by ca/, imported (with
#					its courier-end certificate)
#	ag_part ROLE FILE		one base64 part of a protocol message
#					(boundary b1) on stdout
#	ag_sign SIGNER KEY IN OUT	opaque SignedData (DER) of IN, with
#					the courier chain
#	ag_wrap SIGNER KEY RCPT IN OUT	a transport wrap: signed by SIGNER,
#					enveloped (AES-256-GCM) to RCPT
#	ag_mail KIND FROM TO ID DER	a Tandem mail (flows.md 2) on stdout
#	ag_sink_body FILE		the body of the mail in an smtp-sink
#					dump (after its header block)
#	ag_unwrap DER RCPT KEY OUT	decrypt and verify a wrap to the
#					root; OUT gets the content
#	ag_field NAME FILE		the value of a protocol field
#	invitation FILE [RCPT [EXP]]	an invitation of tandem@a.example
#	exchange_keys ADDR OUT		the courier's answer to ADDR, mailed
#	registration_csr MAIL OUT	the CSR of a registration mail
#	ag_stub DIR ADDR PORT CADIR	the background stub (agent-bg-stub.py)
#					serving DIR on ADDR:PORT with the BG
#					element of CADIR, stopped at the end

crlf() { sed 's/$/\r/'; }

ag_stub() {
	mkdir -p "$1/mailbox" &&
	cat "$4/elements/bg.crt" "$4/chain.pem" >"$1-chain.pem" &&
	{ python3 "$TANDEM_SRC/t/agent-bg-stub.py" "$2" "$3" "$1-chain.pem" \
	    "$4/elements/bg.key" "$1" 2>"$1.err" & } &&
	test_atexit "kill \$(cat $TRASH/$1/pid) 2>/dev/null" &&
	pf_wait_listen "$2" "$3" 10
}

ag_courier() {
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d ca --name a.example --role public \
		--superior root >/dev/null &&
	tandem-ca element -d ca --fg tandem@a.example >/dev/null &&
	tandem-ca element -d ca --bg https://bg.a.example:8443 >/dev/null
}

ag_users() {
	_ag_cc=
	[ "$1" = --courier-cert ] && { _ag_cc=1; shift; }
	for _ag_u; do
		tandem init -d $_ag_u --address $_ag_u@a.example \
			--csr $_ag_u.csr &&
		tandem-ca account -d ca --address $_ag_u@a.example \
			--csr $_ag_u.csr &&
		tandem import -d $_ag_u \
			--cert ca/accounts/$_ag_u@a.example/agent.crt \
			--anchor root/root.crt --chain ca/chain.pem \
			${_ag_cc:+--courier-cert ca/accounts/$_ag_u@a.example/courier.crt} ||
			return 1
	done
}

ag_part() {
	printf -- '--b1\nContent-Type: application/pem-certificate-chain\n'
	printf 'Content-Transfer-Encoding: base64\nTandem-Part: %s\n\n' "$1"
	base64 -w 76 "$2"
}

ag_sign() {
	openssl cms -sign -binary -nodetach -outform DER -signer "$1" \
		-inkey "$2" -certfile ca/chain.pem -in "$3" -out "$4"
}

ag_wrap() {
	ag_sign "$1" "$2" "$4" "$5.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -outform DER \
		-in "$5.signed" -out "$5" "$3"
}

ag_mail() {
	{
		printf 'From: %s\nTo: %s\n' "$2" "$3"
		printf 'Subject: Tandem private message\n'
		printf 'Date: Sat, 28 Nov 2026 23:50:00 +0000\n'
		printf 'Message-ID: <%s>\nMIME-Version: 1.0\n' "$4"
		printf 'Tandem-Kind: %s\n' "$1"
		printf 'Content-Type: application/pkcs7-mime; '
		printf 'smime-type=authEnveloped-data; name=tandem.p7m\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$5"
	} | crlf
}

ag_sink_body() {
	sed '1,/^\r\{0,1\}$/d' "$1"
}

ag_unwrap() {
	openssl cms -decrypt -inform DER -in "$1" -recip "$2" -inkey "$3" \
		-out "$4.signed" &&
	openssl cms -verify -inform DER -in "$4.signed" -binary \
		-CAfile root/root.crt -purpose any -out "$4" 2>/dev/null
}

ag_field() {
	tr -d '\r' <"$2" | sed -n "s/^$1: //p"
}

# ag_msg ID SUBJECT: alice's message to bob
ag_msg() {
	printf 'From: Alice <alice@a.example>\r\nTo: bob@a.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nMeet at noon.\r\n' "$2" "$1"
}

# ag_content ID [SEAL-OPTIONS]: alice seals ID for bob, the FG wraps it
# to bob; the mail is ID.mail, the ARM record ID.arm
ag_content() {
	_id=$1; shift
	ag_msg $_id "subject of $_id" >$_id.eml &&
	tandem seal -d alice --to bob@a.example "$@" --in $_id.eml \
		--sealed $_id.der --arm $_id.arm >/dev/null &&
	ag_wrap ca/elements/fg.crt ca/elements/fg.key \
		ca/accounts/bob@a.example/agent.crt $_id.der $_id.wrap &&
	ag_mail content alice@a.example bob@a.example $_id $_id.wrap >$_id.mail
}

# ag_fetched ID: the ARM in bob's store as "tandem fetch" would put it
ag_fetched() {
	sqlite3 bob/store.db "INSERT INTO arms (msgid, arm, fetched) VALUES ('$1', readfile('$1.arm'), 0)"
}

# invitation FILE [RECIPIENT [EXPIRES]]: the protocol message, CRLF;
# its Background-Url is $AG_BG_URL, else https://bg.a.example:8443
invitation() {
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.invitation\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: inv1@a.example\nDate: 2026-01-31T12:00:00Z\n'
		printf 'Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4\n'
		printf 'Inviter: alice@a.example\nRecipient: %s\n' "${2:-dave@a.example}"
		printf 'Courier: a.example\nRegister-Address: tandem@a.example\n'
		printf 'Background-Url: %s\n' "${AG_BG_URL:-https://bg.a.example:8443}"
		printf 'Message-Id: m1@a.example\n'
		[ -z "$3" ] || printf 'Expires: %s\n' "$3"
		ag_part fg-cert ca/elements/fg.crt
		printf -- '--b1--\n'
	} | crlf >"$1"
}

# exchange_keys ADDR OUT: the courier's answer, signed by the FG and
# enveloped to ADDR's agent certificate, as a service mail
exchange_keys() {
	_a=ca/accounts/$1
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
		printf -- '--b1\nContent-Type: application/vnd.tandem.exchange-keys\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		printf 'Id: ek1@a.example\nDate: 2026-01-31T12:00:00Z\n'
		printf 'Address: %s\nGeneration: 1\n' "$1"
		ag_part courier-cert $_a/courier.crt
		ag_part agent-cert $_a/agent.crt
		ag_part ca-chain ca/chain.pem
		printf -- '--b1--\n'
	} | crlf >ek.txt &&
	ag_wrap "${3:-ca/elements/fg.crt}" "${4:-ca/elements/fg.key}" \
		$_a/agent.crt ek.txt ek.der &&
	ag_mail service tandem@a.example "$1" ek1@a.example ek.der >"$2"
}

# the CSR of a registration mail: decrypt with the FG key, take the part
registration_csr() {
	ag_sink_body "$1" | base64 -d >reg.der &&
	openssl cms -decrypt -inform DER -in reg.der \
		-recip ca/elements/fg.crt -inkey ca/elements/fg.key -out reg.txt &&
	tr -d '\r' <reg.txt |
	awk '/^Tandem-Part: agent-csr/ { p = 1; next }
	     p && /^$/ { if (s) exit; s = 1; next }
	     p && s && !/^--/ { print }' | base64 -d >"$2"
}
