"""Hostile clients against the real binary (issue 7, part 3).

Each test asserts the reply the hostile client gets and that a normal
client is still served meanwhile or right after (a whole transaction,
delivered to the Maildir). Addresses: the server listens in
2001:db8:8::/48; the per-/64 and per-/48 caps are driven from
2001:db8:9::/48. 10,000 idle connections are in bench/idle_memory.sh, not
here: this file keeps to a few hundred (and one slowloris thousand).
"""
import resource
import selectors
import socket
import time

import pytest

from mxgate import Dialogue, ensure_v6

SERVER6 = "2001:db8:8::1"
OTHER6 = "2001:db8:8::2"  # a normal client outside the capped /48

MSG = (b"From: Alice <alice@sender.test>\r\n"
       b"To: Bob <bob@example.test>\r\n"
       b"Subject: still served\r\n"
       b"\r\n"
       b"Hello.\r\n")


@pytest.fixture(scope="module", autouse=True)
def fd_limit():
    """A thousand client sockets here, as many on the server side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (want, max(hard, want)))
        except (ValueError, OSError):
            pytest.skip("cannot raise the descriptor limit")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def served(m, host="127.0.0.1", source=None, rcpt="bob"):
    """A normal client: a whole transaction; returns the seconds it
    waited for its banner. The message must reach the Maildir."""
    before = len(m.messages("example.test", rcpt))
    t0 = time.monotonic()
    d = Dialogue(*m.addr(host), source=source)
    d.expect(220)
    banner = time.monotonic() - t0
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd(f"RCPT TO:<{rcpt}@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG + b".\r\n")
    d.expect(250, "2.0.0")
    d.cmd("QUIT", 221)
    assert d.closed()
    got = m.messages("example.test", rcpt, count=before + 1)
    assert len(got) == before + 1 and got[-1].endswith(b"\nHello.\n")
    return banner


def spool_files(m):
    """Every file in the spool but the server's lock: what could hold
    bytes of a message."""
    spool = m.tmp / "spool"
    return sorted(str(p.relative_to(spool)) for p in spool.rglob("*")
                  if p.is_file() and p != spool / "lock")


def open_many(addr, n, source=None):
    """n connected non-blocking sockets (connected in batches under the
    listen backlog)."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    socks = []
    for _ in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        s.connect(addr)
        s.setblocking(False)
        socks.append(s)
    return socks


def collect(socks, until, done):
    """Reads from every socket until done(data) holds for all or until
    passes; returns {sock: bytes} and the set of sockets that hit EOF."""
    sel = selectors.DefaultSelector()
    data = {s: b"" for s in socks}
    eof = set()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    try:
        while time.monotonic() < until:
            if all(done(data[s], s in eof) for s in socks):
                break
            for key, _ in sel.select(timeout=0.1):
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    data[s] += chunk
                else:
                    eof.add(s)
                    sel.unregister(s)
    finally:
        sel.close()
    return data, eof


def close_all(socks):
    for s in socks:
        s.close()


def test_slowloris_closed_by_the_line_deadline(mx):
    """1,000 connections send a command one byte per second. Every read
    restarts an idle timer, so only a deadline for the whole line ends
    them: 421 4.4.2 once timeout_command has passed since the line could
    begin. A normal client meanwhile gets its banner within a second."""
    timeout = 3
    m = mx(server={"timeout_command": f"{timeout}s",
                   "max_connections_per_ip": "2000",
                   "max_connections": "2000"})
    t0 = time.monotonic()
    socks = open_many(m.addr("127.0.0.1"), 1000)
    connected = time.monotonic()
    line = b"EHLO slowloris.example.test"
    got = {s: b"" for s in socks}
    eof = set()
    banner_wait = None
    for i in range(len(line)):
        for s in socks:
            if s not in eof:
                try:
                    s.send(line[i:i + 1])
                except OSError:
                    pass
        if i == 1:
            banner_wait = served(m)
        data, gone = collect([s for s in socks if s not in eof],
                             connected + i + 1, lambda d, e: e)
        for s, d in data.items():
            got[s] += d
        eof |= gone
        if len(eof) == len(socks) or \
                time.monotonic() > connected + timeout + 5:
            break
    closed_at = time.monotonic()
    close_all(socks)
    assert banner_wait is not None and banner_wait < 1.0, banner_wait
    assert len(eof) == 1000, len(eof)
    for r in got.values():
        assert r.startswith(b"220 ") and b"\r\n421 4.4.2 " in r, r
    # Closed by the deadline, long before the 27 bytes were all sent.
    assert closed_at - connected < timeout + 3, (closed_at - t0,
                                                 connected - t0)
    assert m.log().count("reason=timeout") >= 1000
    served(m)


