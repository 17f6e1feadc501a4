"""Hostile input against a live server: random mixes of commands, junk,
broken line ends and abrupt closes. The server must keep serving and exit
cleanly (under ASan: no errors, no leaks)."""
import random
import smtplib
import socket
import time

from mxgate import Dialogue

PIECES = [b"EHLO x.test\r\n", b"HELO [192.0.2.1]\r\n",
          b"MAIL FROM:<a@b.test>\r\n",
          b"MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8\r\n",
          b"RCPT TO:<bob@example.test>\r\n", b"RCPT TO:<x@evil.test>\r\n",
          b"RCPT TO:<\"a\\\"b\"@example.test>\r\n", b"DATA\r\n",
          b"Subject: x\r\n\r\nbody\r\n", b"\r\n.\r\n", b".\r\n", b"..\r\n",
          b"RSET\r\n", b"NOOP\r\n", b"VRFY x\r\n", b"STARTTLS\r\n",
          b"QUIT\r\n", b"\n", b"\r", b"\x00", b"\xff\xfe", b"x" * 700,
          b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", b"\r\n\r\n\x00\r\nQUIT\n"]


def test_random_sessions_then_normal_mail(mx, tls_cert):
    cert, key = tls_cert
    m = mx(server={"max_message_size": "2K", "timeout_command": "5s",
                   "listen": "[::1]:0, 127.0.0.1:0, 127.0.0.1:0 proxy",
                   "tls_certificate": str(cert), "tls_key": str(key)})
    rng = random.Random(20261128)
    targets = [m.addr("::1"), m.addr("127.0.0.1"),
               m.addr("127.0.0.1", proxy=True)]
    for i in range(300):
        host, port = rng.choice(targets)
        s = socket.create_connection((host, port), timeout=5)
        data = b"".join(rng.choice(PIECES)
                        for _ in range(rng.randint(1, 40)))
        try:
            if rng.random() < 0.5:
                s.sendall(data)
            else:
                for j in range(0, len(data), 7):
                    s.sendall(data[j:j + 7])
            if rng.random() < 0.3:
                s.settimeout(0.2)
                try:
                    while s.recv(65536):
                        pass
                except (socket.timeout, ConnectionError):
                    pass
        except (BrokenPipeError, ConnectionError):
            pass
        if rng.random() < 0.5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    time.sleep(0.5)
    with smtplib.SMTP(*m.addr("::1")) as c:
        assert c.sendmail("a@sender.test", ["carol@example.test"],
                          b"Subject: after\r\n\r\nstill here\r\n") == {}
    assert len(m.messages("example.test", "carol", 1)) == 1
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("QUIT", 221)
