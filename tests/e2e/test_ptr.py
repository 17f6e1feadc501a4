"""mxgate ptr against a real authoritative server (Knot) and a faulty one.

The addresses are in 2001:db8:3::/48 and 192.0.2.0/24 (documentation
ranges); nothing leaves the machine: the resolver forwards to the server
on a loopback port.
"""

import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fakedns import FakeDNS  # noqa: E402
from knot import Knot, ptr4, ptr6  # noqa: E402

MXGATE = os.environ.get("MXGATE_BIN", "build/mxgate")

ZONES = {
    "example.test": {
        "mx": ["AAAA 2001:db8:3::25", "A 192.0.2.25"],
        "other": ["AAAA 2001:db8:3::99", "A 192.0.2.99"],
        "alias": ["CNAME target"],
        "target": ["AAAA 2001:db8:3::28"],
        "third": ["AAAA 2001:db8:3::29"],
        "v4only": ["A 192.0.2.30"],
    },
    "3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
        ptr6("2001:db8:3::25"): ["PTR mx.example.test."],
        # maps to a name whose AAAA is another address
        ptr6("2001:db8:3::26"): ["PTR other.example.test."],
        # a PTR name that does not exist
        ptr6("2001:db8:3::27"): ["PTR gone.example.test."],
        # the confirmed name is reached through a CNAME
        ptr6("2001:db8:3::28"): ["PTR alias.example.test."],
        # several names; only the last maps back
        ptr6("2001:db8:3::29"): ["PTR other.example.test.",
                                 "PTR gone.example.test.",
                                 "PTR third.example.test."],
        ptr6("2001:db8:3::30"): ["PTR v4only.example.test."],
        # the name exists, but has no PTR record: NODATA
        ptr6("2001:db8:3::31"): ['TXT "no ptr here"'],
    },
    "2.0.192.in-addr.arpa": """
25 PTR mx.example.test.
99 PTR mx.example.test.
""",
}


@pytest.fixture(scope="module")
def knot():
    with Knot(ZONES) as k:
        yield k


