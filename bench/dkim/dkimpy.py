"""Helpers for bench/dkim.sh, run with Debian's python3 and python3-dkim.

  dkimpy.py sign DIR       writes DIR/{rsa,ed}-{4096,65536}.eml, signed
                           relaxed/relaxed by dkimpy with DIR/rsa.pem and
                           DIR/ed.seed, from a plain-text body
  dkimpy.py time DIR FILE N
                           verifies FILE N times in one process with the
                           keys of DIR/keys.json; prints verifications per
                           second of CPU time
"""
import base64
import json
import sys
import time

import dkim

HEADERS = (
    b"Received: from mail.example.com (mail.example.com [2001:db8:5::10])\r\n"
    b"\tby mx.example.org with ESMTPS; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Joe SixPack <joe@example.com>\r\n"
    b"To: Suzie Q <suzie@example.org>\r\n"
    b"Subject: Quarterly figures, as promised\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <20240101000000.4f1c0a@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
)
# Ordinary prose: lines under 78 characters, paragraphs, single spaces.
PARAGRAPH = (
    b"Hello Suzie,\r\n"
    b"\r\n"
    b"Here are the figures we talked about on Friday. The numbers for the\r\n"
    b"second quarter came in a little under plan, mostly because two large\r\n"
    b"orders moved into July. Margins held up well, and the new supplier\r\n"
    b"contract should help in the second half of the year.\r\n"
    b"\r\n"
    b"Let me know if anything looks off, or if you need the raw data.\r\n"
    b"\r\n"
)


def message(size):
    body = b""
    while len(HEADERS) + 2 + len(body) + len(PARAGRAPH) <= size - 400:
        body += PARAGRAPH
    return HEADERS + b"\r\n" + body + b"Joe\r\n"


def sign(d):
    rsa = open(d + "/rsa.pem", "rb").read()
    seed = base64.b64encode(open(d + "/ed.seed", "rb").read())
    for size in (4096, 65536):
        msg = message(size)
        for name, key, alg in (("rsa", rsa, b"rsa-sha256"),
                               ("ed", seed, b"ed25519-sha256")):
            sig = dkim.sign(msg, name.encode(), b"example.com", key,
                            canonicalize=(b"relaxed", b"relaxed"),
                            signature_algorithm=alg)
            with open("%s/%s-%d.eml" % (d, name, size), "wb") as f:
                f.write(sig + msg)


def timeit(d, path, n):
    keys = {k.encode(): v.encode() for k, v in
            json.load(open(d + "/keys.json")).items()}
    msg = open(path, "rb").read()

    def dnsfunc(name, timeout=5):
        return keys.get(name.rstrip(b"."))
    if not dkim.verify(msg, dnsfunc=dnsfunc):
        sys.exit("dkimpy: %s does not verify" % path)
    t = time.process_time()
    for _ in range(n):
        dkim.verify(msg, dnsfunc=dnsfunc)
    print("%.1f" % (n / (time.process_time() - t)))


if __name__ == "__main__":
    if sys.argv[1] == "sign":
        sign(sys.argv[2])
    else:
        timeit(sys.argv[2], sys.argv[3], int(sys.argv[4]))
