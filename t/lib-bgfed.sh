# t/lib-bgfed.sh - several couriers' background elements for the t/07xx
# scenarios (sourced by them after t/test-lib.sh)
#
# The couriers (one tree under root.example), from $BF_TREE, a list of
# NAME:ROLE:SUPERIOR (SUPERIOR "root", or a NAME before it); the default:
#	a	a.example, public, under the root
#	b	b.example, private (domain b.example), under a
#	c	c.example, private (domain c.example), under a
# Each has a BG element https://bg.X.example:PORT/ on its own random
# 127.x.y.z address, an FG and a BG database (databases fgX and bgX of
# the clusters fg and bg, or fg2 and bg2 from the fourth courier on,
# published and subscribed), and $TRASH/X.conf
# whose agent.resolve maps every BG host name.
#
#	bf_setup	all of the above; call it at the top level
#	bf_account X USER [STATUS]
#			USER@X.example's agent key (X-USER.key, X-USER.pem =
#			certificate and chain) and courier-end key, issued
#			by X unless they exist; with STATUS, the account is
#			added on X's FG
#	bf_intro X Y	X's BG learns Y's BG introduction (tandemctl intro add)
#	bf_start X / bf_stop X [SIGNAL]
#			tandem-policyd -f for X, log appended to X.log; it
#			must exit 0 (127: not a child of this shell)
#	bf_post WANT X USER MSGID RCPT...
#			USER@X.example posts an ARM (MSGID@X.example) to X's
#			BG; the status must be WANT. The ARM is MSGID.arm.
#	bf_revoke WANT X USER MSGID
#			USER@X.example revokes MSGID (POST /v1/revoke); the
#			status must be WANT, the answer is in out.body
#	bf_psql X SQL	a query on X's BG database
#	bf_wait X SQL WANT [SECONDS]
#			pg_wait_for on X's BG database
#	bf_url X	X's BG URL
#	bf_agent X USER	an agent store X-USER.d (tandem init, import) for
#			USER@X.example, and the active account on X's FG
#	bf_net X	tandem options to reach X's BG

BF_TREE=${BF_TREE:-"a:public:root b:private:a c:private:a"}
BF_COURIERS=$(for _bf_t in $BF_TREE; do printf '%s ' "${_bf_t%%:*}"; done)

