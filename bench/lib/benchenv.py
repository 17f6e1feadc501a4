"""The benchmark world: addresses, DNS zones, the DKIM key and the messages.

Everything here is shared by the servers under test, so that they check the
same senders against the same DNS with the same bytes:

- sender.example publishes SPF "v=spf1 include:_spf.sender.example -all" whose
  include allows 2001:db8:6::/48, and an rsa2048 DKIM key (selector bench);
- every client address 2001:db8:6::100.. has a PTR to mta-N.sender.example,
  whose AAAA maps back (forward-confirmed, RFC 8601 iprev);
- NOPTR_SOURCE has no PTR at all (the negative probe);
- messages are 4 KiB, From sender.example, signed by dkimpy at setup.

The domains are under example. (RFC 2606), not test.: libunbound, which
OpenDKIM resolves with, answers names under test. itself (RFC 6761).

All addresses are in 2001:db8:6::/48, the range of this benchmark; the
benchmark runs in its own network namespace, so nothing leaks out.
"""

import base64
import email.utils
import ipaddress
import os
import subprocess

import dkim

BENCH_NET = "2001:db8:6::/48"
PEER_ADDR = "2001:db8:6::25"     # Postfix + policyd-spf + OpenDKIM
MXGATE_ADDR = "2001:db8:6::26"   # mxgate
FIRST_SOURCE = "2001:db8:6::100"  # client addresses, one per session
NOPTR_SOURCE = "2001:db8:6::dead"
# Postfix and policyd-spf resolve through the system resolver, which only
# talks to port 53: the bench's Knot listens there, on an address of its own.
DNS_HOST = "127.0.6.53"
DNS_PORT = 53

SENDER_DOMAIN = "sender.example"
RCPT_DOMAIN = "rcpt.example"
SELECTOR = "bench"
MAIL_FROM = "news@sender.example"
RCPT_TO = "bob@rcpt.example"
HELO = "mta.sender.example"
MESSAGE_SIZE = 4096
REVERSE_ZONE = "6.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"


def sources(count):
    """The first count client addresses (text, RFC 5952)."""
    base = ipaddress.IPv6Address(FIRST_SOURCE)
    return [str(base + i) for i in range(count)]


def host_name(address):
    """The PTR name of a client address: mta-<last 16 bits in hex>."""
    low = int(ipaddress.IPv6Address(address)) & 0xffff
    return f"mta-{low:x}.{SENDER_DOMAIN}"


def make_key(path):
    """Writes a new rsa2048 private key (PEM); returns the DKIM p= value."""
    subprocess.run(["openssl", "genrsa", "-out", path, "2048"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", path, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return base64.b64encode(der).decode()


def txt_strings(text):
    """A TXT value as quoted strings of at most 255 bytes (RFC 1035)."""
    parts = [text[i:i + 255] for i in range(0, len(text), 255)]
    return " ".join(f'"{p}"' for p in parts)


def zones(pubkey, source_count):
    """Zones in the form tests/e2e/knot.py takes."""
    sender = {
        "@": ['TXT "v=spf1 include:_spf.sender.example -all"'],
        "_spf": [f'TXT "v=spf1 ip6:{BENCH_NET} -all"'],
        f"{SELECTOR}._domainkey": [
            "TXT " + txt_strings(f"v=DKIM1; k=rsa; p={pubkey}")],
        "mta": [f"AAAA {FIRST_SOURCE}"],
    }
    reverse = {}
    for a in sources(source_count):
        name = host_name(a)
        sender[name[:-len(SENDER_DOMAIN) - 1]] = [f"AAAA {a}"]
        reverse[ipaddress.IPv6Address(a).reverse_pointer + "."] = [
            f"PTR {name}."]
    rcpt = {
        "@": ["MX 10 mx"],
        "mx": [f"AAAA {PEER_ADDR}"],
        "mxgate": [f"AAAA {MXGATE_ADDR}"],
    }
    for a, n in ((PEER_ADDR, "mx"), (MXGATE_ADDR, "mxgate")):
        reverse[ipaddress.IPv6Address(a).reverse_pointer + "."] = [
            f"PTR {n}.{RCPT_DOMAIN}."]
    return {SENDER_DOMAIN: sender, RCPT_DOMAIN: rcpt, REVERSE_ZONE: reverse}


def make_messages(outdir, keyfile, count):
    """count distinct 4 KiB messages, DKIM-signed (rsa-sha256, relaxed)."""
    os.makedirs(outdir, exist_ok=True)
    with open(keyfile, "rb") as f:
        key = f.read()
    line = b"The quick brown fox jumps over the lazy dog, 0123456789 times."
    for i in range(count):
        head = (f"From: Sender News <{MAIL_FROM}>\r\n"
                f"To: Bob <{RCPT_TO}>\r\n"
                f"Subject: bench message {i}\r\n"
                f"Date: {email.utils.formatdate(localtime=False)}\r\n"
                f"Message-ID: <bench.{i}.{os.getpid()}@{SENDER_DOMAIN}>\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=us-ascii\r\n"
                "\r\n").encode()
        body = b""
        n = 0
        # leave room for the signature header (about 500 bytes)
        while len(head) + len(body) < MESSAGE_SIZE - 520:
            body += b"%04d " % n + line + b"\r\n"
            n += 1
        msg = head + body
        sig = dkim.sign(msg, SELECTOR.encode(), SENDER_DOMAIN.encode(), key,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"from", b"to", b"subject",
                                         b"date", b"message-id"])
        with open(os.path.join(outdir, f"{i:05d}.eml"), "wb") as f:
            f.write(sig + msg)
