#!/usr/bin/python3
"""The DNS of bench/smtp_throughput.sh: a Knot on loopback with what
mxgate's checks ask about the bench's mail (smtp-source connects from ::1
as client.example.org and sends from bench@example.org), so that no query
leaves the machine and every check has an answer: reverse DNS of ::1, and
an SPF record that passes ::1. Prints the server's HOST:PORT, then serves
until SIGTERM.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "e2e"))
from knot import Knot, ptr6  # noqa: E402

ZONES = {
    "example.org": {
        "@": ['TXT "v=spf1 ip6:::1 -all"'],
        "client": ["AAAA ::1", 'TXT "v=spf1 ip6:::1 -all"'],
    },
    # ::1 is 1.0.0. ... .0.ip6.arpa: the zone is the 31 zero nibbles
    ptr6("::1")[2:]: {"1": ["PTR client.example.org."]},
}

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with Knot(ZONES) as k:
    print(k.address, flush=True)
    signal.pause()
