#!/usr/bin/env python3
# t/held-open.py - open a held body as the foreground does (lib/keybox.c)
#
#	held-open.py HELDKEY MSGID RCPT <box >content
#
# The box is version 2 | nonce (12) | tag (16) | ciphertext, AES-256-GCM
# under the 32-byte key whose hex is in HELDKEY, with the version byte
# and "MSGID\nRCPT" as additional data. Exits 1 when it does not open.
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key = bytes.fromhex(open(sys.argv[1]).read().strip())
box = sys.stdin.buffer.read()
if len(box) <= 29 or box[0] != 2:
    sys.exit("held-open: not a held box")
ad = box[:1] + (sys.argv[2] + "\n" + sys.argv[3]).encode()
try:
    out = AESGCM(key).decrypt(box[1:13], box[29:] + box[13:29], ad)
except InvalidTag:
    sys.exit("held-open: does not open")
sys.stdout.buffer.write(out)
