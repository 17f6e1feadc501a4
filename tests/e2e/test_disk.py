"""Disk faults (issue 7, part 5), with real file systems: a tiny tmpfs
for the spool that fills up, a Maildir on a file system remounted
read-only (root ignores file modes, so chmod would prove nothing), and a
queue file cut short while the server was down.

What must hold: never a 250 for a message that is not durably queued,
no partial file left behind, the server keeps serving and recovers by
itself, a queued message is retried until its Maildir takes it, and a
damaged queue file is quarantined and reported, never delivered.
"""
import os
import subprocess
import time

import pytest

from mxgate import Dialogue, Mxgate, binary

HEAD = (b"From: Alice <alice@sender.test>\r\n"
        b"To: Bob <bob@example.test>\r\n"
        b"Subject: disk faults\r\n"
        b"\r\n")


def body(size):
    line = b"0123456789" * 7 + b"\r\n"
    return HEAD + line * (size // len(line)) + b"end\r\n"


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                        "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")


def remount(path, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)],
                   check=True)


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def mounts():
    done = []
    yield done
    for p in reversed(done):
        umount(p)


def readonly_maildir(m, mounts):
    """example.test's Maildirs on a small tmpfs, mounted read-only."""
    maildir = m.tmp / "mail" / "example.test"
    mount_tmpfs(maildir, "4m")
    mounts.append(maildir)
    remount(maildir, "ro")
    return maildir


def send(m, rcpt, data, code, enh=None):
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd(f"RCPT TO:<{rcpt}@example.test>", 250)
    d.send(b"DATA\r\n")
    c, lines = d.reply()
    if c == 354:
        d.send(data + b".\r\n")
        c, lines = d.reply()
    assert c == code, (c, lines)
    if enh:
        assert lines[-1].startswith(enh + " "), lines
    d.cmd("QUIT", 221)
    return lines