bf_role() {
	for _bf_t in $BF_TREE; do
		[ "${_bf_t%%:*}" = "$1" ] || continue
		_bf_t=${_bf_t#*:}
		echo "${_bf_t%%:*}"
	done
}

bf_superior() {
	for _bf_t in $BF_TREE; do
		[ "${_bf_t%%:*}" = "$1" ] && echo "${_bf_t##*:}"
	done
}

# The cluster pair of courier X: "" for the first three couriers, "2" for
# the next three: three subscriptions a cluster, whose apply and table
# sync workers fit in the 12 that t/lib-pg.sh gives each cluster.
bf_cl() {
	_bf_i=0
	for _bf_y in $BF_COURIERS; do
		[ "$_bf_y" = "$1" ] && break
		_bf_i=$((_bf_i + 1))
	done
	[ $_bf_i -lt 3 ] || echo 2
}

bf_wait() {
	pg_wait_for bg$(bf_cl $1) bg$1 "$2" "$3" $4
}

bf_setup() {
	for _bf_x in $BF_COURIERS; do
		eval "BF_ADDR_$_bf_x=\$(pf_random_addr)"
		eval "BF_PORT_$_bf_x=\$(pf_random_port)"
	done
	mkdir -p "$TRASH/pki" && (
		cd "$TRASH/pki" &&
		tandem-ca root -d root --name root.example &&
		for _bf_x in $BF_COURIERS; do
			_bf_r=$(bf_role $_bf_x)
			tandem-ca courier -d $_bf_x --name $_bf_x.example \
			    --role $_bf_r --superior $(bf_superior $_bf_x) \
			    $([ $_bf_r = private ] && echo --domain $_bf_x.example) &&
			tandem-ca element -d $_bf_x --bg "$(bf_url $_bf_x)" ||
			    exit 1
		done &&
		tandemctl keybox new keybox.key
	) >pki.log 2>&1 || { cat pki.log; return 1; }
	pg_start fg && pg_start bg || return 1
	if [ $(echo $BF_COURIERS | wc -w) -gt 3 ]; then
		pg_start fg2 && pg_start bg2 || return 1
	fi
	for _bf_x in $BF_COURIERS; do
		bf_db $_bf_x || return 1
	done
}

bf_url() {
	eval "printf 'https://bg.%s.example:%s/' $1 \$BF_PORT_$1"
}

bf_db() {
	_bf_c=$(bf_cl $1)
	pg_createdb fg$_bf_c fg$1 && pg_createdb bg$_bf_c bg$1 &&
	_bf_fg=$(pg_conninfo fg$_bf_c fg$1) &&
	_bf_bg=$(pg_conninfo bg$_bf_c bg$1) &&
	tandemctl db migrate --fg --db "$_bf_fg" --sqldir "$TANDEM_SRC/sql" &&
	tandemctl db migrate --bg --db "$_bf_bg" --sqldir "$TANDEM_SRC/sql" &&
	pg_publish fg$_bf_c fg$1 &&
	pg_subscribe bg$_bf_c bg$1 fg$_bf_c fg$1 &&
	bf_conf $1 "$(pg_conninfo bg$_bf_c bg$1 tandem_bg)" >"$TRASH/$1.conf"
}

bf_conf() {
	_bf_role=$(bf_role $1) _bf_sup=$(bf_superior $1).example
	_bf_gw=false
	[ $_bf_sup = root.example ] ||
	    [ "$(bf_role ${_bf_sup%.example})" != gateway ] || _bf_gw=true
	_bf_res=
	for _bf_y in $BF_COURIERS; do
		eval "_bf_res=\"\$_bf_res\${_bf_res:+, }\\\"bg.$_bf_y.example:\$BF_PORT_$_bf_y:\$BF_ADDR_$_bf_y\\\"\""
	done
	cat <<-EOF
	courier {
		name = "$1.example"
		role = $_bf_role
		domains = {"$1.example"}
		superior = "$_bf_sup"
		superior_gateway = $_bf_gw
	}
	background {
		listen = "$(eval "echo \$BF_ADDR_$1:\$BF_PORT_$1")"
		url = "$(bf_url $1)"
	}
	database {
		conninfo = "$2"
	}
	tls {
		anchors = "$TRASH/pki/root/root.crt"
		cert = "$TRASH/pki/$1/elements/bg.crt"
		key = "$TRASH/pki/$1/elements/bg.key"
		chain = "$TRASH/pki/$1/chain.pem"
		keybox_key = "$TRASH/pki/keybox.key"
	}
	hygiene {
		purge_interval = 1s
	}
	agent {
		resolve = {$_bf_res}
	}
	EOF
}

bf_account() {
	_bf_d=$TRASH/pki/$1/accounts/$2@$1.example
	if [ ! -f "$TRASH/$1-$2.pem" ]; then
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$TRASH/$1-$2.key" -subj "/CN=$2" \
		    -out "$TRASH/$1-$2.csr" 2>/dev/null &&
		tandem-ca account -d "$TRASH/pki/$1" --address "$2@$1.example" \
		    --csr "$TRASH/$1-$2.csr" >/dev/null &&
		cat "$_bf_d/agent.crt" "$TRASH/pki/$1/chain.pem" \
		    >"$TRASH/$1-$2.pem" || return 1
	fi
	[ -z "$3" ] || bf_add "$@"
}

bf_add() {
	_bf_d=$TRASH/pki/$1/accounts/$2@$1.example
	tandemctl account add --db "$(pg_conninfo fg$(bf_cl $1) fg$1)" \
	    --address "$2@$1.example" --status "$3" \
	    --courier-key "$_bf_d/courier.key" \
	    --courier-cert "$_bf_d/courier.crt" --agent-cert "$_bf_d/agent.crt" \
	    --keybox-key "$TRASH/pki/keybox.key" >/dev/null
}

bf_intro() {
	tandemctl intro add --db "$(pg_conninfo bg$(bf_cl $1) bg$1)" \
	    --cert "$TRASH/pki/$2/elements/bg.crt" \
	    --chain "$TRASH/pki/$2/chain.pem" \
	    --anchors "$TRASH/pki/root/root.crt"
}

bf_start() {
	tandem-policyd -c "$TRASH/$1.conf" -n >"$TRASH/$1-check.out" 2>&1 || {
		cat "$TRASH/$1-check.out"
		return 1
	}
	tandem-policyd -c "$TRASH/$1.conf" -f >>"$TRASH/$1.log" 2>&1 &
	echo $! >"$TRASH/$1.pid"
	test_atexit "bf_stop $1"
	eval "pf_wait_listen \$BF_ADDR_$1 \$BF_PORT_$1 10" ||
	    { cat "$TRASH/$1.log"; return 1; }
}

bf_stop() {
	[ -f "$TRASH/$1.pid" ] || return 0
	_bf_pid=$(cat "$TRASH/$1.pid")
	rm -f "$TRASH/$1.pid"
	kill -"${2:-TERM}" "$_bf_pid" 2>/dev/null || return 0
	_bf_n=100
	while [ $_bf_n -gt 0 ] && kill -0 "$_bf_pid" 2>/dev/null; do
		sleep 0.1
		_bf_n=$((_bf_n - 1))
	done
	if kill -0 "$_bf_pid" 2>/dev/null; then
		echo "bf_stop: tandem-policyd ($_bf_pid) ignores SIG${2:-TERM}"
		kill -KILL "$_bf_pid"
		return 1
	fi
	wait "$_bf_pid" 2>/dev/null
	_bf_rc=$?
	[ $_bf_rc = 0 ] || [ $_bf_rc = 127 ] && return 0
	echo "bf_stop: tandem-policyd of $1 exited with $_bf_rc"
	tail -n 30 "$TRASH/$1.log"
	return 1
}

bf_post() {
	_bf_want=$1 _bf_x=$2 _bf_u=$3 _bf_id=$4
	shift 4
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/vnd.tandem.arm\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Message-Id: %s@%s.example\r\n' "$_bf_id" "$_bf_x"
		printf 'Content-Key: %s\r\n' "$(openssl rand -hex 32)"
		printf 'Content-Digest: %s\r\n' "$(openssl rand -hex 32)"
		printf 'Sender: %s@%s.example\r\n' "$_bf_u" "$_bf_x"
		for _bf_r; do printf 'Recipient: %s\r\n' "$_bf_r"; done
		printf 'Issued: %s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$_bf_id.arm" &&
	bf_wrap_post "$_bf_want" "$_bf_x" "$_bf_u" "$_bf_id.arm" v1/arm
}

# bf_wrap_post WANT X USER FILE PATH: FILE signed by USER@X.example's
# agent key, enveloped to its courier end, POSTed to X's BG at PATH
bf_wrap_post() {
	openssl cms -sign -binary -nodetach -in "$4" \
	    -signer "$TRASH/$2-$3.pem" -inkey "$TRASH/$2-$3.key" \
	    -certfile "$TRASH/pki/$2/chain.pem" -outform DER \
	    -out "$4.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$4.signed" \
	    -inform DER -outform DER \
	    -recip "$TRASH/pki/$2/accounts/$3@$2.example/courier.crt" \
	    -keyopt ecdh_kdf_md:sha256 -out "$4.p7m" || return 1
	_bf_got=$(eval "curl -s -o out.body -w '%{http_code}' \
	    --cert $TRASH/$2-$3.pem --key $TRASH/$2-$3.key \
	    --cacert $TRASH/pki/root/root.crt \
	    --resolve bg.$2.example:\$BF_PORT_$2:\$BF_ADDR_$2 \
	    --data-binary @$4.p7m \
	    -H 'Content-Type: application/pkcs7-mime' \
	    $(bf_url $2)$5")
	[ "$_bf_got" = "$1" ] && return 0
	echo "bf_wrap_post: $4: got $_bf_got, want $1"
	cat out.body
	return 1
}

bf_revoke() {
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/vnd.tandem.revoke\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s@%s.example\r\n' "$(openssl rand -hex 8)" "$2"
		printf 'Date: %s\r\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'Message-Id: %s\r\nSender: %s@%s.example\r\n' "$4" \
		    "$3" "$2"
	} >"$4.revoke" &&
	bf_wrap_post "$1" "$2" "$3" "$4.revoke" v1/revoke
}

