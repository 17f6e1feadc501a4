"""Least privilege (issue 7, part 2): started as root, mxgate binds, then
runs as [server] user with no capability left; queue files and Maildir
files are private (0600 in 0700 directories) whatever the umask it was
started with; without `user` it says loudly that it runs as root."""
import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from mxgate import Dialogue, Mxgate

MSG = (b"From: Alice <alice@sender.test>\r\n"
       b"To: Bob <bob@example.test>\r\n"
       b"Subject: privileges\r\n"
       b"\r\n"
       b"Hello.\r\n")


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def deliver_one(m):
    d = Dialogue(*m.addr("127.0.0.1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<alice@sender.test>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(MSG + b".\r\n")
    d.expect(250)
    d.cmd("QUIT", 221)
    return m.messages("example.test", "bob", count=1)


@pytest.fixture
def nobody_dir():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    # The pytest tmp_path is under a root-only directory: the dropped
    # process could not reach its spool there.
    d = Path(tempfile.mkdtemp(prefix="mxgate-priv-"))
    os.chmod(d, 0o755)
    for sub in ("spool", "mail"):
        (d / sub).mkdir()
        os.chown(d / sub, pw.pw_uid, pw.pw_gid)
    yield d, pw
    shutil.rmtree(d, ignore_errors=True)


def test_drops_to_user_with_no_capabilities(nobody_dir):
    d, pw = nobody_dir
    old = os.umask(0)  # a careless parent: mxgate must not inherit it
    try:
        m = Mxgate(d, server={"user": "nobody"})
        m.start()
    finally:
        os.umask(old)
    try:
        st = status(m.proc.pid)
        assert st["Uid"] == [str(pw.pw_uid)] * 4
        assert st["Gid"] == [str(pw.pw_gid)] * 4
        assert int(st["CapEff"][0], 16) == 0
        assert int(st["CapPrm"][0], 16) == 0
        assert st["Groups"] == [str(g) for g in os.getgrouplist(
            "nobody", pw.pw_gid)] or st["Groups"] == [str(pw.pw_gid)]
        assert "RUNNING AS ROOT" not in m.log()
        m.wait_log(r"running as user=nobody uid=%d" % pw.pw_uid)
        got = deliver_one(m)
        assert got and got[0].endswith(b"Hello.\n")
        maildir = m.maildir("example.test", "bob")
        for f in (maildir / "new").iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
            assert f.stat().st_uid == pw.pw_uid
        for sub in (maildir, maildir / "new", maildir / "tmp"):
            assert stat.S_IMODE(sub.stat().st_mode) == 0o700
        for sub in ("slots", "quarantine"):
            p = d / "spool" / sub
            assert stat.S_IMODE(p.stat().st_mode) == 0o700
    finally:
        assert m.stop() == 0, m.log()


def test_queue_file_mode_while_queued(nobody_dir, tmp_path):
    """A queue file waits for a Maildir that is not there yet (a file
    stands in the way): it is 0600 like everything else."""
    d, pw = nobody_dir
    m = Mxgate(d, server={"user": "nobody"})
    (d / "mail" / "example.test").write_text("in the way\n")
    with m:
        dd = Dialogue(*m.addr("127.0.0.1"))
        dd.expect(220)
        dd.cmd("EHLO client.test", 250)
        dd.cmd("MAIL FROM:<alice@sender.test>", 250)
        dd.cmd("RCPT TO:<bob@example.test>", 250)
        dd.cmd("DATA", 354)
        dd.send(MSG + b".\r\n")
        dd.expect(250)
        dd.cmd("QUIT", 221)
        m.wait_log(r"result=deferred")
        [queue_id] = m.queued()
        slot = m.slot_of(queue_id)
        assert stat.S_IMODE(slot.stat().st_mode) == 0o600
        assert slot.stat().st_uid == pw.pw_uid


def test_root_without_user_warns(mx):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    m = mx()
    m.wait_log(r"warn RUNNING AS ROOT")


def test_unknown_user_refuses_to_start(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    m = Mxgate(tmp_path, server={"user": "no-such-user-mxgate"})
    with pytest.raises(AssertionError):
        m.start(timeout=5)
    assert m.proc.wait(5) != 0
    assert "user=no-such-user-mxgate unknown" in m.log()
    m.stop()


def test_descriptor_limit_raised_for_max_connections(tmp_path):
    """Started with a soft limit of 1024, as most shells give: mxgate
    raises it to fit max_connections."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        m = Mxgate(tmp_path, server={"max_connections": "5000"})
        m.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        limits = Path(f"/proc/{m.proc.pid}/limits").read_text()
        line = [x for x in limits.splitlines()
                if x.startswith("Max open files")][0]
        assert int(line.split()[3]) >= 5000, line
    finally:
        assert m.stop() == 0, m.log()
