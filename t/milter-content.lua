-- t/milter-content.lua - drive tandem-milter as a non-Postfix MTA would
--
-- Run by t/0540-milter-miltertest.sh with miltertest -s. The environment
-- gives MT_SOCK (the milter's socket, "unix:PATH"), MT_HEAD (a file of
-- "Name: value" header lines of a content mail from alice to bob and
-- dave), MT_BODY (its body, CRLF lines) and MT_CHUNK (body chunk size).
-- bob is active, dave is not registered: the milter must replace the
-- body, delete dave and accept. A mail without Tandem-Kind must be
-- accepted at end of headers. miltertest hides Lua errors, so every
-- failure is echoed first (LAB-NOTES pitfall 12).

local function fail(what)
	mt.echo("lua: failed: " .. what)
	error(what)
end

local function check(cond, what)
	if not cond then fail(what) end
	mt.echo("lua: passed: " .. what)
end

local function readfile(path)
	local f = io.open(path, "rb")
	if f == nil then fail("cannot open " .. tostring(path)) end
	local s = f:read("*a")
	f:close()
	return s
end

local sock = os.getenv("MT_SOCK")
local chunk = tonumber(os.getenv("MT_CHUNK") or "1000")

local function open()
	local conn = mt.connect(sock, 20, 0.25)
	check(conn ~= nil, "connect to " .. tostring(sock))
	-- The milter has no connect or helo callback: it negotiates
	-- SMFIP_NOCONNECT and SMFIP_NOHELO, so the MTA sends neither.
	return conn
end

local function envelope(conn, qid, from, rcpts)
	mt.macro(conn, SMFIC_MAIL, "i", qid, "{mail_addr}", from)
	check(mt.mailfrom(conn, "<" .. from .. ">") == nil, "mailfrom sent")
	check(mt.getreply(conn) == SMFIR_CONTINUE, "mailfrom: continue")
	for _, r in ipairs(rcpts) do
		mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}", r)
		check(mt.rcptto(conn, "<" .. r .. ">") == nil, "rcptto " .. r)
		check(mt.getreply(conn) == SMFIR_CONTINUE, "rcptto: continue")
	end
end

local function headers(conn, text)
	for line in string.gmatch(text, "[^\r\n]+") do
		local name, value = string.match(line, "^([^:]+):%s*(.*)$")
		if name == nil then fail("bad header line " .. line) end
		check(mt.header(conn, name, value) == nil, "header " .. name)
		check(mt.getreply(conn) == SMFIR_CONTINUE, "header: continue")
	end
end

-- 1. A Tandem content message, its body in several chunks.
local conn = open()
envelope(conn, "MTQID1", "alice@a.example",
    { "bob@a.example", "dave@a.example" })
headers(conn, readfile(os.getenv("MT_HEAD")))
check(mt.eoh(conn) == nil, "eoh sent")
check(mt.getreply(conn) == SMFIR_CONTINUE, "eoh: continue (Tandem traffic)")
local body = readfile(os.getenv("MT_BODY"))
local n = 0
for i = 1, #body, chunk do
	check(mt.bodystring(conn, string.sub(body, i, i + chunk - 1)) == nil,
	    "body chunk " .. n)
	check(mt.getreply(conn) == SMFIR_CONTINUE, "body: continue")
	n = n + 1
end
check(n >= 3, "the body went in " .. n .. " chunks")
check(mt.eom(conn) == nil, "eom sent")
check(mt.getreply(conn) == SMFIR_ACCEPT, "eom: accept")
check(mt.eom_check(conn, MT_BODYCHANGE), "the body was replaced")
check(not mt.eom_check(conn, MT_BODYCHANGE, body), "with a new body")
check(mt.eom_check(conn, MT_RCPTDELETE, "<dave@a.example>"),
    "dave (held) was removed")
check(not mt.eom_check(conn, MT_RCPTDELETE, "<bob@a.example>"),
    "bob (active) was kept")
mt.disconnect(conn)

-- 2. Ordinary mail: accepted at end of headers, body never asked for.
conn = open()
envelope(conn, "MTQID2", "carol@b.example", { "bob@a.example" })
headers(conn, "From: carol@b.example\r\nTo: bob@a.example\r\n" ..
    "Subject: plain\r\nMessage-ID: <plain-1@b.example>\r\n")
check(mt.eoh(conn) == nil, "eoh sent")
check(mt.getreply(conn) == SMFIR_ACCEPT, "eoh: accept (not Tandem)")
mt.disconnect(conn)

-- 3. A Tandem mail from an unregistered sender: 550 at end of message.
conn = open()
envelope(conn, "MTQID3", "mallory@a.example", { "bob@a.example" })
headers(conn, string.gsub(readfile(os.getenv("MT_HEAD")),
    "alice@a.example", "mallory@a.example"))
check(mt.eoh(conn) == nil, "eoh sent")
check(mt.getreply(conn) == SMFIR_CONTINUE, "eoh: continue")
check(mt.bodystring(conn, body) == nil, "body sent")
check(mt.getreply(conn) == SMFIR_CONTINUE, "body: continue")
check(mt.eom(conn) == nil, "eom sent")
-- The reply text is not captured by miltertest's eom_check here (it
-- is the final reply, not an EOM request); the shell checks the
-- milter's log line for the code and reason.
check(mt.getreply(conn) == SMFIR_REPLYCODE, "eom: a reply code")
mt.disconnect(conn)
mt.echo("all checks passed")
