"""Delivery end to end: Maildir layout, contents and modes, retries after
a failure, queued mail delivered at start, and a full spool disk answered
with 452 4.3.1 while the service carries on."""
import os
import smtplib
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mxgate import Mxgate  # noqa: E402

TRUST = {"connector loopback": {"from": "::1/128, 127.0.0.0/8"}}


def message(mid, body="hello\r\n"):
    return (f"From: a@client.example.org\r\nSubject: t\r\n"
            f"Message-ID: <{mid}>\r\n\r\n{body}").encode()


def send(mx, rcpts, data):
    host, port = mx.addr("127.0.0.1")
    with smtplib.SMTP(host, port, timeout=15) as s:
        s.sendmail("a@client.example.org", rcpts, data)


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_maildir_contents_and_modes(tmp_path):
    with Mxgate(tmp_path, sections=TRUST) as mx:
        send(mx, ["alice@example.test", "Bob@Example.Test"],
             message("m1@x", "line 1\r\n.dot\r\nline 3\r\n"))
        [a] = mx.messages("example.test", "alice", count=1)
        [b] = mx.messages("example.test", "bob", count=1)
        assert mx.wait_queue_empty()
        # One copy per recipient, each with its own Delivered-To, the
        # Received field on top, LF line ends and the dot unstuffed
        # (smtplib stuffs it on the wire).
        assert a.startswith(b"Delivered-To: alice@example.test\nReceived: ")
        assert b.lower().startswith(b"delivered-to: bob@example.test\n")
        assert b"\r" not in a
        assert a.endswith(b"\n\nline 1\n.dot\nline 3\n")
        box = mx.maildir("example.test", "alice")
        for sub in ("tmp", "new", "cur"):
            assert stat.S_IMODE((box / sub).stat().st_mode) == 0o700
        assert not any((box / "tmp").iterdir())
        [f] = (box / "new").iterdir()
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert stat.S_IMODE(box.stat().st_mode) == 0o700


def test_failed_delivery_retried_then_done(tmp_path):
    mx = Mxgate(tmp_path, sections=TRUST)
    blocker = mx.tmp / "mail" / "example.test"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory\n")
    with mx:
        send(mx, ["carol@example.test"], message("m2@x"))
        mx.wait_log(r"deliver id=\S+ retry_in=1s")
        mx.wait_log(r"deliver id=\S+ retry_in=2s", timeout=5)
        assert len(mx.queued()) == 1  # kept, never dropped
        blocker.unlink()
        assert len(mx.messages("example.test", "carol", count=1,
                               timeout=10)) == 1
        assert mx.wait_queue_empty()


def test_queued_mail_delivered_at_start(tmp_path):
    mx = Mxgate(tmp_path, sections=TRUST)
    blocker = mx.tmp / "mail" / "example.test"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory\n")
    with mx:
        for i in range(3):
            send(mx, ["dave@example.test"], message(f"m3-{i}@x"))
        mx.wait_log(r"retry_in=1s")
    assert len(mx.queued()) == 3
    blocker.unlink()
    with mx:
        mx.wait_log(r"spool recover queued=3")
        assert len(mx.messages("example.test", "dave", count=3)) == 3
        assert mx.wait_queue_empty()


def test_full_spool_disk_gets_452_and_service_goes_on(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k",
                        "mxgate-e2e", str(spool)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.decode())
    try:
        with Mxgate(tmp_path, sections=TRUST) as mx:
            big = message("big@x", ("x" * 998 + "\r\n") * 1024)  # 1 MiB
            host, port = mx.addr("127.0.0.1")
            with smtplib.SMTP(host, port, timeout=15) as s:
                with pytest.raises(smtplib.SMTPDataError) as e:
                    s.sendmail("a@client.example.org",
                               ["erin@example.test"], big)
                assert e.value.smtp_code == 452
                assert e.value.smtp_error.startswith(b"4.3.1")
                # Same session, next transaction: small mail fits.
                s.sendmail("a@client.example.org", ["erin@example.test"],
                           message("small@x"))
            [m] = mx.messages("example.test", "erin", count=1)
            # The big one's slot went with it: only the small one's stays.
            assert mx.wait_queue_empty()
            assert len(list((spool / "slots").iterdir())) == 1
            assert b"small@x" in m
    finally:
        subprocess.run(["umount", "-l", str(spool)])
