"""DNS pathologies (issue 7, part 4): a scripted server on loopback
(fakedns.py) misbehaves on purpose, and every case must give a defined
result, within the configured [dns] timeout, never a hang.

First the results, through `mxgate spf --dns` (the same resolver and SPF
evaluator as the server; its per-query timeout is the default 5 s), then the
replies a session gets from the policy: 4xx where DNS failed, never 5xx and
never a pass.
"""
import subprocess
import time

import pytest

from fakedns import FakeDNS
from knot import ptr6
from mxgate import Dialogue, binary, ensure_v6

SERVER = "2001:db8:8::1"
CLIENT = "2001:db8:8::10"
GOOD_SPF = '"v=spf1 ip6:2001:db8:8::/48 -all"'
DEFAULT_TIMEOUT = 5.0  # dns.h: 0 means 5 s


def txt(value):
    """TXT record data cut into 255-octet character-strings."""
    parts = [value[i:i + 255] for i in range(0, len(value), 255)]
    return " ".join('"%s"' % p for p in parts)


def padded_spf(n):
    """A record with n extra ip6 terms before the one that matches."""
    return txt("v=spf1 " + " ".join("ip6:2001:db8:ff:%x::/64" % i
                                    for i in range(n)) +
               " ip6:2001:db8:8::/48 -all")


def zone(fake):
    fake.add("trunc.test", "TXT", GOOD_SPF)
    fake.truncate("trunc.test")
    fake.add("txt600.test", "TXT", padded_spf(30))      # 735 octets
    fake.add("txt5k.test", "TXT", padded_spf(230))      # 5,535 octets
    rec = "v=spf1 ip6:2001:db8:8::/48 -all"
    fake.add("split.test", "TXT", " ".join('"%s"' % c for c in rec))
    fake.add("split-space.test", "TXT", '"v=spf1" "ip6:2001:db8:8::/48"')
    fake.add("chain.test", "CNAME", "c1.chain.test.")
    for i in range(1, 6):
        fake.add(f"c{i}.chain.test", "CNAME", f"c{i + 1}.chain.test.")
    fake.add("c6.chain.test", "TXT", GOOD_SPF)
    fake.add("loop.test", "CNAME", "l2.loop.test.")
    fake.add("l2.loop.test", "CNAME", "loop.test.")
    fake.add("self.test", "CNAME", "self.test.")
    fake.add("right.test", "TXT", GOOD_SPF)
    fake.wrong_name("wrong.test", "right.test")
    fake.servfail("servfail.test")
    fake.refused("refused.test")
    fake.add("slow.test", "TXT", GOOD_SPF)
    fake.delay("slow.test", 1.0)
    fake.silent("silent.test")
    fake.add("inc-silent.test", "TXT", '"v=spf1 include:silent.test -all"')
    fake.add("inc-trunc.test", "TXT", '"v=spf1 include:trunc.test -all"')
    fake.add("two.test", "TXT", GOOD_SPF)
    fake.add("two.test", "TXT", '"v=spf1 -all"')


@pytest.fixture(scope="module")
def fake():
    with FakeDNS() as f:
        zone(f)
        yield f


def spf(fake, domain, ip=CLIENT):
    t0 = time.monotonic()
    r = subprocess.run([binary(), "spf", "--dns", fake.address, ip,
                        f"alice@{domain}"], capture_output=True, text=True,
                       timeout=60)
    return r.stdout.splitlines()[0], time.monotonic() - t0


def transports(fake, name):
    with fake.lock:
        return [proto for n, _, proto in fake.queries if n == name]


@pytest.mark.parametrize("domain,want", [
    ("trunc.test", "pass"),         # TC over UDP, then TCP
    ("txt600.test", "pass"),        # over 512 octets: EDNS
    ("txt5k.test", "pass"),         # over 4,096: TC, then TCP
    ("split.test", "pass"),         # 33 strings of one octet each
    # RFC 7208 3.3: strings join with nothing between them, so this is
    # "v=spf1ip6:...", not an SPF record (4.5).
    ("split-space.test", "none"),
    ("chain.test", "pass"),         # six CNAMEs deep
    ("loop.test", "temperror"),     # a resolver cannot finish it
    ("self.test", "temperror"),
    ("wrong.test", "none"),         # the off-name answer is dropped
    ("servfail.test", "temperror"),
    ("refused.test", "temperror"),
    ("inc-trunc.test", "pass"),
    ("two.test", "permerror"),      # RFC 7208 4.5
])
def test_spf_result(fake, domain, want):
    got, took = spf(fake, domain)
    assert got == want, (domain, got)
    assert took < 3.0, (domain, took)


def test_late_answer_within_the_timeout(fake):
    """Answers 1 s late: the resolver retransmits meanwhile (each copy is
    answered late too), and the result comes before the timeout."""
    got, took = spf(fake, "slow.test")
    assert got == "pass"
    assert took < DEFAULT_TIMEOUT, took


def test_large_answers_retry_over_tcp(fake):
    spf(fake, "trunc.test")
    spf(fake, "txt5k.test")
    spf(fake, "txt600.test")
    assert transports(fake, "trunc.test")[:2] == ["udp", "tcp"]
    assert "tcp" in transports(fake, "txt5k.test")
    assert set(transports(fake, "txt600.test")) == {"udp"}


@pytest.mark.parametrize("domain", ["silent.test", "inc-silent.test"])
def test_silent_server_is_temperror_at_the_timeout(fake, domain):
    got, took = spf(fake, domain)
    assert got == "temperror"
    assert DEFAULT_TIMEOUT - 0.5 < took < DEFAULT_TIMEOUT + 2.0, took


# ---- the same faults inside a session: the policy's replies ----

