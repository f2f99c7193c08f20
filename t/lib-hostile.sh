# t/lib-hostile.sh - a hostile courier, properly certified, talking by hand
#
# Sourced by a federation scenario after t/test-lib.sh, once fed_pki
# (t/lib-federation.sh) has made the PKI in $FED_TOP/pki. The attacker
# is a real courier CA issued with tandem-ca by a real courier of the
# tree (one of the CA folders $FED_TOP/pki/X): its chain verifies to the
# root like any honest courier's, so only what the receiving engine
# checks beyond the chain can stop it. It never runs: what it says is
# written here and sent as t/0840 does, by swaks to the receiver's
# smtpd (FG) and by curl to the receiver's POST /v1/courier with its BG
# certificate as the TLS client (BG).
#
#	hostile_ca DIR NAME ROLE SUP FG_MAILBOX BG_URL [DOMAIN]
#			the courier CA $FED_TOP/pki/DIR named NAME, of ROLE,
#			issued by the CA folder $FED_TOP/pki/SUP (name-
#			constrained to DOMAIN when private), with its FG
#			and BG element certificates
#	hostile_intro OUT ID DIR KIND ROLE [--ca-chain=FILE] [FIELD...]
#			an introduction of DIR's KIND (fg|bg) element:
#			Courier and Element-Address read from its
#			certificates, then each FIELD ("Name: value") as is;
#			its ca-chain part DIR's chain.pem, or FILE (a
#			gateway appends its subordinates' CA certificates)
#	hostile_ic OUT ID DIR KIND TO MSGID SENDER PAYLOAD RCPT...
#			an inter-courier message of DIR's KIND element to
#			courier TO's, at hop 1 with DIR's element as the
#			origin, carrying the file PAYLOAD (FG: sealed; BG:
#			the ARM record), dated now, Origin-Signature made
#			with DIR's element key. To forge, set HS_HOPS,
#			HS_ORIGIN (a CA folder: the origin named and its
#			certificates), HS_ORIGIN_KEY (the key that signs;
#			"none": no Origin-Signature), HS_DATE (Date and
#			Origin-Date)
#	hostile_origin_sig KEY ORIGIN DATE MSGID SENDER KIND PAYLOAD RCPT...
#			the Origin-Signature of that assertion (doc/
#			protocol.md), made with KEY, on standard output
#	hostile_arm MSGID SENDER RCPT...
#			an ARM record for them, on standard output
#	hostile_fg_send IN DIR TO
#			IN wrapped by DIR's FG to TO's FG and mailed from
#			DIR's service mailbox to TO's at TO's smtpd; swaks'
#			dialogue in swaks.out; swaks' status
#	hostile_bg_send WANT IN DIR TO
#			IN wrapped by DIR's BG to TO's BG and POSTed there
#			with DIR's BG certificate; the HTTP status must be
#			WANT; the answer's body in out.body
#	hostile_state X	what X's elements know, one line a row: each
#			introduction (a digest of its certificate) and
#			each address route
#	hostile_count FILE PATTERN
#			how many lines of FILE match PATTERN (0 is a success)

HS_PKI=$FED_TOP/pki

hostile_ca() {
	(
		cd "$HS_PKI" &&
		tandem-ca courier -d "$1" --name "$2" --role "$3" \
		    --superior "$4" ${7:+--domain "$7"} &&
		tandem-ca element -d "$1" --fg "$5" &&
		tandem-ca element -d "$1" --bg "$6"
	) >>"$HS_PKI/hostile.log" 2>&1 || {
		cat "$HS_PKI/hostile.log"
		return 1
	}
}

# hostile_courier DIR: the name in DIR's CA certificate.
hostile_courier() {
	openssl x509 -in "$HS_PKI/$1/ca.crt" -noout -subject -nameopt RFC2253 |
	    sed -n 's/^subject=.*CN=\([^,]*\).*/\1/p'
}

# hostile_endpoint DIR KIND: the FG mailbox or BG URL of DIR's element.
hostile_endpoint() {
	openssl x509 -in "$HS_PKI/$1/elements/$2.crt" -noout \
	    -ext subjectAltName | tr ',' '\n' |
	    sed -n "s/^ *$( [ "$2" = fg ] && echo email || echo URI)://p"
}

# hostile_to TO KIND: the endpoint of courier TO's element of KIND.
hostile_to() {
	if [ "$2" = fg ]; then fed_var "$1" CR_SERVICE
	else fed_var "$1" CR_BG_URL; fi
}

