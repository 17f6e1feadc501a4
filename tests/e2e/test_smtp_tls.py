"""STARTTLS (RFC 3207) end to end, with a certificate made at test time."""
import smtplib
import ssl

from mxgate import Dialogue, added_headers, strip_added, stuff


def tls_server(mx, tls_cert):
    cert, key = tls_cert
    return mx(server={"tls_certificate": str(cert), "tls_key": str(key)})


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_starttls_smtplib(mx, tls_cert):
    m = tls_server(mx, tls_cert)
    msg = b"Subject: secret\r\n\r\nover TLS\r\n"
    with smtplib.SMTP(*m.addr("::1")) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        c.starttls(context=client_ctx())
        c.ehlo("client.test")
        # Not offered twice; the other extensions are still there.
        assert not c.has_extn("starttls")
        assert c.has_extn("pipelining") and c.has_extn("size")
        assert c.sendmail("a@sender.test", ["bob@example.test"], msg) == {}
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == b"Subject: secret\n\nover TLS\n"
    hdr = added_headers(got)
    assert b"with ESMTPS id" in hdr
    assert b"(version=TLSv1.3 cipher=TLS_" in hdr
    m.wait_log(r"tls version=TLSv1.3 cipher=\S+")
    m.wait_log(r"disconnect .* tls=TLSv1.3 msgs=1")


def test_plaintext_pipelined_after_starttls_is_discarded(mx, tls_cert):
    m = tls_server(mx, tls_cert)
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    # The injected HELP arrives in clear text with STARTTLS
    # (CVE-2011-0411): it must not be answered inside TLS.
    d.send("STARTTLS\r\nHELP\r\n")
    d.expect(220, "2.0.0")
    d.starttls()
    d.cmd("NOOP", 250, "2.0.0")
    # The session was reset: a transaction needs EHLO again.
    d.cmd("MAIL FROM:<a@sender.test>", 503, "5.5.1")
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(stuff(b"Subject: t\r\n\r\n.x\r\n") + b".\r\n")
    d.expect(250, "2.0.0")
    d.cmd("STARTTLS", 502, "5.5.1")
    d.cmd("QUIT", 221)
    [got] = m.messages("example.test", "bob", 1)
    assert strip_added(got) == b"Subject: t\n\n.x\n"


def test_tls_handshake_garbage_closes(mx, tls_cert):
    m = tls_server(mx, tls_cert)
    d = Dialogue(*m.addr("::1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("STARTTLS", 220)
    d.send(b"this is not a TLS client hello\r\n" * 4)
    assert d.closed()
    m.wait_log(r"disconnect .* reason=tls-error")


def test_bad_certificate_refuses_to_start(tmp_path):
    import subprocess
    from mxgate import Mxgate, binary
    m = Mxgate(tmp_path, server={"tls_certificate": "missing.pem",
                                 "tls_key": "missing.pem"})
    m.conf.write_text(__import__("mxgate").render_config(m.server,
                                                         m.sections))
    r = subprocess.run([binary(), "check-config", "-c", str(m.conf)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "tls_certificate" in r.stderr and "missing.pem" in r.stderr
    r = subprocess.run([binary(), "serve", "-c", str(m.conf)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "startup error" in r.stderr


def test_swaks_starttls_from_v6_range(mx, tls_cert, v6):
    import subprocess
    server, client = v6
    cert, key = tls_cert
    m = mx(server={"listen": f"[{server}]:0", "tls_certificate": str(cert),
                   "tls_key": str(key)})
    host, port = m.addr(server)
    r = subprocess.run(["swaks", "--server", host, "--port", str(port),
                        "--local-interface", client, "--tls",
                        "--from", "alice@sender.test", "--to",
                        "bob@example.test", "--helo", "swaks.test",
                        "--header", "Subject: swaks tls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    [got] = m.messages("example.test", "bob", 1)
    assert f"Received: from swaks.test ([IPv6:{client}])".encode() in got
    assert b"with ESMTPS id" in got
