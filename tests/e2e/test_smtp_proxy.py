"""PROXY protocol v1 and v2 on listeners marked "proxy"."""
import socket
import struct
import time

from mxgate import Dialogue, added_headers, stuff

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport=40000, dport=25, local=False):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    if ":" in src:
        body = socket.inet_pton(socket.AF_INET6, src) + \
            socket.inet_pton(socket.AF_INET6, dst) + \
            struct.pack("!HH", sport, dport)
        fam = 0x21
    else:
        body = socket.inet_aton(src) + socket.inet_aton(dst) + \
            struct.pack("!HH", sport, dport)
        fam = 0x11
    # A TLV after the addresses (PP2_TYPE_NOOP) must be skipped.
    body += bytes([0x04, 0x00, 0x02]) + b"xx"
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def proxied(mx):
    return mx(server={"listen": "[::1]:0 proxy, 127.0.0.1:0 proxy, "
                                "127.0.0.1:0"})


def send_one(m, d, rcpt="bob"):
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd(f"RCPT TO:<{rcpt}@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(stuff(b"Subject: p\r\n\r\nx\r\n") + b".\r\n")
    d.expect(250)
    d.cmd("QUIT", 221)
    [got] = m.messages("example.test", rcpt, 1)
    return added_headers(got)


def test_v1_tcp4(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    d.send("PROXY TCP4 192.0.2.7 198.51.100.1 5555 25\r\n")
    hdr = send_one(m, d)
    assert b"Received: from client.test ([192.0.2.7])" in hdr
    m.wait_log(r"connect client=192.0.2.7 port=5555")


def test_v1_tcp6_mapped_is_ipv4(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("::1", proxy=True))
    d.send("PROXY TCP6 ::ffff:192.0.2.9 2001:db8::1 6000 25\r\n")
    hdr = send_one(m, d)
    assert b"([192.0.2.9])" in hdr
    m.wait_log(r"connect client=192.0.2.9 port=6000")


def test_v2_tcp6_and_tcp4(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("::1", proxy=True))
    d.send(v2_header("2001:db8:1::99", "2001:db8::25"))
    hdr = send_one(m, d)
    assert b"([IPv6:2001:db8:1::99])" in hdr
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    # Header and the first command in one segment.
    d.send(v2_header("203.0.113.5", "192.0.2.1"))
    hdr = send_one(m, d, "carol")
    assert b"([203.0.113.5])" in hdr


def test_v2_local_and_v1_unknown_keep_socket_address(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    d.send(v2_header(None, None, local=True))
    d.expect(220)
    d.cmd("QUIT", 221)
    d = Dialogue(*m.addr("::1", proxy=True))
    d.send("PROXY UNKNOWN\r\n")
    d.expect(220)
    d.cmd("QUIT", 221)
    m.wait_log(r"connect client=::1 ")


def test_header_split_across_segments(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    h = v2_header("192.0.2.44", "192.0.2.1")
    for i in range(0, len(h), 5):
        d.send(h[i:i + 5])
        time.sleep(0.01)
    d.expect(220)
    d.cmd("QUIT", 221)
    m.wait_log(r"connect client=192.0.2.44 ")


def test_missing_or_malformed_header_closes(mx):
    m = proxied(mx)
    for junk in [b"EHLO client.test\r\n",
                 b"PROXY TCP4 192.0.2.7 198.51.100.1 5555\r\n",
                 b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 25\n",
                 b"PROXY TCP9 a b c d\r\n",
                 b"PROXY " + b"x" * 200,
                 V2_SIG + bytes([0x21, 0x12, 0, 12]) + b"\0" * 12]:
        d = Dialogue(*m.addr("127.0.0.1", proxy=True))
        d.send(junk)
        assert d.closed(), junk
        assert d.buf == b"", junk  # not even a banner
    m.wait_log(r"result=refused reason=bad-header")


def test_plain_listener_does_not_take_proxy(mx):
    m = proxied(mx)
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    # Without "proxy", a header is just a bad command.
    d.cmd("PROXY TCP4 192.0.2.7 198.51.100.1 5555 25", 500, "5.5.1")
    d.cmd("QUIT", 221)


def test_silent_peer_on_proxy_listener_times_out_quietly(mx):
    m = mx(server={"listen": "127.0.0.1:0 proxy", "timeout_command": "1s"})
    d = Dialogue(*m.addr("127.0.0.1", proxy=True))
    assert d.closed()
    assert d.buf == b""
    m.wait_log(r"disconnect .* reason=timeout")