bf_psql() {
	pg_psql bg$(bf_cl $1) bg$1 -c "$2"
}

bf_agent() {
	tandem init -d "$TRASH/$1-$2.d" --address "$2@$1.example" \
	    --csr "$TRASH/$1-$2.d.csr" >/dev/null &&
	tandem-ca account -d "$TRASH/pki/$1" --address "$2@$1.example" \
	    --csr "$TRASH/$1-$2.d.csr" >/dev/null &&
	_bf_d=$TRASH/pki/$1/accounts/$2@$1.example &&
	tandem import -d "$TRASH/$1-$2.d" --cert "$_bf_d/agent.crt" \
	    --anchor "$TRASH/pki/root/root.crt" \
	    --chain "$TRASH/pki/$1/chain.pem" \
	    --courier-cert "$_bf_d/courier.crt" >/dev/null &&
	bf_add $1 $2 active
}

bf_net() {
	eval "printf -- '--bg %s --resolve bg.%s.example:%s:%s' \
	    \"\$(bf_url $1)\" $1 \$BF_PORT_$1 \$BF_ADDR_$1"
}

# Hand-made traffic between backgrounds, for the refusal scenarios:
#
#	bf_ic OUT ID HOPS ORIGIN TO MSGID SENDER ARM RCPT...
#			an inter-courier message (origin: courier ORIGIN's
#			BG, To-Element: TO's BG) carrying the ARM record ARM
#			(with BF_PART=revoke or receipt, the file ARM is that
#			part instead)
#	bf_intro_msg OUT ID X [ADDRESS...]
#			an introduction of X's BG with those Address fields
#	bf_send WANT SIGNER CLIENT TO FILE
#			FILE signed by SIGNER's BG key, enveloped to TO's BG,
#			POSTed to TO's /v1/courier with CLIENT's BG
#			certificate; the status must be WANT

