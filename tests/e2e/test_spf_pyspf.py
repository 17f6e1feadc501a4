"""mxgate spf against pyspf (Debian python3-spf), both asking one Knot.

Real-world-shaped policies (nested includes, a/mx with IPv6 and dual CIDR
lengths, exists with %{ir}, redirect, ptr, exp=, the error cases) are
served by a throw-away knotd on a loopback port. For every case the result
of `mxgate spf --dns` must equal pyspf's spf.check2() with dnspython
pointed at the same server, and the explanation must match on fail.
Addresses are in 2001:db8:4::/48 and the IPv4 documentation ranges; they
are only arguments, nothing is sent from them.
"""

import os
import subprocess
import sys

import dns.resolver
import pytest
import spf

sys.path.insert(0, os.path.dirname(__file__))
from knot import Knot, ptr4, ptr6  # noqa: E402

MXGATE = os.environ.get("MXGATE_BIN", "build/mxgate")

ZONES = {
    "corp.test": {
        "@": ['TXT "v=spf1 include:_spf.corp.test include:esp.test -all"',
              "MX 10 mx1", "MX 20 mx2"],
        "_spf": ['TXT "v=spf1 ip4:192.0.2.0/26 ip6:2001:db8:4:10::/64 "'
                 ' "a:relay.corp.test mx:corp.test ~all"'],
        "mx1": ["A 192.0.2.80", "AAAA 2001:db8:4:20::25",
                'TXT "v=spf1 a -all"'],
        "mx2": ["AAAA 2001:db8:4:21::25"],
        "relay": ["A 198.51.100.7", "AAAA 2001:db8:4:30::7"],
    },
    # three levels of includes, as large senders publish them
    "esp.test": {
        "@": ['TXT "v=spf1 include:_netblocks.esp.test ~all"'],
        "_netblocks": ['TXT "v=spf1 include:_netblocks2.esp.test '
                       'ip6:2001:db8:4:100::/56 -all"'],
        "_netblocks2": ['TXT "v=spf1 ip4:203.0.113.0/25 '
                        'ip6:2001:db8:4:200::/56 include:_nb3.esp.test '
                        '-all"'],
        "_nb3": ['TXT "v=spf1 ip6:2001:db8:4:300::/56 -all"'],
    },
    "other.test": {
        "redir": ['TXT "v=spf1 redirect=_spf.corp.test"'],
        "amx": ['TXT "v=spf1 a/24//64 mx//56 -all"', "A 192.0.2.130",
                "AAAA 2001:db8:4:50::1", "MX 10 mail.amx"],
        "mail.amx": ["AAAA 2001:db8:4:60::1", "A 198.51.100.130"],
        "ex": ['TXT "v=spf1 exists:%{ir}.%{v}._spf.ex.other.test -all"'],
        "fail": ['TXT "v=spf1 ip4:192.0.2.1 -all exp=why.fail.other.test"'],
        "why.fail": ['TXT "%{i} may not send for %{d} (%{l} via %{h})"'],
        "soft": ['TXT "v=spf1 ip6:2001:db8:4:70::/64 ~all"'],
        "neutral": ['TXT "v=spf1 ?all"'],
        "ptr": ['TXT "v=spf1 ptr:corp.test -all"'],
        "perm": ['TXT "v=spf1 ip4:192.0.2.1/33 -all"'],
        "loop": ['TXT "v=spf1 include:loop.other.test -all"'],
        "multi": ['TXT "v=spf1 -all"', 'TXT "v=spf1 +all"'],
        "none": ['TXT "google-site-verification=abc"'],
        "void": ['TXT "v=spf1 a:n1.other.test a:n2.other.test '
                 'a:n3.other.test -all"'],
        "badinc": ['TXT "v=spf1 include:nothing.other.test -all"'],
    },
    "4.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
        ptr6("2001:db8:4:20::25"): ["PTR mx1.corp.test."],
        ptr6("2001:db8:4:21::26"): ["PTR mx2.corp.test."],
    },
}

# exists:%{ir}.%{v}._spf.ex.other.test, listed clients
for _ip in ("2001:db8:4:40::1", "192.0.2.200"):
    if ":" in _ip:
        _rev = ptr6(_ip)[:-len(".ip6.arpa.")] + ".ip6"
    else:
        _rev = ptr4(_ip)[:-len(".in-addr.arpa.")] + ".in-addr"
    ZONES["other.test"][_rev + "._spf.ex"] = ["A 127.0.0.2"]

