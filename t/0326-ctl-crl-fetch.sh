#!/bin/sh
test_description='tandemctl crl fetch: the lists of tls.crl_file gathered over http, checked against the CA certificates, written all or nothing'
. "$TANDEM_SRC/t/test-lib.sh"

test_have_prog openssl || test_skip_all 'openssl command not found'
test_have_prog python3 || test_skip_all 'python3 not found'

addr=$(pf_random_addr) port=$(pf_random_port) slow=$(pf_random_port)
url=http://$addr:$port

test_expect_success 'root and courier a sign their lists; another root of the same name signs one too' '
	tandem-ca root -d root --name root.example >/dev/null &&
	tandem-ca courier -d a --name a.example --role public \
	    --superior root >/dev/null &&
	tandem-ca crl -d root >/dev/null && tandem-ca crl -d a >/dev/null &&
	tandem-ca root -d evil --name root.example >/dev/null &&
	tandem-ca crl -d evil >/dev/null &&
	cat root/ca.crt a/ca.crt >cas.pem &&
	mkdir www &&
	openssl crl -in root/crl.pem -outform DER -out www/root.crl &&
	cp a/crl.pem www/a.pem && cp evil/crl.pem www/evil.pem &&
	printf "no list here\n" >www/junk.txt
'

test_expect_success_here 'the lists are published over http' '
	test_http_serve www "$addr" "$port"
'

test_expect_success 'one list in DER and one in PEM: both written in PEM, byte for byte what the CAs signed' '
	tandemctl crl fetch --out crls.pem --ca cas.pem \
	    "$url/root.crl" "$url/a.pem" >out &&
	echo "crls.pem: 2 lists" >want && test_cmp want out &&
	cat root/crl.pem a/crl.pem >want.pem && cmp want.pem crls.pem &&
	test "$(stat -c %a crls.pem)" = 644
'

test_expect_success 'a list that no certificate of --ca signed: refused, naming it; the file is unchanged' '
	test_expect_code 65 tandemctl crl fetch --out crls.pem --ca cas.pem \
	    "$url/root.crl" "$url/evil.pem" >out 2>err &&
	test_grep "the list of root.example is signed by no certificate of cas.pem; crls.pem is unchanged" err &&
	cmp want.pem crls.pem
'

test_expect_success 'a URL that gives no list, or nothing: refused, the file unchanged' '
	test_expect_code 65 tandemctl crl fetch --out crls.pem \
	    "$url/a.pem" "$url/junk.txt" 2>err &&
	test_grep "$url/junk.txt: no revocation list (X509 CRL) in it" err &&
	test_expect_code 69 tandemctl crl fetch --out crls.pem \
	    "$url/a.pem" "$url/gone.pem" 2>err &&
	test_grep "$url/gone.pem: cannot fetch" err &&
	cmp want.pem crls.pem
'

test_expect_success 'https and other schemes are refused: a list is signed, and fetched over http' '
	test_expect_code 64 tandemctl crl fetch --out crls.pem \
	    "https://$addr:$port/a.pem" 2>err &&
	test_grep "only http:// URLs and files" err &&
	cmp want.pem crls.pem
'

test_expect_success 'a bad command line: 64, a --ca that cannot be read: 66; the file unchanged' '
	test_expect_code 64 tandemctl crl fetch --out crls.pem 2>err &&
	test_grep "usage: tandemctl crl fetch --out FILE" err &&
	test_expect_code 64 tandemctl crl fetch --out crls.pem --timeout 0 \
	    "$url/a.pem" 2>err &&
	test_grep "timeout: 1 to 3600 seconds" err &&
	test_expect_code 66 tandemctl crl fetch --out crls.pem --ca nothere.pem \
	    "$url/a.pem" 2>err &&
	test_grep "nothere.pem" err &&
	cmp want.pem crls.pem
'

test_expect_success 'files too; without --ca, any list is taken' '
	tandemctl crl fetch --out other.pem evil/crl.pem "$url/a.pem" >out &&
	echo "other.pem: 2 lists" >want && test_cmp want out &&
	cat evil/crl.pem a/crl.pem >want2.pem && cmp want2.pem other.pem
'

test_expect_success 'a list past its next update is written, and said' '
	test_crl_soon a www/soon.pem 1 &&
	sleep 2 &&
	tandemctl crl fetch --out crls.pem --ca cas.pem "$url/soon.pem" \
	    >out 2>err &&
	test_grep "warning: the list of a.example is past its next update (20[0-9-]*T[0-9:]*Z)" err &&
	cmp www/soon.pem crls.pem
'

test_expect_success 'a list older than the one the file holds is refused (an old list served again), the file unchanged' '
	cp a/crl.pem a-first.pem &&
	sleep 1 && tandem-ca crl -d a >/dev/null &&
	tandemctl crl fetch --out crls.pem --ca cas.pem a/crl.pem >out &&
	cmp a/crl.pem crls.pem &&
	test_expect_code 65 tandemctl crl fetch --out crls.pem --ca cas.pem \
	    a-first.pem 2>err &&
	test_grep "the list of a.example is older than the one crls.pem holds (an old list served again?); crls.pem is unchanged" err &&
	cmp a/crl.pem crls.pem
'

test_expect_success 'a server that stops in the middle of the body: given up after --timeout, naming it; the file unchanged' '
	python3 -c "import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(30)
open(sys.argv[3], \"w\").close()
c, _ = s.accept()
c.recv(4096)
c.sendall(b\"HTTP/1.0 200 OK\\r\\nContent-Length: 10000\\r\\n\\r\\n-----BEGIN X509 CRL-----\\n\")
time.sleep(10)" "$addr" "$slow" listening >slow.log 2>&1 &
	pid=$! &&
	cp crls.pem held.pem &&
	i=0 && while [ ! -e listening ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done &&
	test_expect_code 69 tandemctl crl fetch --out crls.pem --timeout 2 \
	    "http://$addr:$slow/a.pem" 2>err &&
	kill $pid 2>/dev/null;
	test_grep "http://$addr:$slow/a.pem: the body did not come within 2 seconds; crls.pem is unchanged" err &&
	cmp held.pem crls.pem
'

test_done