bf_part() {
	printf -- '--b1\r\nContent-Type: %s\r\n' "$1"
	printf 'Content-Transfer-Encoding: base64\r\nTandem-Part: %s\r\n\r\n' "$2"
	base64 -w 76 "$3" | sed 's/$/\r/'
}

# bf_origin_sig X DATE MSGID SENDER ARM RCPT...: X's BG signs the
# origin's assertion (doc/protocol.md, inter-courier)
bf_origin_sig() {
	_bf_ox=$1 _bf_od=$2 _bf_om=$3 _bf_os=$4 _bf_oa=$5
	shift 5
	{
		printf 'Statement: tandem-origin/1\n'
		printf 'Origin-Courier: %s.example\n' "$_bf_ox"
		printf 'Origin-Date: %s\nMessage-Id: %s\n' "$_bf_od" "$_bf_om"
		printf 'Sender: %s\n' "$(echo "$_bf_os" | tr A-Z a-z)"
		for _bf_r; do
			printf 'Recipient: %s\n' "$(echo "$_bf_r" | tr A-Z a-z)"
		done
		printf 'Payload: %s %s\n' "${BF_PART:-arm}" \
		    "$(openssl dgst -sha256 -r "$_bf_oa" | cut -d" " -f1)"
	} | openssl dgst -sha256 -sign "$TRASH/pki/$_bf_ox/elements/bg.key" \
	    -binary | base64 -w0
}

