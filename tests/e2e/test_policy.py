"""The IPv6 anonymous-inbound policy end to end (DESIGN.md "The policy").

The real binary, a real Knot server on loopback serving the sender's zones
(SPF, DKIM keys, PTR and forward records), clients sending from
2001:db8:7:: addresses on lo or through PROXY v2, messages signed by dkimpy
at test time. Every case asserts the exact reply line and, for accepted
mail, the delivered bytes and the Authentication-Results field.
"""
import base64
import ipaddress
import struct
import subprocess
import time

import dkim
import pytest

from fakedns import FakeDNS
from knot import Knot, ptr6
from mxgate import Dialogue, Mxgate, ensure_v6, stuff

GOOD = "2001:db8:7:1::10"      # PTR mail.sender.test, which maps back
NOMATCH = "2001:db8:7:1::11"   # PTR other.sender.test, which does not
NOPTR = "2001:db8:7:1::12"     # no PTR at all
OUTSIDE = "2001:db8:7:3::1"    # not in SPF, PTR maps back
TRUSTED = "2001:db8:7:2::5"    # a trusted connector, no PTR
CLIENTS = [GOOD, NOMATCH, NOPTR, OUTSIDE, TRUSTED]

MESSAGE = (b"From: Alice <alice@sender.test>\r\n"
           b"To: Bob <bob@example.test>\r\n"
           b"Subject: policy test\r\n"
           b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <policy-1@sender.test>\r\n"
           b"\r\n"
           b"Hello Bob,\r\n\r\nthis is the body.\r\n")


def rejects(ip):
    return ("Service unavailable, sending IPv6 address [%s] must have "
            "reverse DNS record." % ip)


def no_auth(ip):
    return ("Service unavailable, message sent over IPv6 [%s] must pass "
            "either SPF or DKIM validation." % ip)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("policykeys")
    rsa, ed = d / "rsa.pem", d / "ed.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    str(ed)], check=True, capture_output=True)

    def der(*args):
        return subprocess.run(["openssl", "pkey", "-in"] + list(args),
                              check=True, capture_output=True).stdout
    return {
        "rsa": (rsa.read_bytes(),
                base64.b64encode(der(str(rsa), "-pubout", "-outform",
                                     "DER")).decode()),
        "ed": (base64.b64encode(der(str(ed), "-outform", "DER")[-32:]),
               base64.b64encode(der(str(ed), "-pubout", "-outform",
                                    "DER")[-32:]).decode()),
    }


def txt(value):
    """A TXT record cut into 255-octet character-strings."""
    parts = [value[i:i + 255] for i in range(0, len(value), 255)]
    return "TXT " + " ".join('"%s"' % p for p in parts)


@pytest.fixture(scope="module")
def knot(keys):
    if not ensure_v6(*CLIENTS):
        pytest.skip("cannot add 2001:db8:7:: addresses to lo")
    zones = {
        "sender.test": {
            "@": ['TXT "v=spf1 include:_spf.sender.test -all"'],
            "_spf": ['TXT "v=spf1 ip6:2001:db8:7:1::/64 ip4:127.0.0.1 '
                     '-all"'],
            "fail": ['TXT "v=spf1 -all"'],
            "soft": ['TXT "v=spf1 ~all"'],
            "neutral": ['TXT "v=spf1 ?all"'],
            "none": ["A 192.0.2.99"],
            "helo": ['TXT "v=spf1 ip6:2001:db8:7::/48 -all"'],
            "mail": ["AAAA " + GOOD],
            "other": ["AAAA 2001:db8:7:9::9"],
            "outside": ["AAAA " + OUTSIDE],
            "rsa._domainkey": [txt("v=DKIM1; k=rsa; p=" + keys["rsa"][1])],
            "ed._domainkey": [txt("v=DKIM1; k=ed25519; p=" +
                                  keys["ed"][1])],
        },
        "7.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
            ptr6(GOOD): ["PTR mail.sender.test."],
            ptr6(NOMATCH): ["PTR other.sender.test."],
            ptr6(OUTSIDE): ["PTR outside.sender.test."],
        },
    }
    with Knot(zones) as k:
        yield k


DOMAINS = {"example.test": {"ipv6_anonymous": "yes"}, "contoso.test": {}}


@pytest.fixture
def gw(tmp_path, knot):
    started = []

    def start(**kw):
        kw.setdefault("domains", DOMAINS)
        kw.setdefault("dns", knot.address)
        kw.setdefault("trusted", ("2001:db8:7:2::/64",))
        m = Mxgate(tmp_path / ("mx%d" % len(started)), **kw)
        started.append(m)
        return m.start()

    yield start
    for m in started:
        assert m.stop() == 0, m.log()


