"""mxgate check-config and configuration handling, end to end."""
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile

import pytest

from mxgate import REPO, Dialogue, Mxgate, binary


def check(path):
    return subprocess.run([binary(), "check-config", "-c", str(path)],
                          capture_output=True, text=True)


def test_example_config_is_valid():
    r = check(REPO / "examples" / "mxgate.conf")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(": ok (1 domain, 2 listeners)\n")


def test_good_minimal():
    r = check(REPO / "tests" / "conf" / "good-minimal.conf")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name,line,msg", [
    ("bad-unknown-key.conf", 3, "unknown key 'max_mesage_size' in [server]"),
    ("bad-duplicate-domain.conf", 4, "domain 'example.test' defined twice"),
])
def test_bad_files(name, line, msg):
    path = REPO / "tests" / "conf" / name
    r = check(path)
    assert r.returncode == 2
    assert r.stderr == f"{path}:{line}: {msg}\n"
    assert r.stdout == ""


def test_unreadable_and_usage(tmp_path):
    r = check(tmp_path / "none.conf")
    assert r.returncode == 2
    assert r.stderr.startswith(f"{tmp_path}/none.conf:0: cannot open")
    r = subprocess.run([binary(), "check-config"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([binary(), "serve", "-c", str(tmp_path / "x.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and ":0: cannot open" in r.stderr


def test_paths_relative_to_config_file(tmp_path):
    """Spool and Maildirs land next to the file, whatever the cwd."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "m.conf").write_text(
        "[server]\nlisten = 127.0.0.1:0\nspool = ./var/spool\n"
        "[domain example.test]\ndeliver = maildir:./var/mail/example.test\n")
    log = open(tmp_path / "log", "wb")
    p = subprocess.Popen([binary(), "serve", "-c", "etc/m.conf"],
                         cwd=tmp_path, stderr=log)
    m = Mxgate(tmp_path)  # only for its log helpers
    m.logfile, m.proc = tmp_path / "log", p
    port = int(m.wait_log(r"listening on 127.0.0.1:(\d+)").group(1))
    d = Dialogue("127.0.0.1", port)
    d.expect(220)
    d.cmd("HELO c.test", 250)
    d.cmd("MAIL FROM:<>", 250)
    d.cmd("RCPT TO:<bob@example.test>", 250)
    d.cmd("DATA", 354)
    d.send(b"Subject: x\r\n\r\ny\r\n.\r\n")
    d.expect(250)
    d.cmd("QUIT", 221)
    m.wait_log(r"deliver .*result=ok")
    p.terminate()
    assert p.wait(10) == 0
    assert (etc / "var" / "spool").is_dir()
    assert len(list((etc / "var/mail/example.test/bob/new").iterdir())) == 1


def port_free(port):
    for fam, host in ((socket.AF_INET6, "::1"), (socket.AF_INET,
                                                 "127.0.0.1")):
        s = socket.socket(fam)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def test_embedded_default(tmp_path):
    """mxgate serve without -c: [::1]:2525 and 127.0.0.1:2525, domain
    localhost, data in ./mxgate-data."""
    if not port_free(2525):
        pytest.skip("port 2525 is taken (another test run?)")
    log = open(tmp_path / "log", "wb")
    p = subprocess.Popen([binary(), "serve"], cwd=tmp_path, stderr=log)
    m = Mxgate(tmp_path)
    m.logfile, m.proc = tmp_path / "log", p
    try:
        m.wait_log(r" ready ")
    except AssertionError:
        p.kill()
        p.wait()
        if "Address already in use" in m.log():
            pytest.skip("port 2525 was taken meanwhile")
        raise
    try:
        assert "listening on [::1]:2525" in m.log()
        assert "listening on 127.0.0.1:2525" in m.log()
        d = Dialogue("::1", 2525)
        d.expect(220)
        d.cmd("EHLO c.test", 250)
        d.cmd("MAIL FROM:<>", 250)
        d.cmd("RCPT TO:<bob@example.test>", 550, "5.7.1")
        # Loopback is a trusted connector in the default: no IPv6 policy.
        d.cmd("RCPT TO:<bob@localhost>", 250)
        d.cmd("DATA", 354)
        d.send(b"Subject: x\r\n\r\ny\r\n.\r\n")
        d.expect(250)
        d.cmd("QUIT", 221)
        m.wait_log(r"deliver .*result=ok")
    finally:
        p.terminate()
        rc = p.wait(10)
    assert rc == 0
    assert len(list((tmp_path / "mxgate-data/mail/localhost/bob/new")
                    .iterdir())) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_drops_privileges():
    # pytest's own temporary directories are private to root.
    top = tempfile.mkdtemp(prefix="mxgate-user-")
    try:
        os.chmod(top, 0o755)
        shutil.chown(top, "nobody")
        m = Mxgate(top, server={"user": "nobody"})
        os.makedirs(m.tmp, exist_ok=True)
        shutil.chown(m.tmp, "nobody")
        with m:
            m.wait_log(r"running as user=nobody")
            assert "RUNNING AS ROOT" not in m.log()
            with open(f"/proc/{m.proc.pid}/status") as f:
                uids = [x for x in f if x.startswith("Uid:")][0].split()
            assert uids[1] != "0" and len(set(uids[1:])) == 1
            with smtplib.SMTP(*m.addr("::1")) as c:
                assert c.sendmail("a@b.test", ["bob@example.test"],
                                  b"Subject: x\r\n\r\ny\r\n") == {}
            assert len(m.messages("example.test", "bob", 1)) == 1
    finally:
        shutil.rmtree(top)


def test_root_without_user_warns(mx):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    m = mx()
    assert "RUNNING AS ROOT" in m.log()