def test_per_64_cap_then_per_48_cap(mx):
    """200 connections from one IPv6 /64: the first 20
    (max_connections_per_ip) are greeted, the rest get 421 4.7.0. More
    /64s of the same /48 fill it up to 8 x 20 = 160; the next /64 is
    refused too. A client of another /48 is served throughout."""
    same64 = [f"2001:db8:9:1::{n:x}" for n in range(1, 5)]
    others = [f"2001:db8:9:{n:x}::1" for n in range(2, 10)]
    if not ensure_v6(SERVER6, OTHER6, *same64, *others):
        pytest.skip("cannot add 2001:db8:8::/48 and 2001:db8:9::/48 to lo")
    m = mx(server={"listen": f"[{SERVER6}]:0",
                   "max_connections_per_ip": "20"},
           trusted=("2001:db8:8::/48",))
    addr = m.addr(SERVER6)
    socks = []
    for i in range(200):
        socks += open_many(addr, 1, source=same64[i % len(same64)])
    data, _ = collect(socks, time.monotonic() + 20,
                      lambda d, e: b"\r\n" in d)
    greeted = [s for s in socks if data[s].startswith(b"220 ")]
    refused = [s for s in socks if data[s].startswith(b"421 4.7.0 ")]
    assert len(greeted) == 20 and len(refused) == 180
    assert served(m, SERVER6, source=OTHER6) < 1.0
    # Seven more /64s of that /48: 20 each, the /48 now holds 160.
    more = []
    for src in others[:7]:
        more += open_many(addr, 21, source=src)
    data, _ = collect(more, time.monotonic() + 20,
                      lambda d, e: b"\r\n" in d)
    assert sum(d.startswith(b"220 ") for d in data.values()) == 140
    assert sum(d.startswith(b"421 4.7.0 ") for d in data.values()) == 7
    # The ninth /64 has no connection yet, but its /48 is full.
    ninth = Dialogue(addr[0], addr[1], source=others[7])
    ninth.expect(421, "4.7.0")
    assert ninth.closed()
    served(m, SERVER6, source=OTHER6)
    # Slots come back when the connections go.
    close_all(socks + more)
    m.wait_log(r"connect client=2001:db8:9:9::1 ")
    time.sleep(0.5)
    d = Dialogue(addr[0], addr[1], source=others[7])
    d.expect(220)
    d.cmd("QUIT", 221)


def test_overlong_command_lines(mx):
    """A 1 MB line and a 513-octet one: one 500 5.5.2 each, and the
    session stays in sync."""
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.send(b"MAIL FROM:<" + b"a" * (1 << 20) + b"@sender.test>\r\n")
    d.expect(500, "5.5.2")
    d.cmd("MAIL FROM:<" + "a" * 492 + "@x.test>", 500, "5.5.2")
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("QUIT", 221)
    served(m)