def sign(keys, msg, which="rsa", selector=None, **kw):
    priv = keys[which][0]
    alg = b"rsa-sha256" if which == "rsa" else b"ed25519-sha256"
    sig = dkim.sign(msg, (selector or which).encode(), b"sender.test", priv,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=alg, **kw)
    return sig + msg


def session(m, source, helo="client.sender.test"):
    host, port = m.addr("::1") if ":" in source else m.addr("127.0.0.1")
    d = Dialogue(host, port, source=source)
    d.expect(220)
    d.cmd("EHLO " + helo, 250)
    return d


def send(m, source, mail_from, rcpts, msg=MESSAGE, helo="client.sender.test"):
    """One transaction; returns (rcpt replies, final reply) as
    [(code, last text line)] and (code, text) (None when no RCPT passed)."""
    d = session(m, source, helo)
    d.cmd("MAIL FROM:<%s>" % mail_from, 250, "2.1.0")
    replies = []
    for r in rcpts:
        d.send("RCPT TO:<%s>\r\n" % r)
        code, lines = d.reply()
        replies.append((code, lines[-1]))
    final = None
    if any(c == 250 for c, _ in replies):
        d.cmd("DATA", 354)
        d.send(stuff(msg) + b".\r\n")
        code, lines = d.reply()
        final = (code, lines[-1])
    d.cmd("QUIT", 221)
    d.close()
    return replies, final


def delivered(m, local="bob", domain="example.test", count=1):
    got = m.messages(domain, local, count=count)
    assert len(got) == count, m.log()
    return got[-1]


def header_block(msg):
    """The header fields mxgate put on top (LF line ends, unfolded)."""
    head = msg.split(b"\n\n", 1)[0].decode()
    return head.replace("\n\t", " ").replace("\n ", " ")


def lf(b):
    return b.replace(b"\r\n", b"\n")


# ---- RCPT time: domain opt-in and reverse DNS (550 5.2.1, 450 4.7.25) ----

def test_accepted_with_ptr_and_spf_pass(gw):
    m = gw()
    rc, final = send(m, GOOD, "alice@sender.test", ["bob@example.test"])
    assert rc == [(250, "2.1.5 Ok")]
    assert final[0] == 250 and final[1].startswith("2.0.0 Ok: queued as ")
    got = delivered(m)
    assert got.endswith(lf(MESSAGE))
    head = header_block(got)
    assert ("Authentication-Results: mx.example.test; iprev=pass "
            "(mail.sender.test) policy.iprev=\"%s\"; spf=pass "
            "smtp.mailfrom=alice@sender.test; dkim=none" % GOOD) in head
    m.wait_log(r"msg id=\S+ client=%s .* iprev=pass spf=pass dkim=none "
               r"policy=ok result=queued" % GOOD)


def test_no_ptr_is_450_4_7_25(gw):
    m = gw()
    rc, final = send(m, NOPTR, "alice@sender.test", ["bob@example.test"])
    assert rc == [(450, "4.7.25 " + rejects(NOPTR))]
    assert final is None
    m.wait_log(r"rcpt client=%s to=<bob@example.test> iprev=permerror "
               r"result=tempfail reason=no_ptr" % NOPTR)


def test_not_opted_in_is_550_5_2_1_but_ipv4_is_accepted(gw):
    m = gw()
    rc, _ = send(m, GOOD, "alice@sender.test", ["carol@contoso.test"])
    assert rc == [(550, "5.2.1 Service unavailable, [contoso.test] does "
                   "not accept email over IPv6.")]
    # The same domain over IPv4: no IPv6 rule, no authentication needed.
    rc, final = send(m, "127.0.0.1", "x@fail.sender.test",
                     ["carol@contoso.test"])
    assert rc == [(250, "2.1.5 Ok")]
    assert final[0] == 250
    assert delivered(m, "carol", "contoso.test").endswith(lf(MESSAGE))


@pytest.mark.parametrize("source", [GOOD, "127.0.0.1"])
def test_unknown_domain_is_relay_denied(gw, source):
    m = gw()
    rc, _ = send(m, source, "alice@sender.test",
                 ["x@unknown.test", "x@example.test@unknown.test"])
    assert rc[0] == (550, "5.7.1 Relay access denied")
    assert rc[1][0] in (501, 550)