def files(d):
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_spool_fills_up_mid_data(tmp_path, mounts):
    """A 1 MiB spool, 600 KiB of it taken by something else: a 700 KB
    message fails while it streams in -> 452 4.3.1, nothing left in the
    spool; small mail still goes through; once the space is back the big
    one does too. A spool with no block left still takes a message that
    fits in a free slot's blocks, and refuses a bigger one at the dot."""
    m = Mxgate(tmp_path)
    spool = m.tmp / "spool"
    mount_tmpfs(spool, "1m")
    mounts.append(spool)
    with m:
        filler = spool / "filler"
        filler.write_bytes(b"\0" * (600 << 10))
        send(m, "bob", body(700000), 452, "4.3.1")
        m.wait_log(r"result=tempfail reason=")
        assert m.queued() == []
        deadline = time.time() + 5
        while files(spool / "slots") and time.time() < deadline:
            time.sleep(0.05)
        assert files(spool / "slots") == []
        # The server goes on serving what fits.
        send(m, "bob", body(2000), 250)
        assert len(m.messages("example.test", "bob", count=1)) == 1
        assert m.wait_queue_empty()
        # Completely full.
        fd = os.open(spool / "filler2", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        os.close(fd)
        send(m, "bob", body(2000), 250)
        assert len(m.messages("example.test", "bob", count=2)) == 2
        assert m.wait_queue_empty()
        send(m, "bob", body(20000), 452, "4.3.1")
        assert m.queued() == []
        # Space comes back: no restart needed.
        filler.unlink()
        (spool / "filler2").unlink()
        send(m, "bob", body(700000), 250)
        got = m.messages("example.test", "bob", count=3)
        assert len(got) == 3 and got[-1].endswith(b"end\n")
        assert len(got[-1]) > 690000
        assert m.wait_queue_empty()


def test_readonly_maildir_keeps_mail_queued_and_retries(tmp_path, mounts):
    """Delivery fails on a read-only Maildir: the message stays queued
    (also across a restart) and is retried until it lands, exactly
    once."""
    m = Mxgate(tmp_path)
    maildir = readonly_maildir(m, mounts)
    with m:
        send(m, "bob", body(5000), 250, "2.0.0")
        # The system's reason, as an operator needs it.
        m.wait_log(r"deliver id=\S+ to=<bob@example.test> result=deferred "
                   r'error="Read-only file system"')
        m.wait_log(r"retry_in=2s", timeout=5)
        [qid] = m.queued()
        # What an operator sees of it (postcat -q): envelope, then message.
        r = subprocess.run([binary(), "queue", "-c", str(m.conf), qid],
                           capture_output=True, check=True)
        envelope, _, message = r.stdout.partition(b"\n\n")
        assert envelope.split(b"\n") == [
            b"Queue-ID: " + qid.encode(),
            b"Client: [127.0.0.1] helo=client.test",
            b"Sender: <alice@sender.test>",
            b"Recipient: <bob@example.test> pending"]
        assert message.startswith(b"Received: from client.test")
        assert message.endswith(body(5000))
        r = subprocess.run([binary(), "queue", "-c", str(m.conf), "0" * 26],
                           capture_output=True, text=True)
        assert r.returncode == 1
        assert r.stderr == (f"mxgate: no queued message {'0' * 26} in "
                            f"{m.tmp / 'spool'}\n")
    # Down and up again, still read-only: recovered, still queued.
    with m:
        m.wait_log(r"spool recover queued=1")
        m.wait_log(r"result=deferred")
        assert len(m.queued()) == 1
        remount(maildir, "rw")
        got = m.messages("example.test", "bob", count=1, timeout=15)
        assert len(got) == 1 and got[0].endswith(b"end\n")
        m.wait_log(r"to=<bob@example.test> result=ok")
        assert m.wait_queue_empty()
    assert len(m.messages("example.test", "bob")) == 1


def flush(m):
    return subprocess.run([binary(), "flush", "-c", str(m.conf)],
                          capture_output=True, text=True)


def test_flush_retries_deferred_mail_now(tmp_path, mounts):
    """Once the Maildir is writable again, `mxgate flush` has the message
    tried at once instead of at the end of its backoff (postqueue -f)."""
    m = Mxgate(tmp_path)
    maildir = readonly_maildir(m, mounts)
    with m:
        send(m, "bob", body(2000), 250, "2.0.0")
        # Failed three times (at 0, 1 and 3 s): the next try is 4 s away.
        m.wait_log(r"retry_in=4s", timeout=10)
        remount(maildir, "rw")
        r = flush(m)
        assert r.returncode == 0, r.stderr
        assert r.stdout == (f"asked mxgate (pid {m.proc.pid}) to retry its "
                            f"deferred mail\n")
        # Taken off its timer: whatever delivers it now is the flush.
        m.wait_log(r"flush deferred=1")
        assert len(m.messages("example.test", "bob", count=1)) == 1
        m.wait_log(r"to=<bob@example.test> result=ok")
        assert m.wait_queue_empty()
        assert "retry_in=8s" not in m.log()
    r = flush(m)
    assert r.returncode == 1
    assert r.stderr == f"mxgate: no server runs on {m.tmp / 'spool'}\n"


def test_truncated_queue_file_is_quarantined(tmp_path, mounts):
    """Queued slots cut short, damaged or overwritten while the server was
    down: at start they are copied to quarantine/ with a warning, freed,
    and never delivered; the intact one is."""
    m = Mxgate(tmp_path)
    maildir = readonly_maildir(m, mounts)
    names = ("cut", "flip", "junk", "whole")
    with m:
        for rcpt in names:
            send(m, rcpt, body(20000), 250)
            m.wait_log(rf"to=<{rcpt}@example.test> result=deferred")
    ids = {}
    for queue_id in m.queued():
        data = m.slot_of(queue_id).read_bytes()
        for rcpt in names:
            if f"{rcpt}@example.test".encode() in data:
                ids[rcpt] = queue_id
    assert len(ids) == 4
    cut = m.slot_of(ids["cut"])
    cut.write_bytes(cut.read_bytes()[:12000])
    flip = m.slot_of(ids["flip"])
    data = bytearray(flip.read_bytes())
    data[15000] ^= 0x20
    flip.write_bytes(bytes(data))
    junk = m.slot_of(ids["junk"])
    junk.write_bytes(b"not a queue file at all\n")
    remount(maildir, "rw")
    with m:
        m.wait_log(rf"spool quarantine id={ids['cut']} reason=incomplete")
        m.wait_log(rf"spool quarantine id={ids['flip']} reason=damaged")
        m.wait_log(rf"spool quarantine id=slot-{junk.name} reason=corrupt")
        m.wait_log(r"spool recover queued=1")
        assert len(m.messages("example.test", "whole", count=1)) == 1
        assert m.wait_queue_empty()
        assert files(m.tmp / "spool" / "quarantine") == \
            sorted([ids["cut"], ids["flip"], "slot-" + junk.name])
        assert not m.messages("example.test", "cut")
        assert not m.messages("example.test", "flip")
        assert not m.messages("example.test", "junk")


def test_sigkill_during_backlog_delivery(tmp_path, mounts):
    """A backlog of 150 queued messages (their Maildir was read-only) is
    delivered after a restart, and the server is SIGKILLed again and again
    while it delivers: in the end every message is in new/ (at least once),
    no partial file is ever in new/, nothing is quarantined, the queue
    empties. A copy is repeated only when a kill cuts its batch between
    the renames and the new/ fsync that must come before its DONE record:
    at most DELIVER_THREADS x DELIVER_BATCH (2 x 8) messages per kill, of
    up to two copies each."""
    count, kills, per_kill = 150, 5, 2 * 8 * 2
    m = Mxgate(tmp_path)
    maildir = m.tmp / "mail" / "example.test"
    mount_tmpfs(maildir, "64m")
    mounts.append(maildir)
    remount(maildir, "ro")
    mboxes = ["ann", "ben", "cat"]
    with m:
        d = Dialogue(*m.addr("127.0.0.1"))
        d.expect(220)
        d.cmd("EHLO client.test", 250)
        for i in range(count):
            d.cmd("MAIL FROM:<alice@sender.test>", 250)
            d.cmd(f"RCPT TO:<{mboxes[i % 3]}@example.test>", 250)
            if i % 10 == 0:
                d.cmd(f"RCPT TO:<{mboxes[(i + 1) % 3]}@example.test>", 250)
            d.cmd("DATA", 354)
            d.send(body(30000).replace(b"end\r\n", b"end %d\r\n" % i) +
                   b".\r\n")
            d.expect(250, "2.0.0")
        d.cmd("QUIT", 221)
    assert len(m.queued()) == count
    remount(maildir, "rw")
    for k in range(kills):
        m.start()
        time.sleep(0.05 + 0.1 * k)
        m.proc.kill()
        m.proc.wait()
        m._log.close()
        m.proc = None
    with m:
        assert m.wait_queue_empty(timeout=60)
        assert "quarantine" not in m.log()
    seen = {}
    for rcpt in mboxes:
        for f in (maildir / rcpt / "new").iterdir():
            data = f.read_bytes()
            tail = data.rsplit(b"\nend ", 1)
            assert len(tail) == 2 and tail[1].endswith(b"\n"), f
            key = (rcpt, int(tail[1]))
            seen[key] = seen.get(key, 0) + 1
    want = {(mboxes[i % 3], i) for i in range(count)} | \
        {(mboxes[(i + 1) % 3], i) for i in range(0, count, 10)}
    assert set(seen) == want
    repeats = sum(n - 1 for n in seen.values())
    assert repeats <= kills * per_kill, repeats
    print(f"backlog: {len(want)} copies, {kills} kills, {repeats} repeated")
    assert files(m.tmp / "spool" / "quarantine") == []
