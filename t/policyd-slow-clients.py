#!/usr/bin/env python3
# t/policyd-slow-clients.py - hold connections open to tandem-policyd
#
#	policyd-slow-clients.py ADDR PORT CERT KEY CA IDLE SLOW SECONDS
#
# Opens IDLE plain TCP connections that send nothing, and SLOW TLS
# connections, with the agent certificate CERT and key KEY, that send a
# request one byte every half second, then holds them all for SECONDS
# and closes them. Prints "open IDLE SLOW" once every connection is
# made (the scenario then does its own request), and "closed" at the
# end. Used by t/0559 to show that clients that are idle or slow stall
# no other.
import socket
import ssl
import sys
import time

addr, port, cert, key, ca = sys.argv[1:6]
nidle, nslow, secs = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])

idle = [socket.create_connection((addr, int(port))) for _ in range(nidle)]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.check_hostname = False
slow = []
for _ in range(nslow):
    s = ctx.wrap_socket(socket.create_connection((addr, int(port))),
                        server_hostname="bg.a.example")
    slow.append(s)
request = (b"POST /v1/arm HTTP/1.1\r\nHost: bg.a.example\r\n"
           b"Content-Type: application/pkcs7-mime\r\n"
           b"Content-Length: 100000\r\n\r\n")
print("open %d %d" % (len(idle), len(slow)), flush=True)
end = time.time() + secs
i = 0
while time.time() < end:
    for s in slow:
        if i < len(request):
            try:
                s.send(request[i:i + 1])
            except OSError:
                pass
    i += 1
    time.sleep(0.5)
for s in idle + slow:
    s.close()
print("closed", flush=True)
