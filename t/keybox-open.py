#!/usr/bin/env python3
# t/keybox-open.py - open a box of lib/keybox.c, as the elements do
#
#	keybox-open.py KEYFILE held MSGID RCPT <box >content
#	keybox-open.py KEYFILE key ADDRESS <box >pem
#
# A box is version | nonce (12) | tag (16) | ciphertext, AES-256-GCM
# under the 32-byte key whose hex is in KEYFILE, with the version byte
# and the additional data authenticated: "MSGID\nRCPT" for a held
# message (version 2, the foreground's held key), the address for a
# courier-end private key (version 1, the keybox key both elements
# share). Exits 1 when it does not open.
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key = bytes.fromhex(open(sys.argv[1]).read().strip())
if sys.argv[2] == "held":
    version, ad = 2, sys.argv[3] + "\n" + sys.argv[4]
else:
    version, ad = 1, sys.argv[3]
box = sys.stdin.buffer.read()
if len(box) <= 29 or box[0] != version:
    sys.exit("keybox-open: not a box of that kind")
try:
    out = AESGCM(key).decrypt(box[1:13], box[29:] + box[13:29],
                              box[:1] + ad.encode())
except InvalidTag:
    sys.exit("keybox-open: does not open")
sys.stdout.buffer.write(out)