def test_overlong_header_line_and_header_section(mx):
    """A 100 KB header line, and a 2 MB header section: RFC 5322 2.1.1
    line limits are for senders; a gateway passes the message as it came
    (within max_message_size), and the forged-Authentication-Results
    filter must not choke on it. Over max_message_size: 552 5.3.4 and
    nothing kept."""
    m = mx(server={"max_message_size": "4M"})
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    longline = b"X-Long: " + b"y" * 100000 + b"\r\n"
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"z" * 60)
                    for i in range(28000))
    assert len(many) > 2 << 20
    for header in (longline, many):
        d.cmd("MAIL FROM:<alice@sender.test>", 250)
        d.cmd("RCPT TO:<carol@example.test>", 250)
        d.cmd("DATA", 354)
        d.send(header + MSG + b".\r\n")
        d.expect(250, "2.0.0")
    got = m.messages("example.test", "carol", count=2)
    assert len(got) == 2
    assert longline.replace(b"\r\n", b"\n") in got[0] or \
        longline.replace(b"\r\n", b"\n") in got[1]
    # Over the size limit, all in the header section.
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<dave@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(many * 2 + MSG + b".\r\n")
    d.expect(552, "5.3.4")
    d.cmd("QUIT", 221)
    assert not m.messages("example.test", "dave")
    assert m.wait_queue_empty()  # carol's delivered, dave's never queued
    served(m)


def test_starttls_with_pipelined_plaintext(mx, tls_cert):
    """STARTTLS followed, in the same segment, by plaintext commands
    (CVE-2011-0411): they are dropped, never run inside the TLS session.
    The injected MAIL would make the RCPT after the handshake succeed."""
    cert, key = tls_cert
    m = mx(server={"tls_certificate": cert, "tls_key": key})
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.send(b"STARTTLS\r\nEHLO evil.test\r\n"
           b"MAIL FROM:<evil@attacker.test>\r\n")
    d.expect(220, "2.0.0")
    assert d.buf == b""
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("RCPT TO:<bob@example.test>", 503, "5.5.1")
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("QUIT", 221)
    served(m)


@pytest.mark.parametrize("line", [
    "MAIL FROM:<alice@sender.test> ENVID=x+0D+0ARCPT",
    "MAIL FROM:<alice@sender.test> SIZE=1+0D+0A",
    "MAIL FROM:<alice@sender.test> BODY=8BITMIME+0D+0AX",
    "MAIL FROM:<alice@sender.test> AUTH=<>+0D+0A",
])
def test_crlf_hidden_in_mail_parameters(mx, line):
    """xtext-encoded CR LF (RFC 3461 4) in a MAIL parameter: refused as an
    unsupported or malformed parameter (555 5.5.4), never decoded into a
    line break anywhere (log, queue file); the session goes on."""
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd(line, 555, "5.5.4")
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG + b".\r\n")
    d.expect(250)
    d.cmd("QUIT", 221)
    msg = m.messages("example.test", "bob", count=1)[0]
    assert b"+0D+0A" not in msg and b"ENVID" not in msg
    for logline in m.log().splitlines():
        assert not logline.startswith(("RCPT", "X")), logline


def test_crlf_hidden_in_rcpt_parameters(mx):
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test> ORCPT=rfc822;x+0D+0ADATA", 555,
          "5.5.4")
    d.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER+0D+0A", 555, "5.5.4")
    d.cmd("DATA", 503, "5.5.1")
    d.cmd("QUIT", 221)
    served(m)


@pytest.mark.parametrize("where", ["verb", "argument", "end"])
def test_nul_in_command_closes(mx, where):
    line = {"verb": b"NO\0OP\r\n",
            "argument": b"MAIL FROM:<a\0@sender.test>\r\n",
            "end": b"NOOP\0\r\n"}[where]
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.send(line + b"NOOP\r\n")
    d.expect(500, "5.5.2")
    assert d.closed()
    assert d.buf == b""
    served(m)


def test_nul_in_message_refused_nothing_kept(mx):
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<erin@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG.replace(b"Hello.", b"Hel\0lo.") + b".\r\n")
    d.expect(550, "5.5.2")
    d.cmd("NOOP", 250)
    d.cmd("QUIT", 221)
    time.sleep(0.3)
    assert not m.messages("example.test", "erin")
    assert spool_files(m) == []
    served(m)