def test_mixed_recipients_in_one_transaction(gw):
    m = gw()
    rc, final = send(m, GOOD, "alice@sender.test",
                     ["bob@example.test", "carol@contoso.test",
                      "dan@unknown.test", "erin@example.test"])
    assert [c for c, _ in rc] == [250, 550, 550, 250]
    assert rc[1][1].startswith("5.2.1 ")
    assert rc[2][1] == "5.7.1 Relay access denied"
    assert final[0] == 250
    assert delivered(m, "bob").endswith(lf(MESSAGE))
    assert delivered(m, "erin").endswith(lf(MESSAGE))
    assert not m.maildir("contoso.test", "carol").exists()


def test_trusted_connector_is_not_subject(gw):
    m = gw()
    rc, final = send(m, TRUSTED, "x@fail.sender.test",
                     ["carol@contoso.test", "bob@example.test"])
    assert rc == [(250, "2.1.5 Ok"), (250, "2.1.5 Ok")]
    assert final[0] == 250
    head = header_block(delivered(m, "carol", "contoso.test"))
    assert "spf=fail" in head and "iprev=permerror" in head


def test_ptr_check_modes(gw):
    # "exists": a PTR naming a valid host is enough.
    m = gw()
    rc, _ = send(m, NOMATCH, "alice@sender.test", ["bob@example.test"])
    assert rc == [(250, "2.1.5 Ok")]
    # "forward-confirmed": the name must map back (RFC 8601 iprev).
    m = gw(sections={"policy": {"ptr_check": "forward-confirmed"}})
    rc, _ = send(m, NOMATCH, "alice@sender.test", ["bob@example.test"])
    assert rc == [(450, "4.7.25 " + rejects(NOMATCH))]
    rc, _ = send(m, GOOD, "alice@sender.test", ["bob@example.test"])
    assert rc == [(250, "2.1.5 Ok")]


def test_dns_failure_at_rcpt_is_450_never_5xx(gw, tmp_path):
    with FakeDNS(default="servfail") as bad:
        m = gw(dns=bad.address)
        rc, _ = send(m, GOOD, "alice@sender.test", ["bob@example.test"])
        assert rc[0][0] == 450
        assert rc[0][1].startswith("4.4.3 Temporary DNS failure")
    with FakeDNS(default="silent") as dead:
        m = gw(dns=dead.address)
        d = session(m, GOOD)
        d.cmd("MAIL FROM:<alice@sender.test>", 250)
        # [dns] timeout is 2s in the harness: the answer comes by then.
        d.sock.settimeout(6)
        lines = d.cmd("RCPT TO:<bob@example.test>", 450)
        assert lines[-1].startswith("4.4.3 ")
        d.cmd("QUIT", 221)


def test_rcpt_needs_only_the_ptr_answer(gw):
    """ptr_check = exists: RCPT is answered once the PTR name is known,
    without waiting for the forward lookup; the end of DATA waits for it,
    since Authentication-Results carries the forward-confirmed iprev."""
    late = 1.5
    with FakeDNS() as fake:
        fake.add("sender.test", "TXT", '"v=spf1 ip6:2001:db8:7:1::/64 -all"')
        fake.add(ptr6(GOOD), "PTR", "mail.sender.test.")
        fake.add("mail.sender.test", "AAAA", GOOD)
        fake.delay("mail.sender.test", late)
        m = gw(dns=fake.address)
        t0 = time.monotonic()
        d = session(m, GOOD)
        d.cmd("MAIL FROM:<alice@sender.test>", 250)
        d.cmd("RCPT TO:<bob@example.test>", 250, "2.1.5")
        rcpt = time.monotonic() - t0
        d.cmd("DATA", 354)
        d.send(stuff(MESSAGE) + b".\r\n")
        d.expect(250, "2.0.0")
        eod = time.monotonic() - t0
        d.cmd("QUIT", 221)
        assert rcpt < late - 0.5 <= eod, (rcpt, eod)
        assert ("iprev=pass (mail.sender.test)" in
                header_block(delivered(m)))


def proxy_v2(src, dst="2001:db8::1", sport=4000, dport=25):
    body = (ipaddress.IPv6Address(src).packed +
            ipaddress.IPv6Address(dst).packed + struct.pack("!HH", sport,
                                                            dport))
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x21]) +
            struct.pack("!H", len(body)) + body)