bf_ic() {
	_bf_out=$1 _bf_id=$2 _bf_hops=$3 _bf_or=$4 _bf_to=$5 _bf_mid=$6
	_bf_snd=$7 _bf_arm=$8
	shift 8
	_bf_now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.inter-courier\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s\r\nDate: %s\r\n' "$_bf_id" "$_bf_now"
		printf 'From-Element: %s\r\n' "$(bf_url $_bf_or)"
		printf 'To-Element: %s\r\n' "$(bf_url $_bf_to)"
		printf 'Message-Id: %s\r\nSender: %s\r\n' "$_bf_mid" "$_bf_snd"
		for _bf_r; do printf 'Recipient: %s\r\n' "$_bf_r"; done
		printf 'Hops: %s\r\nOrigin-Courier: %s.example\r\n' "$_bf_hops" \
		    "$_bf_or"
		printf 'Origin-Date: %s\r\nOrigin-Signature: %s\r\n' \
		    "$_bf_now" "$(bf_origin_sig $_bf_or "$_bf_now" "$_bf_mid" \
		    "$_bf_snd" "$_bf_arm" "$@")"
		bf_part application/vnd.tandem.${BF_PART:-arm} ${BF_PART:-arm} \
		    "$_bf_arm"
		bf_part application/pem-certificate-chain origin-cert \
		    "$TRASH/pki/$_bf_or/elements/bg.crt"
		bf_part application/pem-certificate-chain origin-chain \
		    "$TRASH/pki/$_bf_or/chain.pem"
		printf -- '--b1--\r\n'
	} >"$_bf_out"
}

bf_intro_msg() {
	_bf_out=$1 _bf_id=$2 _bf_x=$3
	shift 3
	_bf_role=$(bf_role $_bf_x)
	_bf_now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: application/vnd.tandem.introduction\r\n'
		printf 'Content-Transfer-Encoding: 7bit\r\n\r\n'
		printf 'Id: %s\r\nDate: %s\r\n' "$_bf_id" "$_bf_now"
		printf 'Courier: %s.example\r\nRole: %s\r\n' "$_bf_x" "$_bf_role"
		printf 'Element: background\r\nElement-Address: %s\r\n' \
		    "$(bf_url $_bf_x)"
		[ $_bf_role = public ] ||
		    printf 'Domain: %s.example\r\n' "$_bf_x"
		for _bf_r; do printf 'Address: %s\r\n' "$_bf_r"; done
		bf_part application/pem-certificate-chain element-cert \
		    "$TRASH/pki/$_bf_x/elements/bg.crt"
		bf_part application/pem-certificate-chain ca-chain \
		    "$TRASH/pki/$_bf_x/chain.pem"
		printf -- '--b1--\r\n'
	} >"$_bf_out"
}

bf_send() {
	_bf_want=$1 _bf_s=$TRASH/pki/$2 _bf_c=$TRASH/pki/$3 _bf_to=$4
	openssl cms -sign -binary -nodetach -in "$5" \
	    -signer "$_bf_s/elements/bg.crt" -inkey "$_bf_s/elements/bg.key" \
	    -certfile "$_bf_s/chain.pem" -outform DER -out "$5.signed" &&
	openssl cms -encrypt -binary -aes-256-gcm -in "$5.signed" \
	    -inform DER -outform DER \
	    -recip "$TRASH/pki/$_bf_to/elements/bg.crt" \
	    -keyopt ecdh_kdf_md:sha256 -out "$5.p7m" &&
	cat "$_bf_c/elements/bg.crt" "$_bf_c/chain.pem" >"$5.client.pem" ||
	    return 1
	_bf_got=$(eval "curl -s -o out.body -w '%{http_code}' \
	    --cert $5.client.pem --key $_bf_c/elements/bg.key \
	    --cacert $TRASH/pki/root/root.crt \
	    --resolve bg.$_bf_to.example:\$BF_PORT_$_bf_to:\$BF_ADDR_$_bf_to \
	    --data-binary @$5.p7m -H 'Content-Type: application/pkcs7-mime' \
	    $(bf_url $_bf_to)v1/courier")
	[ "$_bf_got" = "$_bf_want" ] && return 0
	echo "bf_send: $5: got $_bf_got, want $_bf_want"
	cat out.body
	return 1
}