def test_commands_after_quit_are_not_run(mx):
    """QUIT and more commands in one segment: only the 221 comes back, the
    rest is never run (nothing delivered), the connection closes."""
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.send(b"QUIT\r\nMAIL FROM:<alice@sender.test>\r\n"
           b"RCPT TO:<frank@example.test>\r\nDATA\r\n" + MSG + b".\r\n"
           b"NOOP\r\n")
    d.expect(221, "2.0.0")
    assert d.closed()
    assert d.buf == b""
    assert not m.messages("example.test", "frank")
    served(m)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_vanishing_mid_data_keeps_nothing(mx, how):
    m = mx()
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<gina@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG + b"x" * 300000 + b"\r\n")
    if how == "rst":
        d.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\1\0\0\0\0\0\0\0")
    d.close()
    m.wait_log(r"disconnect .*reason=(client-eof|io-error)")
    time.sleep(0.3)
    assert not m.messages("example.test", "gina")
    assert spool_files(m) == []
    assert "result=queued" not in m.log()
    served(m)


def test_proxy_header_trickle_closed_by_the_deadline(mx):
    """A PROXY v1 header sent a byte per second on a proxy listener: closed
    without a word once timeout_command has passed since connect (the
    header may be 107 octets: a byte a second would hold it 107 s)."""
    m = mx(server={"listen": "127.0.0.1:0 proxy, 127.0.0.1:0",
                   "timeout_command": "2s"})
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    t0 = time.monotonic()
    header = b"PROXY TCP4 192.0.2.1 192.0.2.2 12345 25\r\n"
    closed = False
    for ch in header:
        try:
            d.send(bytes([ch]))
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if d.closed(timeout=0.01):
            closed = True
            break
    took = time.monotonic() - t0
    assert closed and took < 4.0, took
    assert d.buf == b""
    m.wait_log(r"disconnect .*reason=timeout")
    served(m)


@pytest.mark.parametrize("size", [1000, 100000])
def test_forged_authentication_results_removed_whatever_its_length(mx,
                                                                   size):
    """An Authentication-Results field in our name is forged (RFC 8601
    5); one too long to hold (over 64 KiB, folded) is dropped as well,
    never let through."""
    m = mx()
    fold = b"".join(b"\r\n\tforged-%06d=pass" % i
                    for i in range(size // 20))
    forged = (b"Authentication-Results: mx.example.test; spf=pass "
              b"smtp.mailfrom=forged.test" + fold + b"\r\n")
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<hank@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(forged + MSG + b".\r\n")
    d.expect(250, "2.0.0")
    d.cmd("QUIT", 221)
    msg = m.messages("example.test", "hank", count=1)[0]
    assert b"forged" not in msg
    assert msg.count(b"Authentication-Results: mx.example.test") == 1
    assert msg.endswith(b"Subject: still served\n\nHello.\n")


def test_data_trickle_cut_by_the_minimum_rate(mx):
    """DATA sent a few bytes at a time: every read restarts the block
    timeout (timeout_data), but the message as a whole must come at 500
    octets a second after its first timeout_data: 421 4.4.2, nothing kept.
    A client that sends at a fair rate with pauses is not cut."""
    m = mx(server={"timeout_data": "2s"})
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<jack@example.test>", 250)
    d.cmd("DATA", 354)
    t0 = time.monotonic()
    try:
        for _ in range(40):
            d.send(MSG[:10])
            time.sleep(0.25)
            if d.closed(timeout=0.01):
                break
    except OSError:
        pass
    took = time.monotonic() - t0
    assert 1.8 < took < 3.5, took
    assert d.buf.startswith(b"421 4.4.2 "), d.buf
    m.wait_log(r"disconnect .*reason=timeout")
    assert not m.messages("example.test", "jack")
    assert spool_files(m) == []
    # 40 KB in pieces with pauses of 1.5 s (under timeout_data): 6 s in
    # all, well over the 2 s base, but at more than 500 octets a second.
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<jack@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG)
    for _ in range(4):
        d.send(b"x" * 9998 + b"\r\n")
        time.sleep(1.5)
    d.send(b".\r\n")
    d.expect(250, "2.0.0")
    d.cmd("QUIT", 221)
    assert m.messages("example.test", "jack", count=1)
