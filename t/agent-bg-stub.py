#!/usr/bin/env python3
# t/agent-bg-stub.py - the background's HTTPS interface, served from files
#
#	agent-bg-stub.py ADDR PORT CERTCHAIN KEY DIR
#
# Stands in for tandem-policyd in the agent's own scenarios (t/027x),
# so that tandem send and fetch meet real TLS and the HTTP exchanges
# of doc/flows.md section 5 without a PostgreSQL behind them. It does
# not unwrap or check anything: the scenarios check what it saved.
#
#	DIR/status		one HTTP status per line, used up one per
#				POST /v1/arm (none left: 201)
#	DIR/posted/N		the body of the N-th POST /v1/arm answered
#				200 or 201
#	DIR/rekey-status	one HTTP status per line, used up one per
#				POST /v1/rekey (none left: 200)
#	DIR/rekey/N		the body of the N-th POST /v1/rekey, whatever
#				it was answered; DIR/rekey-types its
#				Content-Type, a line each
#	DIR/mailbox/ID		served by GET /v1/mailbox/ID, removed by
#				DELETE; ID.msgid holds its message id, for
#				the GET /v1/mailbox listing
#	DIR/list-status		one HTTP status per line, used up one per
#				GET /v1/mailbox (none left: 200, the
#				listing; another: no listing)
#	DIR/log			"METHOD PATH STATUS" per request
#	DIR/pid			written once listening
#
# The server does not ask for a client certificate: Python's ssl module
# verifies one only for the TLS client purpose, which agent certificates
# (email protection only) do not carry; tandem-policyd checks them with
# the Tandem rules instead.
import http.server
import os
import ssl
import sys

addr, port, chain, key, top = sys.argv[1:6]


def path_in(*parts):
    return os.path.join(top, *parts)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(path_in("log"), "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, code))

    def next_status(self, name="status", default=201):
        try:
            with open(path_in(name)) as f:
                lines = f.read().split()
        except FileNotFoundError:
            lines = []
        if not lines:
            return default
        with open(path_in(name), "w") as f:
            f.write("\n".join(lines[1:]))
        return int(lines[0])

    def rekey(self, body):
        code = self.next_status("rekey-status", 200)
        os.makedirs(path_in("rekey"), exist_ok=True)
        n = len(os.listdir(path_in("rekey"))) + 1
        with open(path_in("rekey", str(n)), "wb") as f:
            f.write(body)
        with open(path_in("rekey-types"), "a") as f:
            f.write("%s\n" % self.headers.get("Content-Type", ""))
        self.reply(code, b"stub says %d\n" % code)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/rekey":
            return self.rekey(body)
        if self.path != "/v1/arm":
            return self.reply(404, b"no such resource\n")
        code = self.next_status()
        if code in (200, 201):
            os.makedirs(path_in("posted"), exist_ok=True)
            n = len(os.listdir(path_in("posted"))) + 1
            with open(path_in("posted", str(n)), "wb") as f:
                f.write(body)
        self.reply(code, b"stub says %d\n" % code)

    def entry(self):
        name = self.path[len("/v1/mailbox/"):]
        if "/" in name or name.startswith(".") or name.endswith(".msgid"):
            return None
        return path_in("mailbox", name)

    def do_GET(self):
        if self.path == "/v1/mailbox":
            code = self.next_status("list-status", 200)
            if code != 200:
                return self.reply(code, b"stub says %d\n" % code)
            out = ""
            for name in sorted(os.listdir(path_in("mailbox"))):
                if name.endswith(".msgid"):
                    with open(path_in("mailbox", name)) as f:
                        out += "%s %s\n" % (name[:-6], f.read().strip())
            return self.reply(200, out.encode())
        p = self.entry() if self.path.startswith("/v1/mailbox/") else None
        if p is None or not os.path.exists(p):
            return self.reply(404, b"no such ARM\n")
        with open(p, "rb") as f:
            self.reply(200, f.read(), "application/pkcs7-mime")

    def do_DELETE(self):
        p = self.entry() if self.path.startswith("/v1/mailbox/") else None
        if p is None or not os.path.exists(p):
            return self.reply(404, b"no such ARM\n")
        os.remove(p)
        os.remove(p + ".msgid")
        self.reply(204)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
os.makedirs(path_in("mailbox"), exist_ok=True)
httpd = http.server.HTTPServer((addr, int(port)), Handler)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
with open(path_in("pid"), "w") as f:
    f.write("%d\n" % os.getpid())
httpd.serve_forever()