CASES = [
    # (client, sender, helo)
    ("192.0.2.10", "a@corp.test", "h.example"),
    ("2001:db8:4:10::99", "a@corp.test", "h.example"),
    ("198.51.100.7", "a@corp.test", "h.example"),
    ("2001:db8:4:30::7", "a@corp.test", "h.example"),
    ("2001:db8:4:21::25", "a@corp.test", "h.example"),
    ("192.0.2.80", "a@corp.test", "h.example"),
    ("2001:db8:4:1ff::1", "a@corp.test", "h.example"),
    ("2001:db8:4:2aa::1", "a@corp.test", "h.example"),
    ("2001:db8:4:3bb::1", "a@corp.test", "h.example"),
    ("203.0.113.5", "a@corp.test", "h.example"),
    ("203.0.113.200", "a@corp.test", "h.example"),
    ("2001:db8:4:999::1", "a@corp.test", "h.example"),
    ("::ffff:192.0.2.10", "a@corp.test", "h.example"),
    ("2001:db8:4:10::1", "a@redir.other.test", "h.example"),
    ("2001:db8:4:11::1", "a@redir.other.test", "h.example"),
    ("192.0.2.77", "a@amx.other.test", "h.example"),
    ("2001:db8:4:50::ffff", "a@amx.other.test", "h.example"),
    ("2001:db8:4:60:ff::1", "a@amx.other.test", "h.example"),
    ("2001:db8:4:61::1", "a@amx.other.test", "h.example"),
    ("198.51.100.130", "a@amx.other.test", "h.example"),
    ("2001:db8:4:40::1", "a@ex.other.test", "h.example"),
    ("2001:db8:4:40::2", "a@ex.other.test", "h.example"),
    ("192.0.2.200", "a@ex.other.test", "h.example"),
    ("192.0.2.2", "joe@fail.other.test", "mx.example"),
    ("2001:db8:4:f::1", "joe@fail.other.test", "mx.example"),
    ("2001:db8:4:70::1", "a@soft.other.test", "h.example"),
    ("2001:db8:4:71::1", "a@soft.other.test", "h.example"),
    ("2001:db8:4:71::1", "a@neutral.other.test", "h.example"),
    ("2001:db8:4:20::25", "a@ptr.other.test", "h.example"),
    ("2001:db8:4:21::26", "a@ptr.other.test", "h.example"),
    ("2001:db8:4:22::1", "a@ptr.other.test", "h.example"),
    ("192.0.2.1", "a@perm.other.test", "h.example"),
    ("192.0.2.1", "a@loop.other.test", "h.example"),
    ("192.0.2.1", "a@multi.other.test", "h.example"),
    ("192.0.2.1", "a@none.other.test", "h.example"),
    ("192.0.2.1", "a@nothing.other.test", "h.example"),
    ("192.0.2.1", "a@void.other.test", "h.example"),
    ("192.0.2.1", "a@badinc.other.test", "h.example"),
    # null reverse-path: the HELO identity
    ("2001:db8:4:20::25", "", "mx1.corp.test"),
    ("2001:db8:4:20::26", "", "mx1.corp.test"),
    ("192.0.2.80", "", "mx1.corp.test"),
]


@pytest.fixture(scope="module")
def knot():
    with Knot(ZONES) as k:
        yield k


@pytest.fixture(scope="module")
def pyspf(knot):
    """pyspf's module-level dnspython resolver, aimed at the Knot."""
    saved = dns.resolver.default_resolver
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [knot.host]
    r.port = knot.port
    r.lifetime = 10
    dns.resolver.default_resolver = r
    yield lambda ip, s, h: spf.check2(i=ip, s=s, h=h)
    dns.resolver.default_resolver = saved


def mxgate_spf(server, ip, sender, helo):
    p = subprocess.run([MXGATE, "spf", "--dns", server, ip,
                        sender or "<>", helo],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines, p.stderr
    return lines


@pytest.mark.parametrize("ip,sender,helo", CASES)
def test_same_as_pyspf(knot, pyspf, ip, sender, helo):
    lines = mxgate_spf(knot.address, ip, sender, helo)
    want, want_exp = pyspf(ip, sender, helo)
    assert lines[0] == want, (lines, want_exp)
    if want == "fail" and sender.endswith("@fail.other.test"):
        # the exp= text, macro-expanded the same way
        assert lines[1] == want_exp


@pytest.mark.parametrize("loops", ["1", "2"])
def test_batch_same_as_pyspf(knot, pyspf, tmp_path, loops):
    """--batch gives one result per line in input order, with the checks
    spread over loops (each its own resolver and caches) as the server
    runs them."""
    batch = tmp_path / "checks.txt"
    batch.write_text("".join(f"{ip} {s or '<>'} {h}\n"
                             for ip, s, h in CASES))
    p = subprocess.run([MXGATE, "spf", "--dns", knot.address, "--batch",
                        str(batch), "--concurrency", "8", "--loops", loops],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"loops={loops}" in p.stderr
    assert p.stdout.split() == [pyspf(ip, s, h)[0] for ip, s, h in CASES]


def test_fail_explanation(knot):
    lines = mxgate_spf(knot.address, "2001:db8:4:f::1",
                       "joe@fail.other.test", "mx.example")
    assert lines[:2] == ["fail", "2.0.0.1.0.D.B.8.0.0.0.4.0.0.0.F.0.0.0.0."
                         "0.0.0.0.0.0.0.0.0.0.0.1 may not send for "
                         "fail.other.test (joe via mx.example)"]


def test_results_cover_every_kind(knot, pyspf):
    """The cases exercise every result RFC 7208 defines but temperror,
    which test_temperror covers."""
    seen = {pyspf(ip, s, h)[0] for ip, s, h in CASES}
    assert seen == {"pass", "fail", "softfail", "neutral", "none",
                    "permerror"}


def test_trace(knot):
    p = subprocess.run([MXGATE, "spf", "--trace", "--dns", knot.address,
                        "2001:db8:4:3bb::1", "a@corp.test", "h.example"],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.splitlines()[0] == "pass"
    trace = p.stderr
    assert "term include:_nb3.esp.test" in trace
    assert "dns TXT _nb3.esp.test -> 1 record" in trace
    assert "dns AAAA relay.corp.test -> 1 record" in trace
    assert "lookups=" in trace and "voids=0" in trace


def test_temperror():
    """A server that does not answer: temperror, never a pass or none."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        lines = mxgate_spf(addr, "192.0.2.1", "a@corp.test", "h.example")
        assert lines[0] == "temperror"
    finally:
        s.close()