def ptr(server, ip, timeout=30):
    return subprocess.run([MXGATE, "ptr", "--dns", server, ip],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("ip,out", [
    ("2001:db8:3::25", "pass mx.example.test"),
    ("2001:DB8:3:0:0:0:0:25", "pass mx.example.test"),
    ("192.0.2.25", "pass mx.example.test"),
    ("::ffff:192.0.2.25", "pass mx.example.test"),
    ("2001:db8:3::28", "pass alias.example.test"),
    ("2001:db8:3::29", "pass third.example.test"),
    # no PTR: NXDOMAIN and NODATA
    ("2001:db8:3::1", "fail"),
    ("2001:db8:3::31", "fail"),
    ("192.0.2.1", "fail"),
    # a reverse zone the server does not serve: it answers REFUSED, which
    # is a server failure, not a missing record
    ("2001:db8:4::1", "temperror"),
    # PTR names that do not map back
    ("2001:db8:3::26", "fail"),
    ("2001:db8:3::27", "fail"),
    ("2001:db8:3::30", "fail"),
    ("192.0.2.99", "fail"),
])
def test_knot(knot, ip, out):
    r = ptr(knot.address, ip)
    assert r.returncode == 0, r.stderr
    assert r.stdout == out + "\n"


@pytest.mark.parametrize("arg", ["2001:db8:3::zz", "192.0.2", "mx.example.test",
                                 "2001:db8:3::25/64", ""])
def test_bad_ip(arg):
    r = subprocess.run([MXGATE, "ptr", arg], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr != ""


def test_bad_server():
    r = subprocess.run([MXGATE, "ptr", "--dns", "dns.example.test",
                        "192.0.2.1"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "dns server" in r.stderr


def test_servfail():
    with FakeDNS() as fake:
        fake.servfail(ptr6("2001:db8:3::25"))
        r = ptr(fake.address, "2001:db8:3::25")
        assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr


def test_refused():
    with FakeDNS() as fake:
        fake.refused(ptr4("192.0.2.25"))
        r = ptr(fake.address, "192.0.2.25")
        assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr


def test_forward_servfail():
    with FakeDNS() as fake:
        fake.add(ptr4("192.0.2.25"), "PTR", "mx.example.test.")
        fake.servfail("mx.example.test")
        r = ptr(fake.address, "192.0.2.25")
        assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr


def test_silent_server_times_out():
    """A server that never answers gives temperror within the 5 s timeout."""
    with FakeDNS(default="silent") as fake:
        start = time.monotonic()
        r = ptr(fake.address, "2001:db8:3::25")
        took = time.monotonic() - start
        assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr
        assert 4 < took < 8
        assert fake.queries, "the resolver never asked"


def test_truncated_answer_retried_over_tcp():
    with FakeDNS() as fake:
        fake.add(ptr6("2001:db8:3::25"), "PTR", "mx.example.test.")
        fake.add("mx.example.test", "AAAA", "2001:db8:3::25")
        fake.truncate(ptr6("2001:db8:3::25"))
        r = ptr(fake.address, "2001:db8:3::25")
        assert r.stdout == "pass mx.example.test\n", r.stderr
        protos = {p for n, t, p in fake.queries if t == "PTR"}
        assert protos == {"udp", "tcp"}


def test_slow_answer_within_timeout():
    with FakeDNS() as fake:
        fake.add(ptr4("192.0.2.25"), "PTR", "mx.example.test.")
        fake.add("mx.example.test", "A", "192.0.2.25")
        fake.delay("mx.example.test", 1.0)
        r = ptr(fake.address, "192.0.2.25")
        assert r.stdout == "pass mx.example.test\n", r.stderr


def test_reload(knot):
    """knot.reload() changes a running server's zones (harness check)."""
    with Knot({"2.0.192.in-addr.arpa": "7 PTR mx.example.test.\n",
               "example.test": {"mx": "A 192.0.2.25"}}) as k:
        assert ptr(k.address, "192.0.2.7").stdout == "fail\n"
        k.reload({"example.test": {"mx": ["A 192.0.2.25", "A 192.0.2.7"]}})
        assert ptr(k.address, "192.0.2.7").stdout == \
            "pass mx.example.test\n"


DNSSEC_ZONES = {
    "example.test": {"mx": ["AAAA 2001:db8:3::25"]},
    "3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
        ptr6("2001:db8:3::25"): ["PTR mx.example.test."],
    },
}


def test_dnssec_secure_and_bogus(tmp_path):
    """With trust anchors, signed data passes; a wrong key makes the same
    data bogus, which is a temporary DNS failure, never pass or fail."""
    with Knot(DNSSEC_ZONES, dnssec=True) as signed, \
            Knot(DNSSEC_ZONES, dnssec=True) as other:
        good = tmp_path / "good.key"
        good.write_text(signed.trust_anchors())
        wrong = tmp_path / "wrong.key"
        wrong.write_text(other.trust_anchors())
        assert good.read_text() != wrong.read_text()

        def run(anchor):
            return subprocess.run(
                [MXGATE, "ptr", "--dns", signed.address, "--trust-anchor",
                 str(anchor), "2001:db8:3::25"],
                capture_output=True, text=True, timeout=30)

        r = run(good)
        assert (r.returncode, r.stdout) == (0, "pass mx.example.test\n"), \
            r.stderr
        r = run(wrong)
        assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr
        assert "answer=bogus" in r.stderr
        r = run(tmp_path / "missing.key")
        assert r.returncode == 2 and "trust anchor" in r.stderr


def test_dnssec_unsigned_zone_is_bogus_under_anchor(tmp_path, knot):
    """An anchor for a zone that is served unsigned: the answers cannot be
    validated (RFC 4035 5), so they are not used."""
    with Knot(DNSSEC_ZONES, dnssec=True) as signed:
        anchor = tmp_path / "a.key"
        anchor.write_text(signed.trust_anchors())
    r = subprocess.run([MXGATE, "ptr", "--dns", knot.address,
                        "--trust-anchor", str(anchor), "2001:db8:3::25"],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "temperror\n"), r.stderr
    assert "answer=bogus" in r.stderr
