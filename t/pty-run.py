#!/usr/bin/env python3
# pty-run.py SCRIPT -- COMMAND...: run COMMAND on a new pseudo-terminal
# (its controlling terminal, in a new session); SCRIPT holds lines
# "expect TEXT" (wait until TEXT appeared on the terminal, 10 s at most)
# and "send TEXT" (type TEXT and Enter). Everything the terminal showed
# goes to standard output; the exit status is COMMAND's.
import os, pty, select, sys, time

def main():
    sep = sys.argv.index("--")
    script = open(sys.argv[1]).read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[sep + 1], sys.argv[sep + 1:])
    seen = b""

    def pump(timeout):
        nonlocal seen
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(fd, 4096)
        except OSError:
            return None
        if not data:
            return None
        seen += data
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return True

    pos = 0
    for line in script:
        verb, _, text = line.partition(" ")
        if verb == "expect":
            end = time.time() + 10
            while text.encode() not in seen[pos:]:
                if time.time() > end or pump(end - time.time()) is None:
                    sys.stderr.write("pty-run: never saw %r\n" % text)
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    return 124
            pos = seen.index(text.encode(), pos) + len(text)
        elif verb == "send":
            os.write(fd, text.encode() + b"\r")
    while pump(10):
        pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)

sys.exit(main())