MSG = (b"From: Alice <alice@sender.test>\r\n"
       b"To: Bob <bob@example.test>\r\n"
       b"Subject: dns faults\r\n"
       b"\r\n"
       b"Hello.\r\n")
TIMEOUT = 2.0  # [dns] timeout the harness writes


@pytest.fixture
def v6addrs():
    if not ensure_v6(SERVER, CLIENT):
        pytest.skip("cannot add 2001:db8:8:: addresses to lo")


def session(mx, fake, mail_domain, rcpt_reply, data_reply=None):
    """One anonymous IPv6 transaction; returns seconds from connect to
    the last reply."""
    m = mx(server={"listen": f"[{SERVER}]:0"}, trusted=(),
           dns=fake.address)
    t0 = time.monotonic()
    d = Dialogue(*m.addr(SERVER), source=CLIENT)
    d.expect(220)
    d.cmd("EHLO mail.sender.test", 250)
    d.cmd(f"MAIL FROM:<alice@{mail_domain}>", 250)
    d.cmd("RCPT TO:<bob@example.test>", *rcpt_reply)
    if data_reply:
        d.cmd("DATA", 354)
        d.send(MSG + b".\r\n")
        d.expect(*data_reply)
    took = time.monotonic() - t0
    d.cmd("QUIT", 221)
    return m, took


@pytest.fixture
def fake_ptr(fake):
    """The client has a good PTR, fetched over TCP after a TC answer."""
    fake.add(ptr6(CLIENT), "PTR", "mail.sender.test.")
    fake.truncate(ptr6(CLIENT))
    fake.add("mail.sender.test", "AAAA", CLIENT)
    yield fake
    with fake.lock:
        fake.records.pop(ptr6(CLIENT).rstrip(".").lower(), None)
        fake.faults.pop(ptr6(CLIENT).rstrip(".").lower(), None)
        fake.wrong.pop(ptr6(CLIENT).rstrip(".").lower(), None)


def test_session_spf_over_tcp_accepted(mx, fake_ptr, v6addrs):
    m, took = session(mx, fake_ptr, "txt5k.test", (250,), (250, "2.0.0"))
    assert took < 3.0
    msg = m.messages("example.test", "bob", count=1)[0]
    assert b"spf=pass" in msg and b"iprev=pass" in msg


def test_session_silent_spf_is_451_at_the_timeout(mx, fake_ptr, v6addrs):
    _, took = session(mx, fake_ptr, "silent.test", (250,),
                      (451, "4.4.3"))
    assert took < TIMEOUT + 2.0, took


@pytest.mark.parametrize("domain", ["loop.test", "servfail.test"])
def test_session_spf_dns_error_is_451(mx, fake_ptr, v6addrs, domain):
    _, took = session(mx, fake_ptr, domain, (250,), (451, "4.4.3"))
    assert took < TIMEOUT + 2.0, took


def test_session_spf_permerror_is_450_4_7_26(mx, fake_ptr, v6addrs):
    session(mx, fake_ptr, "two.test", (250,), (450, "4.7.26"))


def test_session_silent_ptr_is_450_4_4_3(mx, fake, v6addrs):
    fake.silent(ptr6(CLIENT))
    try:
        _, took = session(mx, fake, "trunc.test", (450, "4.4.3"))
    finally:
        with fake.lock:
            fake.faults.pop(ptr6(CLIENT).rstrip(".").lower(), None)
    assert TIMEOUT - 0.5 < took < TIMEOUT + 2.0, took


def test_session_ptr_for_the_wrong_name_is_no_ptr(mx, fake_ptr, v6addrs):
    """A PTR answer owned by another name proves nothing: 450 4.7.25."""
    with fake_ptr.lock:
        key = ptr6(CLIENT).rstrip(".").lower()
        fake_ptr.faults.pop(key, None)
        fake_ptr.records["ptr.elsewhere.test"] = fake_ptr.records.pop(key)
    fake_ptr.wrong_name(ptr6(CLIENT), "ptr.elsewhere.test")
    session(mx, fake_ptr, "trunc.test", (450, "4.7.25"))


def test_session_waiting_for_dns_parks_only_its_session(mx, fake, v6addrs):
    """The PTR server never answers: that client's RCPT waits until the
    [dns] timeout (then 450 4.4.3), while another client gets a whole
    transaction through meanwhile: nothing blocks the loop."""
    key = ptr6(CLIENT).rstrip(".").lower()
    fake.silent(ptr6(CLIENT))
    try:
        m = mx(server={"listen": f"[{SERVER}]:0, 127.0.0.1:0"}, trusted=(),
               dns=fake.address)
        t0 = time.monotonic()
        d = Dialogue(*m.addr(SERVER), source=CLIENT)
        d.expect(220)
        d.cmd("EHLO mail.sender.test", 250)
        d.cmd("MAIL FROM:<alice@trunc.test>", 250)
        d.send("RCPT TO:<bob@example.test>\r\n")
        other = Dialogue(*m.addr("127.0.0.1"))
        other.expect(220)
        other.cmd("EHLO other.test", 250)
        other.cmd("MAIL FROM:<alice@sender.test>", 250)
        other.cmd("RCPT TO:<ivy@example.test>", 250)
        other.cmd("DATA", 354)
        other.send(MSG + b".\r\n")
        other.expect(250)
        other.cmd("QUIT", 221)
        other_done = time.monotonic() - t0
        d.expect(450, "4.4.3")
        parked = time.monotonic() - t0
        assert other_done < parked and parked > TIMEOUT - 0.5, \
            (other_done, parked)
        d.cmd("QUIT", 221)
        assert m.messages("example.test", "ivy", count=1)
    finally:
        with fake.lock:
            fake.faults.pop(key, None)