def test_proxy_v2_source_is_the_client(gw):
    m = gw(server={"listen": "[::1]:0 proxy, [::1]:0, 127.0.0.1:0"})
    host, port = m.addr("::1", proxy=True)
    for ip, want in ((NOPTR, (450, "4.7.25 " + rejects(NOPTR))),
                     (GOOD, (250, "2.1.5 Ok"))):
        d = Dialogue(host, port)
        d.send(proxy_v2(ip))
        d.expect(220)
        d.cmd("EHLO client.sender.test", 250)
        d.cmd("MAIL FROM:<alice@sender.test>", 250)
        d.send("RCPT TO:<bob@example.test>\r\n")
        code, lines = d.reply()
        assert (code, lines[-1]) == want
        d.cmd("QUIT", 221)
        d.close()


# ---- end of DATA: SPF or DKIM must pass (450 4.7.26) ----

@pytest.mark.parametrize("which", ["rsa", "ed"])
def test_spf_fail_with_valid_dkim_is_accepted(gw, keys, which):
    m = gw()
    signed = sign(keys, MESSAGE, which)
    rc, final = send(m, GOOD, "x@fail.sender.test", ["bob@example.test"],
                     signed)
    assert final[0] == 250, m.log()
    got = delivered(m)
    assert got.endswith(lf(signed))
    head = header_block(got)
    alg = "rsa-sha256" if which == "rsa" else "ed25519-sha256"
    assert "spf=fail smtp.mailfrom=x@fail.sender.test" in head
    assert ("dkim=pass header.d=sender.test header.i=@sender.test "
            "header.s=%s header.a=%s header.b=" % (which, alg)) in head


def test_tampered_body_is_450_4_7_26(gw, keys):
    m = gw()
    signed = sign(keys, MESSAGE, "rsa").replace(b"the body", b"the bodY")
    rc, final = send(m, GOOD, "x@fail.sender.test", ["bob@example.test"],
                     signed)
    assert final == (450, "4.7.26 " + no_auth(GOOD))
    assert m.messages("example.test", "bob") == []
    m.wait_log(r"spf=fail dkim=fail:sender.test policy=no_spf_dkim_pass "
               r"result=tempfail")


@pytest.mark.parametrize("sender", ["x@soft.sender.test",
                                    "x@neutral.sender.test",
                                    "x@none.sender.test"])
def test_softfail_neutral_none_without_dkim_is_450(gw, sender):
    m = gw()
    rc, final = send(m, GOOD, sender, ["bob@example.test"])
    assert rc == [(250, "2.1.5 Ok")]
    assert final == (450, "4.7.26 " + no_auth(GOOD))


def test_spf_temperror_without_dkim_is_4xx(gw):
    # Knot refuses names outside its zones: the resolver sees SERVFAIL.
    m = gw()
    rc, final = send(m, GOOD, "x@elsewhere.example", ["bob@example.test"])
    assert rc == [(250, "2.1.5 Ok")]
    assert final[0] == 451 and final[1].startswith("4.4.3 ")


def test_null_sender_uses_helo_identity(gw):
    m = gw()
    rc, final = send(m, GOOD, "", ["bob@example.test"],
                     helo="helo.sender.test")
    assert final[0] == 250
    head = header_block(delivered(m))
    assert "spf=pass smtp.helo=helo.sender.test" in head


def test_forged_authentication_results_removed_foreign_kept(gw):
    m = gw()
    msg = (b"Authentication-Results: mx.example.test; spf=pass\r\n"
           b"Authentication-Results: other.example; dkim=pass\r\n"
           b"authentication-results:  (forged)\r\n MX.Example.Test; dkim=pass\r\n"
           + MESSAGE)
    rc, final = send(m, GOOD, "alice@sender.test", ["bob@example.test"],
                     msg)
    assert final[0] == 250
    got = delivered(m)
    assert got.endswith(b"Authentication-Results: other.example; "
                        b"dkim=pass\n" + lf(MESSAGE))
    assert got.count(b"mx.example.test;") == 1
    assert b"MX.Example.Test" not in got


def test_several_signatures_one_verifies(gw, keys):
    m = gw()
    good = sign(keys, MESSAGE, "ed")
    # A second signature by a selector whose key is not published, and a
    # third whose b= was damaged.
    nokey = sign(keys, good, "rsa", selector="missing")
    broken = sign(keys, nokey, "rsa")
    broken = broken.replace(b"b=", b"b=AAAA", 1) if broken.startswith(
        b"DKIM-Signature") else broken
    rc, final = send(m, GOOD, "x@fail.sender.test", ["bob@example.test"],
                     broken)
    assert final[0] == 250, m.log()
    head = header_block(delivered(m))
    assert head.count("dkim=") == 3
    assert "dkim=pass header.d=sender.test header.i=@sender.test " \
        "header.s=ed" in head
    assert "header.s=missing" in head
