"""End-to-end SMTP tests: the real binary, real clients (smtplib, swaks,
raw sockets), Maildir contents compared byte for byte."""
import re
import smtplib
import subprocess
import time

import pytest

from mxgate import Dialogue, added_headers, ensure_v6, strip_added, stuff

MSG = (b"From: Alice <alice@sender.test>\r\n"
       b"To: Bob <bob@example.test>\r\n"
       b"Subject: hello\r\n"
       b"\r\n"
       b"Hi Bob,\r\n"
       b".a line that starts with a dot\r\n"
       b"..two dots\r\n"
       b"\r\n"
       b"bye\r\n")


def lf(b):
    return b.replace(b"\r\n", b"\n")


def ehlo(host, port, source=None):
    d = Dialogue(host, port, source=source)
    d.expect(220)
    lines = d.cmd("EHLO client.test", 250)
    return d, lines


def start_data(d):
    """A transaction to bob@example.test, up to the 354 of DATA."""
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)


def end_data_in_shutdown(d, tail):
    """After SIGTERM the transaction in flight still ends with its 250;
    then the session is told 421 and closed."""
    d.send(tail)
    d.expect(250, "2.0.0")
    d.expect(421, "4.3.2")
    assert d.closed()


def restart_after_clean_exit(m):
    """The server exits 0 on its own; what it queued is delivered at the
    next start at the latest."""
    assert m.proc.wait(10) == 0
    m.stop()
    m.start()


@pytest.mark.parametrize("family", ["::1", "127.0.0.1", "v6range"])
def test_one_recipient_each_family(mx, family, request):
    source = None
    m = None
    if family == "v6range":
        server, source = request.getfixturevalue("v6")
        m = mx(server={"listen": f"[{server}]:0"})
        host, port = m.addr(server)
    else:
        m = mx()
        host, port = m.addr(family)
    with smtplib.SMTP(host, port, source_address=(source, 0)
                      if source else None) as c:
        c.ehlo("client.test")
        refused = c.sendmail("alice@sender.test", ["bob@example.test"], MSG)
        assert refused == {}
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == lf(MSG)
    hdr = added_headers(got)
    assert hdr.startswith(b"Delivered-To: bob@example.test\n")
    ip = source or host
    literal = f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
    assert f"Received: from client.test ({literal})".encode() in hdr
    assert b"by mx.example.test (mxgate) with ESMTP id " in hdr
    m.wait_log(rf"msg id=\S+ client={ip} helo=client.test "
               r"from=<alice@sender.test> to=bob@example.test nrcpt=1 "
               rf"size={len(MSG)} iprev=\S+ spf=\S+ dkim=\S+ policy=ok "
               r"result=queued")


def test_many_recipients_and_limit(mx):
    m = mx()
    d, _ = ehlo(*m.addr("127.0.0.1"))
    d.cmd("MAIL FROM:<alice@sender.test>", 250, "2.1.0")
    for i in range(100):
        d.cmd(f"RCPT TO:<user{i}@example.test>", 250, "2.1.5")
    d.cmd("RCPT TO:<user100@example.test>", 452, "4.5.3")
    d.cmd("DATA", 354)
    d.send(stuff(MSG) + b".\r\n")
    d.expect(250, "2.0.0")
    d.cmd("QUIT", 221)
    for i in (0, 57, 99):
        [got] = m.messages("example.test", f"user{i}", 1)
        assert strip_added(got) == lf(MSG)
    assert m.messages("example.test", "user100") == []


def test_recipients_in_two_domains_case_insensitive(mx):
    m = mx()
    with smtplib.SMTP(*m.addr("::1")) as c:
        assert c.sendmail("a@sender.test", ["Bob@EXAMPLE.test",
                                            "carol@Other.Test"], MSG) == {}
    assert len(m.messages("example.test", "bob", 1)) == 1
    assert len(m.messages("other.test", "carol", 1)) == 1


