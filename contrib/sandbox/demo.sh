#!/bin/sh
# contrib/sandbox/demo.sh - what "./quickstart demo" runs.
#
#	sh contrib/sandbox/demo.sh [--keep] [--dir DIR]
#	sh contrib/sandbox/demo.sh down
#
# Builds a courier hierarchy with the real tandem-ca, gives two users an
# agent each, and carries one private message from alice to bob in its
# two halves, offline: the sealed content (what the foreground path
# carries) and the ARM record (what the background path carries). The
# live courier network, with Postfix, the milter and the policy daemon,
# comes with tandem-milter and tandem-policyd.
#
# Nothing is started, so "down" has nothing to stop; --keep keeps the
# folder the demo worked in.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${TANDEM_BUILD:-$top/build}
PATH=$build/certauth:$build/agent:$build/ctl:$PATH
export PATH

keep=0 dir=
while [ $# -gt 0 ]; do
	case $1 in
	--keep)	keep=1 ;;
	--dir)	dir=$2; shift ;;
	down)	echo "demo: nothing is running (this demo starts no daemon)"; exit 0 ;;
	*)	echo "usage: demo.sh [--keep] [--dir DIR] | down" >&2; exit 64 ;;
	esac
	shift
done
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/tandem-demo.XXXXXX")
mkdir -p "$dir"
cd "$dir"
if [ $keep = 0 ]; then
	trap 'cd /; rm -rf "$dir"' EXIT
fi

step=0
say() {
	step=$((step + 1))
	printf '\n== %d. %s\n' "$step" "$*"
}
show() { sed 's/^/   | /'; }
run() {
	printf '   $ %s\n' "$*"
	"$@" >out.txt 2>&1 || { show <out.txt; echo "demo: that failed" >&2; exit 1; }
	show <out.txt
}
# refused CMD...: show that CMD is refused, and why.
refused() {
	printf '   $ %s\n' "$*"
	if "$@" >out.txt 2>&1; then
		show <out.txt; echo "demo: that should have been refused" >&2; exit 1
	fi
	show <out.txt
}

say "The root courier signs itself; every courier hangs below it."
run tandem-ca root -d root --name root.example
run tandem-ca courier -d isp --name isp.example --role public --superior root
run tandem-ca courier -d corp --name corp.example --role private \
    --domain corp.example --superior isp
run tandem-ca courier -d gw --name gw.example --role gateway --superior root
run tandem-ca courier -d bank --name bank.example --role private \
    --domain bank.example --superior gw
echo "   corp.example is private: its CA may only name corp.example, and"
echo "   the constraint is in the certificate itself:"
openssl x509 -in corp/ca.crt -noout -ext nameConstraints | show

say "Each courier certifies its two elements: foreground (mail) and background (HTTPS)."
run tandem-ca element -d isp --fg tandem@isp.example
run tandem-ca element -d isp --bg https://bg.isp.example/
run tandem-ca element -d corp --fg tandem@corp.example
run tandem-ca element -d corp --bg https://bg.corp.example/

say "alice (at the ISP) and bob (at corp) each make a key; only the request leaves the agent."
export TANDEM_PASSWORD=demo-password
run tandem init -d alice --address alice@isp.example --csr alice.csr
run tandem init -d bob --address bob@corp.example --csr bob.csr
run tandem-ca account -d isp --address alice@isp.example --csr alice.csr
run tandem-ca account -d corp --address bob@corp.example --csr bob.csr
run tandem import -d alice --cert isp/accounts/alice@isp.example/agent.crt \
    --anchor root/root.crt --chain isp/chain.pem
run tandem import -d bob --cert corp/accounts/bob@corp.example/agent.crt \
    --anchor root/root.crt --chain corp/chain.pem
run tandem-ca verify --anchor root/root.crt --chain corp/chain.pem \
    --email bob@corp.example corp/accounts/bob@corp.example/agent.crt

say "The private courier refuses to certify anyone outside its domain."
refused tandem-ca account -d corp --address alice@isp.example --csr alice.csr

say "alice writes to bob; the real Subject stays inside."
printf 'From: Alice <alice@isp.example>\r\nTo: bob@corp.example\r\nSubject: the quarterly numbers\r\nMessage-ID: <q3-numbers@isp.example>\r\n\r\nBob, the figures are in. Lunch on Friday?\r\n' >letter.eml
show <letter.eml

say "alice's agent seals it: a fresh content key, two halves."
run tandem seal -d alice --to bob@corp.example --in letter.eml \
    --sealed letter.sealed --arm letter.arm
printf '   sealed content: %s bytes of CMS AuthEnvelopedData (goes by mail, via the foreground)\n' \
    "$(wc -c <letter.sealed)"
openssl cms -cmsout -print -inform DER -in letter.sealed |
    grep -E 'contentType|algorithm: aes' | head -n 3 | show
echo "   ARM record (goes over HTTPS, via the background; the key is cut short here):"
tr -d '\r' <letter.arm | sed -n '/^Message-Id/,/^$/p' |
    sed 's/^\(Content-Key: .\{8\}\).*/\1.../' | show

say "The foreground half alone reveals nothing: without the key it does not open."
printf '   $ grep -c "quarterly" letter.sealed\n'
echo "   $(grep -c quarterly letter.sealed || :) (the subject is not in it)"

say "bob's agent matches both halves, checks digest, signature and sender, and opens it."
run tandem open -d bob --sealed letter.sealed --arm letter.arm --out letter.opened
if cmp -s letter.eml letter.opened; then
	echo "   bob reads exactly what alice wrote:"
	show <letter.opened
else
	echo "demo: the opened message differs" >&2; exit 1
fi

say "It is plain CMS: stock openssl opens it with the key from the ARM."
key=$(tr -d '\r' <letter.arm | sed -n 's/^Content-Key: //p')
kid=$(printf '%s' q3-numbers@isp.example | od -An -tx1 | tr -d ' \n')
printf '   $ openssl cms -decrypt -secretkey ... -secretkeyid %s ...\n' "$kid"
openssl cms -decrypt -inform DER -in letter.sealed -binary \
    -secretkey "$key" -secretkeyid "$kid" |
    openssl cms -verify -inform DER -binary -CAfile root/root.crt 2>&1 | show

say "A content that does not match its ARM is refused."
cp letter.sealed tampered.sealed
printf 'x' | dd of=tampered.sealed bs=1 seek=200 conv=notrunc 2>/dev/null
refused tandem open -d bob --sealed tampered.sealed --arm letter.arm

cat <<'MSG'

== What to try next
   * ./quickstart test            the whole suite, with real PostgreSQL and Postfix
   * man agent/tandem.1           the agent's commands and restrictions
     (tandem seal --expires 60 --max-opens 1 ...)
   * doc/protocol.md              every message kind, with examples
   * demo.sh --keep               keep the hierarchy and look at the certificates
MSG
