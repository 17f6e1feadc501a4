"""mxgate dkim with its keys from a real authoritative server (Knot) through
the libunbound resolver (--dns): the RFC 8463 vectors, messages signed by
dkimpy at test time, and each way a key lookup can end (no record,
revoked key, server failure). Nothing leaves the machine: the resolver
forwards to Knot on a loopback port.
"""
import base64
import os
import pathlib
import subprocess
import sys

import dkim
import nacl.signing
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from knot import Knot  # noqa: E402

MXGATE = os.environ.get("MXGATE_BIN", "build/mxgate")
CONF = pathlib.Path("..") / "shared" / "conformance" / "dkim"

MESSAGE = (
    b"From: Joe <joe@example.test>\r\n"
    b"To: Suzie <suzie@example.org>\r\n"
    b"Subject: keys from DNS\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"\r\n"
    b"Hello  there.\r\n"
)


def txt(record):
    """A TXT rdata in zone-file syntax, cut into 255-octet strings."""
    return "TXT " + " ".join('"%s"' % record[i:i + 255]
                             for i in range(0, len(record), 255))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("dkimdns")
    rsa = d / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"],
                   check=True, capture_output=True)
    rsa_pub = subprocess.run(
        ["openssl", "pkey", "-in", str(rsa), "-pubout", "-outform", "DER"],
        check=True, capture_output=True).stdout
    seed = os.urandom(32)
    ed_pub = bytes(nacl.signing.SigningKey(seed).verify_key)
    zones = {
        "example.test": {
            "rsa._domainkey": [txt("v=DKIM1; k=rsa; p=" +
                                   base64.b64encode(rsa_pub).decode())],
            "ed._domainkey": [txt("v=DKIM1; k=ed25519; p=" +
                                  base64.b64encode(ed_pub).decode())],
            "revoked._domainkey": [txt("v=DKIM1; k=rsa; p=")],
            "testing._domainkey": [txt("v=DKIM1; k=ed25519; t=y; p=" +
                                       base64.b64encode(ed_pub).decode())],
        },
        # RFC 8463 A.2, with the owner names as the vector gives them.
        "football.example.com": (CONF / "rfc8463" / "keys.zone").read_text(),
    }
    with Knot(zones) as k:
        yield {"knot": k, "rsa": rsa.read_bytes(),
               "ed": base64.b64encode(seed)}


def mxgate(server, msg):
    r = subprocess.run([MXGATE, "dkim", "--dns", server, "-"], input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


def sign(setup, selector, key, alg, domain=b"example.test"):
    return dkim.sign(MESSAGE, selector, domain, key,
                     canonicalize=(b"relaxed", b"relaxed"),
                     signature_algorithm=alg) + MESSAGE


def test_rfc8463_through_dns(setup):
    msg = (CONF / "rfc8463" / "signed.eml").read_bytes()
    assert mxgate(setup["knot"].address, msg) == [
        "pass d=football.example.com s=brisbane a=ed25519-sha256",
        "pass d=football.example.com s=test a=rsa-sha256",
    ]


@pytest.mark.parametrize("selector,alg,key,want", [
    (b"rsa", b"rsa-sha256", "rsa",
     "pass d=example.test s=rsa a=rsa-sha256"),
    (b"ed", b"ed25519-sha256", "ed",
     "pass d=example.test s=ed a=ed25519-sha256"),
    (b"testing", b"ed25519-sha256", "ed",
     "pass d=example.test s=testing a=ed25519-sha256 key in testing mode"),
    (b"revoked", b"rsa-sha256", "rsa",
     "fail d=example.test s=revoked a=rsa-sha256 key revoked"),
    (b"missing", b"rsa-sha256", "rsa",
     "permerror d=example.test s=missing a=rsa-sha256 no key record"),
])
def test_key_lookups(setup, selector, alg, key, want):
    msg = sign(setup, selector, setup[key], alg)
    assert mxgate(setup["knot"].address, msg) == [want]


def test_server_failure_is_temperror(setup):
    # Knot does not serve unserved.test: it answers REFUSED, which the
    # resolver reports as a server failure - try again later, not "no key".
    msg = sign(setup, b"rsa", setup["rsa"], b"rsa-sha256",
               domain=b"unserved.test")
    out = mxgate(setup["knot"].address, msg)
    assert out == ["temperror d=unserved.test s=rsa a=rsa-sha256 "
                   "key lookup failed"]