def test_pipelining(mx):
    m = mx()
    d, lines = ehlo(*m.addr("::1"))
    assert "PIPELINING" in lines
    # The whole transaction in one write, as RFC 2920 lets a client do
    # up to DATA; then the message and the next commands in one more.
    d.send("MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "RCPT TO:<nobody@evil.test>\r\nRCPT TO:<carol@example.test>\r\n"
           "DATA\r\n")
    d.expect(250, "2.1.0")
    d.expect(250, "2.1.5")
    d.expect(550, "5.7.1")
    d.expect(250, "2.1.5")
    d.expect(354)
    d.send(stuff(MSG) + b".\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n")
    d.expect(250, "2.0.0")
    d.expect(250, "2.1.0")
    d.expect(250, "2.1.5")
    d.expect(354)
    d.send(b"Subject: second\r\n\r\nx\r\n.\r\nQUIT\r\n")
    d.expect(250, "2.0.0")
    d.expect(221)
    assert d.closed()
    got = m.messages("example.test", "bob", 2)
    # Delivery runs on a worker pool: the order in new/ is not fixed.
    assert sorted(strip_added(g) for g in got) == sorted(
        [lf(MSG), b"Subject: second\n\nx\n"])
    assert len(m.messages("example.test", "carol", 1)) == 1