hostile_part() {
	printf -- "--b1\r\nContent-Type: %s\r\n" "$1"
	printf "Content-Transfer-Encoding: base64\r\nTandem-Part: %s\r\n\r\n" "$2"
	base64 -w 76 "$3" | sed "s/\$/\r/"
}

hostile_intro() {
	_hs_o=$1 _hs_id=$2 _hs_d=$3 _hs_k=$4 _hs_r=$5
	shift 5
	_hs_ch=$HS_PKI/$_hs_d/chain.pem
	case ${1:-} in
	--ca-chain=*) _hs_ch=${1#--ca-chain=}; shift ;;
	esac
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.introduction\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s\r\nDate: %s\r\n" "$_hs_id" "$(hostile_now)"
		printf "Courier: %s\r\nRole: %s\r\n" \
		    "$(hostile_courier $_hs_d)" "$_hs_r"
		printf "Element: %s\r\nElement-Address: %s\r\n" \
		    "$( [ $_hs_k = fg ] && echo foreground || echo background)" \
		    "$(hostile_endpoint $_hs_d $_hs_k)"
		for _hs_f; do printf "%s\r\n" "$_hs_f"; done
		hostile_part application/pem-certificate-chain element-cert \
		    "$HS_PKI/$_hs_d/elements/$_hs_k.crt"
		hostile_part application/pem-certificate-chain ca-chain \
		    "$_hs_ch"
		printf -- "--b1--\r\n"
	} >"$_hs_o"
}

hostile_now() {
	date -u +%Y-%m-%dT%H:%M:%SZ
}

hostile_origin_sig() {
	_hs_key=$1 _hs_on=$2 _hs_od=$3 _hs_om=$4 _hs_os=$5 _hs_ok=$6
	_hs_op=$7
	shift 7
	{
		printf "Statement: tandem-origin/1\n"
		printf "Origin-Courier: %s\n" "$(echo "$_hs_on" | tr A-Z a-z)"
		printf "Origin-Date: %s\nMessage-Id: %s\n" "$_hs_od" "$_hs_om"
		printf "Sender: %s\n" "$(echo "$_hs_os" | tr A-Z a-z)"
		for _hs_r; do
			printf "Recipient: %s\n" "$(echo "$_hs_r" | tr A-Z a-z)"
		done
		printf "Payload: %s %s\n" \
		    "$( [ $_hs_ok = fg ] && echo sealed || echo arm)" \
		    "$(openssl dgst -sha256 -r "$_hs_op" | cut -d" " -f1)"
	} | openssl dgst -sha256 -sign "$_hs_key" -binary | base64 -w0
}

hostile_ic() {
	_hs_o=$1 _hs_id=$2 _hs_d=$3 _hs_k=$4 _hs_to=$5 _hs_mid=$6
	_hs_snd=$7 _hs_pay=$8
	shift 8
	_hs_or=${HS_ORIGIN:-$_hs_d}
	_hs_key=${HS_ORIGIN_KEY:-$HS_PKI/$_hs_d/elements/$_hs_k.key}
	_hs_date=${HS_DATE:-$(hostile_now)}
	_hs_orn=$(hostile_courier $_hs_or)
	{
		printf "MIME-Version: 1.0\r\n"
		printf "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		printf -- "--b1\r\nContent-Type: application/vnd.tandem.inter-courier\r\n"
		printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
		printf "Id: %s\r\nDate: %s\r\n" "$_hs_id" "$_hs_date"
		printf "From-Element: %s\r\n" "$(hostile_endpoint $_hs_d $_hs_k)"
		printf "To-Element: %s\r\n" "$(hostile_to $_hs_to $_hs_k)"
		printf "Message-Id: %s\r\nSender: %s\r\n" "$_hs_mid" "$_hs_snd"
		for _hs_r; do printf "Recipient: %s\r\n" "$_hs_r"; done
		printf "Hops: %s\r\nOrigin-Courier: %s\r\n" "${HS_HOPS:-1}" \
		    "$_hs_orn"
		printf "Origin-Date: %s\r\n" "$_hs_date"
		[ "$_hs_key" = none ] ||
		printf "Origin-Signature: %s\r\n" "$(hostile_origin_sig \
		    "$_hs_key" "$_hs_orn" "$_hs_date" "$_hs_mid" "$_hs_snd" \
		    $_hs_k "$_hs_pay" "$@")"
		if [ $_hs_k = fg ]; then
			hostile_part application/pkcs7-mime sealed "$_hs_pay"
		else
			hostile_part application/vnd.tandem.arm arm "$_hs_pay"
		fi
		hostile_part application/pem-certificate-chain origin-cert \
		    "$HS_PKI/$_hs_or/elements/$_hs_k.crt"
		hostile_part application/pem-certificate-chain origin-chain \
		    "$HS_PKI/$_hs_or/chain.pem"
		printf -- "--b1--\r\n"
	} >"$_hs_o"
}