def test_everything_answered_after_client_shutdown(mx):
    """A client that pipelines its last commands with QUIT and shuts down
    its sending side still gets every reply, the 250 included."""
    import socket
    m = mx()
    d, _ = ehlo(*m.addr("127.0.0.1"))
    d.send("MAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "DATA\r\n")
    d.expect(250)
    d.expect(250)
    d.expect(354)
    d.send(stuff(MSG) + b".\r\nNOOP\r\nQUIT\r\n")
    d.sock.shutdown(socket.SHUT_WR)
    d.expect(250, "2.0.0")
    d.expect(250, "2.0.0")
    d.expect(221)
    assert d.closed()
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == lf(MSG)
    # Without QUIT: the replies still come, then the server closes.
    d, _ = ehlo(*m.addr("127.0.0.1"))
    d.send("NOOP\r\nHELP\r\n")
    d.sock.shutdown(socket.SHUT_WR)
    d.expect(250)
    d.expect(214)
    assert d.closed()
    m.wait_log(r"disconnect .* reason=client-eof")


def test_ehlo_keywords_and_simple_commands(mx):
    m = mx(server={"max_message_size": "10K"})
    d = Dialogue(*m.addr("::1"))
    banner = d.expect(220)
    assert banner[0].startswith("mx.example.test ESMTP")
    d.cmd("MAIL FROM:<a@b.test>", 503, "5.5.1")  # no EHLO yet
    lines = d.cmd("EHLO client.test", 250)
    assert lines[0] == "mx.example.test"
    assert set(lines[1:]) == {"PIPELINING", "SIZE 10240", "8BITMIME",
                              "ENHANCEDSTATUSCODES", "SMTPUTF8"}
    d.cmd("NOOP", 250, "2.0.0")
    d.cmd("HELP", 214, "2.0.0")
    d.cmd("VRFY bob", 252, "2.0.0")
    d.cmd("RCPT TO:<bob@example.test>", 503, "5.5.1")
    d.cmd("DATA", 503, "5.5.1")
    d.cmd("BDAT 10 LAST", 500, "5.5.1")
    d.cmd("EHLO", 501, "5.5.4")
    d.cmd("EHLO bad(name)", 501, "5.5.4")
    d.cmd("MAIL FROM:<a@b.test> FOO=BAR", 555, "5.5.4")
    d.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME", 555, "5.5.4")
    d.cmd("MAIL FROM:a@b.test", 501, "5.5.4")
    d.cmd("MAIL FROM:<a@@b.test>", 501, "5.1.7")
    d.cmd("MAIL FROM:<a@b.test>", 250)
    d.cmd("MAIL FROM:<a@b.test>", 503, "5.5.1")  # nested
    d.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER", 555, "5.5.4")
    d.cmd("RCPT TO:<>", 501, "5.1.3")
    d.cmd("DATA", 503, "5.5.1")  # no recipient yet
    d.cmd("RSET", 250, "2.0.0")
    d.cmd("RCPT TO:<bob@example.test>", 503, "5.5.1")
    d.cmd("HELO client.test", 250)
    d.cmd("MAIL FROM:<a@b.test> SIZE=10", 555, "5.5.4")  # no EHLO
    d.cmd("STARTTLS", 502, "5.5.1")  # no certificate configured
    d.cmd("QUIT", 221, "2.0.0")
    assert d.closed()


def test_postmaster_without_domain(mx):
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    d.cmd("MAIL FROM:<>", 250)
    d.cmd("RCPT TO:<Postmaster>", 250, "2.1.5")
    d.cmd("DATA", 354)
    d.send(stuff(MSG) + b".\r\n")
    d.expect(250)
    assert len(m.messages("example.test", "postmaster", 1)) == 1


RELAY_TRICKS = [
    "<bob@evil.test>",
    "<bob@example.test.evil.test>",
    "<bob@evil.test.>",
    "<bob@example.tes>",
    "<bob%evil.test@example.test>",
    "<evil.test!bob@example.test>",
    "<\"bob@evil.test\"@example.test>",
    "<\"bob%evil.test\"@example.test>",
    "<@example.test:bob@evil.test>",
    "<@example.test,@x.test:bob@evil.test>",
    "<bob@[127.0.0.1]>",
    "<bob@[IPv6:::1]>",
    "<bob@evil.test@example.test>",
    "<bob@example.test@evil.test>",
    "bob@evil.test",
    "<bob@evil.test> ",
    "<BOB@EVIL.TEST>",
    "<bob@sub.example.test>",
]


def test_relay_denied_whatever_the_trick(mx):
    m = mx()
    d, _ = ehlo(*m.addr("127.0.0.1"))
    d.cmd("MAIL FROM:<spammer@evil.test>", 250)
    for trick in RELAY_TRICKS:
        d.send(f"RCPT TO:{trick}\r\n")
        code, lines = d.reply()
        assert code in (550, 501), (trick, code, lines)
        if code == 550:
            assert lines == ["5.7.1 Relay access denied"], trick
    # Nothing was accepted, so there is no transaction to send.
    d.cmd("DATA", 503, "5.5.1")
    # A source route to us is ignored: the mailbox is what counts.
    d.cmd("RCPT TO:<@evil.test:bob@example.test>", 250, "2.1.5")


@pytest.mark.parametrize("rcpt", ["<a/b@example.test>", "<../x@example.test>",
                                  "<\".hidden\"@example.test>",
                                  "<\"a b\"@example.test>",
                                  "<\"..\"@example.test>",
                                  "<\"a\\\\b/c\"@example.test>"])
def test_mailbox_escape_refused(mx, rcpt):
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    d.cmd("MAIL FROM:<a@b.test>", 250)
    d.cmd(f"RCPT TO:{rcpt}", 501, "5.1.3")


SMUGGLE = "MAIL FROM:<evil@evil.test>\r\nRCPT TO:<bob@example.test>\r\n" \
          "DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"


@pytest.mark.parametrize("variant", [b"\n.\n", b"\n.\r\n", b"\r\n.\n",
                                     b"\r.\r", b"\r.\r\n", b"\r\n.\r",
                                     b"\x00"])
def test_smuggling_refused(mx, variant):
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(b"Subject: first\r\n\r\nfirst" + variant + SMUGGLE.encode() +
           b"\r\n.\r\n")
    # One reply for the whole thing: the smuggled commands were data.
    d.expect(550, "5.5.2")
    d.cmd("NOOP", 250, "2.0.0")
    d.cmd("QUIT", 221)
    time.sleep(0.3)
    assert m.messages("example.test", "bob") == []
    m.wait_log(r"result=rejected reason=bare-cr-lf-nul")


@pytest.mark.parametrize("line", [b"NOOP\n", b"NOOP\rNOOP\r\n",
                                  b"NO\x00OP\r\n"])
def test_bare_lf_cr_nul_in_command_closes(mx, line):
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    d.send(line + b"NOOP\r\n")
    d.expect(500, "5.5.2")
    assert d.closed()


def test_client_that_does_not_read_is_throttled(mx):
    """300 KB of pipelined NOOPs sent without reading a reply: the server
    stops answering (and reading) while its replies pile up, and carries
    on in order when the client reads."""
    import threading
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    n = 50000
    sender = threading.Thread(target=d.send, args=(b"NOOP\r\n" * n +
                                                   b"QUIT\r\n",))
    sender.start()
    time.sleep(1)
    for _ in range(n):
        d.expect(250, "2.0.0")
    d.expect(221)
    sender.join()
    assert d.closed()


def test_line_too_long_resyncs(mx):
    m = mx()
    d, _ = ehlo(*m.addr("::1"))
    d.send(b"NOOP " + b"x" * 600 + b"\r\nNOOP\r\n")
    d.expect(500, "5.5.2")
    d.expect(250, "2.0.0")
    # Exactly 512 octets with CRLF is allowed (RFC 5321 4.5.3.1.4).
    d.cmd("NOOP " + "x" * (512 - 7), 250)
    d.cmd("NOOP " + "x" * (513 - 7), 500, "5.5.2")
    # Far longer than any buffer, across several reads.
    d.send(b"HELP " + b"y" * 200000 + b"\r\nNOOP\r\n")
    d.expect(500, "5.5.2")
    d.expect(250)


def test_size_limits(mx):
    m = mx(server={"max_message_size": "64K"})
    d, lines = ehlo(*m.addr("::1"))
    assert "SIZE 65536" in lines
    d.cmd("MAIL FROM:<a@sender.test> SIZE=65537", 552, "5.3.4")
    d.cmd("MAIL FROM:<a@sender.test> SIZE=1000", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 70 + b".\r\n")
    d.expect(552, "5.3.4")
    # The session goes on; the next message fits.
    start_data(d)
    d.send(stuff(MSG) + b".\r\n")
    d.expect(250)
    got = m.messages("example.test", "bob", 1)
    time.sleep(0.2)
    got = m.messages("example.test", "bob")
    assert [strip_added(g) for g in got] == [lf(MSG)]


def test_one_mebibyte_message(mx):
    m = mx()
    body = b"".join(b"line %07d " % i + b"x" * 60 + b"\r\n"
                    for i in range(15000))
    msg = b"Subject: big\r\n\r\n" + body
    assert len(msg) > 1024 * 1024
    with smtplib.SMTP(*m.addr("127.0.0.1")) as c:
        assert c.sendmail("a@sender.test", ["bob@example.test"], msg) == {}
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == lf(msg)


def test_8bit_and_smtputf8(mx):
    m = mx()
    msg8 = "Subject: caf\u00e9\r\n\r\nna\u00efve \u2603\r\n".encode()
    with smtplib.SMTP(*m.addr("::1")) as c:
        c.ehlo("client.test")
        assert c.has_extn("8bitmime") and c.has_extn("smtputf8")
        assert c.sendmail("a@sender.test", ["bob@example.test"], msg8,
                          mail_options=["BODY=8BITMIME"]) == {}
        assert c.sendmail("j\u00f6rg@b\u00fccher.test", ["carol@example.test"],
                          msg8, mail_options=["BODY=8BITMIME",
                                              "SMTPUTF8"]) == {}
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == lf(msg8)
    [got] = m.messages("example.test", "carol", 1)
    assert strip_added(got) == lf(msg8)
    assert b"with UTF8SMTP id" in added_headers(got)
    d, _ = ehlo(*m.addr("::1"))
    d.send("MAIL FROM:<j\u00f6rg@example.test>\r\n".encode())
    d.expect(553, "5.6.7")


def test_utf8_mailbox(mx):
    """RFC 6531: with SMTPUTF8 a UTF-8 local part is a mailbox like any
    other (ASCII letters lower-cased, the rest kept); without it, 553;
    bytes that are not UTF-8, or a C1 control, are a bad mailbox name."""
    m = mx()
    msg = "Subject: f\u00fcr J\u00f6rg\r\n\r\nhallo\r\n".encode()
    with smtplib.SMTP(*m.addr("::1")) as c:
        assert c.sendmail("a@sender.test", ["J\u00f6rg@example.test"], msg,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    [got] = m.messages("example.test", "j\u00f6rg", 1)
    assert got.startswith("Delivered-To: j\u00f6rg@example.test\n".encode())
    assert strip_added(got) == lf(msg)
    d, _ = ehlo(*m.addr("::1"))
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.send("RCPT TO:<j\u00f6rg@example.test>\r\n".encode())
    d.expect(553, "5.6.7")
    d.cmd("RSET", 250)
    d.cmd("MAIL FROM:<a@sender.test> SMTPUTF8", 250)
    d.send(b"RCPT TO:<j\xc2\x85rg@example.test>\r\n")
    d.expect(501, "5.1.3")


def test_swaks(mx):
    m = mx()
    host, port = m.addr("::1")
    r = subprocess.run(["swaks", "--server", host, "--port", str(port),
                        "--from", "alice@sender.test", "--to",
                        "bob@example.test", "--helo", "swaks.test",
                        "--pipeline", "--header", "Subject: via swaks",
                        "--body", "swaks body"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    [got] = m.messages("example.test", "bob", 1)
    assert b"Subject: via swaks" in got and b"swaks body" in got


def test_command_timeout(mx):
    m = mx(server={"timeout_command": "1s"})
    d, _ = ehlo(*m.addr("::1"))
    t0 = time.time()
    d.expect(421, "4.4.2")
    assert 0.8 < time.time() - t0 < 5
    assert d.closed()
    m.wait_log(r"disconnect .* reason=timeout")


def test_data_timeout_keeps_nothing(mx):
    m = mx(server={"timeout_data": "1s", "timeout_command": "30s"})
    d, _ = ehlo(*m.addr("::1"))
    start_data(d)
    d.send(b"Subject: slow\r\n\r\npart")
    d.expect(421, "4.4.2")
    assert d.closed()
    time.sleep(0.2)
    assert m.messages("example.test", "bob") == []


def test_connection_limits(mx):
    m = mx(server={"max_connections_per_ip": "2", "max_connections": "4"})
    host, port = m.addr("127.0.0.1")
    a, _ = ehlo(host, port)
    b, _ = ehlo(host, port)
    c = Dialogue(host, port)
    c.expect(421, "4.7.0")
    assert c.closed()
    # Another address (IPv6 ::1) has its own count, up to the total.
    h6, p6 = m.addr("::1")
    d, _ = ehlo(h6, p6)
    e, _ = ehlo(h6, p6)
    f = Dialogue(h6, p6)
    f.expect(421, "4.7.0")
    a.cmd("QUIT", 221)
    assert a.closed()
    time.sleep(0.2)
    g, _ = ehlo(host, port)  # a slot is free again
    g.cmd("QUIT", 221)


def test_ipv6_limits_per_64_and_48(mx, v6):
    """Addresses of one /64 share a count; the /48 has a looser cap
    (SMTP_LIMIT_48_FACTOR = 8 times the per-address one)."""
    server, _ = v6
    same64 = ["2001:db8:1::2", "2001:db8:1::3"]
    other64 = [f"2001:db8:1:{n:x}::2" for n in range(1, 9)]
    if not ensure_v6(*(same64 + other64)):
        pytest.skip("cannot add addresses to lo")
    m = mx(server={"listen": f"[{server}]:0",
                   "max_connections_per_ip": "1"})
    host, port = m.addr(server)
    first, _ = ehlo(host, port, source=same64[0])
    c = Dialogue(host, port, source=same64[1])
    c.expect(421, "4.7.0")
    assert c.closed()
    # Seven more /64s fill the /48 up to 8 connections ...
    held = [ehlo(host, port, source=a)[0] for a in other64[:7]]
    # ... and the ninth /64 of that /48 is refused.
    c = Dialogue(host, port, source=other64[7])
    c.expect(421, "4.7.0")
    m.wait_log(r"limit client=2001:db8:1:8::2 reason=per-network")
    first.cmd("QUIT", 221)
    assert first.closed()
    for d in held:
        d.close()


def test_total_connection_limit(mx):
    m = mx(server={"max_connections": "2"})
    host, port = m.addr("127.0.0.1")
    a, _ = ehlo(host, port)
    b, _ = ehlo(*m.addr("::1"))
    c = Dialogue(host, port)
    c.expect(421, "4.7.0")
    assert c.closed()


def test_loops_share_connections_spool_and_shutdown(mx):
    """loops = 2: both loops accept (SO_REUSEPORT spreads connections by
    their addresses and ports), max_connections counts across them, mail
    committed in either loop is delivered, and SIGTERM lets transactions
    in flight finish in both."""
    m = mx(server={"loops": "2", "max_connections": "16",
                   "max_connections_per_ip": "16"})
    m.wait_log(r"ready .* loops=2")
    host, port = m.addr("127.0.0.1")
    held = [ehlo(host, port)[0] for _ in range(16)]
    c = Dialogue(host, port)
    c.expect(421, "4.7.0")
    assert c.closed()
    # A session id starts with its loop's 8 hex digits.
    loops = {mt.group(1) for mt in
             re.finditer(r"s=([0-9a-f]{8})[0-9a-f]{4} connect", m.log())}
    assert len(loops) == 2
    for i, d in enumerate(held):
        start_data(d)
        d.send(f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())
    m.proc.send_signal(15)
    m.wait_log(r"shutdown sessions=16")
    for d in held:
        end_data_in_shutdown(d, b".\r\n")
    restart_after_clean_exit(m)
    got = m.messages("example.test", "bob", 16)
    assert sorted(strip_added(g) for g in got) == sorted(
        f"Subject: {i}\n\nbody {i}\n".encode() for i in range(16))


def test_one_loop(mx):
    m = mx(server={"loops": "1"})
    m.wait_log(r"ready .* loops=1")
    d, _ = ehlo(*m.addr("::1"))
    start_data(d)
    d.send(b"Subject: one\r\n\r\nx\r\n.\r\n")
    d.expect(250, "2.0.0")
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == b"Subject: one\n\nx\n"


def second_server_log(tmp_path, server):
    """Starts another server that must stop at once (exit 1): its log."""
    from mxgate import Mxgate
    other = Mxgate(tmp_path / "other", server=server)
    with pytest.raises(AssertionError):
        other.start(timeout=5)
    assert other.proc.wait(5) == 1
    log = other.log()
    other.stop()
    return log


def test_port_in_use_is_an_error_with_loops(mx, tmp_path):
    """SO_REUSEPORT must not let a second server share a port silently."""
    m = mx(server={"loops": "2"})
    host, port = m.addr("127.0.0.1")
    log = second_server_log(tmp_path, {"loops": "2",
                                       "listen": f"127.0.0.1:{port}"})
    assert (f'startup error="listen 127.0.0.1:{port}: Address already in '
            f'use"') in log


def test_second_server_on_a_spool_is_refused(mx, tmp_path):
    """Two servers on one spool would deliver each other's messages and
    hand out the same slots: the second one stops, saying who holds it."""
    m = mx()
    log = second_server_log(tmp_path, {"spool": str(m.tmp / "spool")})
    assert (f'error="{m.tmp / "spool"}: in use by another mxgate '
            f'(pid {m.proc.pid})"') in log
    # The first one is unharmed.
    with smtplib.SMTP(*m.addr("127.0.0.1")) as c:
        assert c.sendmail("alice@sender.test", ["bob@example.test"],
                          MSG) == {}
    assert len(m.messages("example.test", "bob", 1)) == 1


def test_sigterm_finishes_transaction(mx):
    m = mx()
    busy, _ = ehlo(*m.addr("::1"))
    idle, _ = ehlo(*m.addr("127.0.0.1"))
    start_data(busy)
    busy.send(b"Subject: in flight\r\n\r\npart one\r\n")
    m.proc.send_signal(15)
    # The idle session is told at once; the listener is gone.
    idle.expect(421, "4.3.2")
    assert idle.closed()
    m.wait_log(r"shutdown sessions=2")
    end_data_in_shutdown(busy, b"part two\r\n.\r\n")
    restart_after_clean_exit(m)
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == b"Subject: in flight\n\npart one\npart two\n"


def test_out_of_descriptors_pauses_accepting(tmp_path):
    """With RLIMIT_NOFILE exhausted accept() fails: the server must not
    spin on it, must keep serving its sessions, and must accept again
    once descriptors are free."""
    import resource
    import subprocess
    from mxgate import Mxgate, binary, render_config

    m = Mxgate(tmp_path, server={"listen": "127.0.0.1:0"})
    m.conf.write_text(render_config(m.server, m.sections))
    log = open(m.logfile, "wb")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
    m.proc = subprocess.Popen([binary(), "serve", "-c", str(m.conf)],
                              stderr=log, preexec_fn=limit)
    m._log = log
    port = int(m.wait_log(r"listening on 127.0.0.1:(\d+)").group(1))
    m.wait_log(r" ready ")
    held = [socket_connect(port) for _ in range(60)]
    m.wait_log(r"accept error=.* pause_ms=100")
    cpu0 = proc_cpu(m.proc.pid)
    time.sleep(1)
    # Paused and retried ten times a second, not spinning on accept().
    assert proc_cpu(m.proc.pid) - cpu0 < 0.3
    for s in held:
        s.close()
    time.sleep(0.5)
    d, _ = ehlo("127.0.0.1", port)
    d.cmd("QUIT", 221)
    assert m.stop() == 0


def socket_connect(port):
    import socket
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def proc_cpu(pid):
    """User + system CPU seconds of a process, from /proc."""
    import os
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