hostile_arm() {
	printf "MIME-Version: 1.0\r\nContent-Type: application/vnd.tandem.arm\r\n"
	printf "Content-Transfer-Encoding: 7bit\r\n\r\n"
	printf "Message-Id: %s\r\nContent-Key: %s\r\nContent-Digest: %s\r\n" \
	    "$1" "$(openssl rand -hex 32)" "$(openssl rand -hex 32)"
	printf "Sender: %s\r\n" "$2"
	shift 2
	for _hs_r; do printf "Recipient: %s\r\n" "$_hs_r"; done
	printf "Issued: %s\r\n" "$(hostile_now)"
}

# hostile_wrap IN DIR KIND TO: IN signed by DIR's KIND element,
# enveloped to TO's element of that kind: IN.p7m
hostile_wrap() {
	openssl cms -sign -binary -nodetach -in "$1" -outform DER \
	    -signer "$HS_PKI/$2/elements/$3.crt" \
	    -inkey "$HS_PKI/$2/elements/$3.key" \
	    -certfile "$HS_PKI/$2/chain.pem" -out "$1.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$1.signed" \
	    -inform DER -outform DER -recip "$HS_PKI/$4/elements/$3.crt" \
	    -keyopt ecdh_kdf_md:sha256 -out "$1.p7m"
}

hostile_fg_send() {
	_hs_from=$(hostile_endpoint $2 fg) _hs_to=$(hostile_to $3 fg)
	hostile_wrap "$1" $2 fg $3 && {
		printf "From: %s\r\nTo: %s\r\n" "$_hs_from" "$_hs_to"
		printf "Subject: Tandem inter-courier message\r\n"
		printf "Message-ID: <%s.%s@%s>\r\n" "$1" \
		    "$(od -An -N6 -tx1 /dev/urandom | tr -d " \n")" \
		    "${_hs_from#*@}"
		printf "MIME-Version: 1.0\r\nTandem-Kind: inter-courier\r\n"
		printf "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		printf "Content-Transfer-Encoding: base64\r\n\r\n"
		base64 -w 76 "$1.p7m" | sed "s/\$/\r/"
	} >"$1.eml" || return 1
	swaks --server "$(fed_var $3 CR_FG_ADDR):$(fed_var $3 CR_SMTP_PORT)" \
	    --from "$_hs_from" --to "$_hs_to" --data "@$1.eml" >swaks.out 2>&1
}

hostile_bg_send() {
	hostile_wrap "$2" $3 bg $4 &&
	cat "$HS_PKI/$3/elements/bg.crt" "$HS_PKI/$3/chain.pem" >client.pem &&
	_hs_got=$(curl -s -o out.body -w "%{http_code}" --cert client.pem \
	    --key "$HS_PKI/$3/elements/bg.key" --cacert "$HS_PKI/root/root.crt" \
	    --resolve "bg.$4.example:$(fed_var $4 CR_BG_PORT):$(fed_var $4 CR_BG_ADDR)" \
	    --data-binary "@$2.p7m" -H "Content-Type: application/pkcs7-mime" \
	    "$(fed_var $4 CR_BG_URL)v1/courier")
	[ "$_hs_got" = "$1" ] && return 0
	echo "hostile_bg_send: $2: got $_hs_got, want $1"
	cat out.body
	return 1
}

hostile_state() {
	for _hs_k in fg bg; do
		fed_${_hs_k}_sql $1 "SELECT '$_hs_k', courier, element, endpoint, md5(certificate), array_to_string(domains, ' '), learned_at FROM introductions ORDER BY 2, 3" &&
		fed_${_hs_k}_sql $1 "SELECT '$_hs_k', address, courier, reason, learned_at FROM address_routes ORDER BY 2" ||
		return 1
	done
}

hostile_count() {
	grep -c -e "$2" "$1" || :
}
