"""The session's I/O path under strace: a reply costs one writev and no
change to the epoll set (no write event added and removed per reply), and
the replies to a pipelined group leave in one writev. gVisor makes every
system call expensive, so these counts are part of the behaviour."""
import re
import shutil
import signal
import subprocess
import time

import pytest

from mxgate import Dialogue

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="needs strace")


def traced(pid, out):
    """strace on every thread of pid, once it is attached."""
    st = subprocess.Popen(["strace", "-f", "-qq", "-e",
                           "trace=epoll_ctl,writev", "-o", str(out),
                           "-p", str(pid)],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    # strace writes nothing until a traced call; give it time to attach
    # to all the threads.
    time.sleep(1.5)
    return st


def calls(out, name, fd):
    """Calls of name on fd: writev(fd, ...), epoll_ctl(ep, op, fd, ...)."""
    return len(re.findall(r"\b%s\((\d+, EPOLL_CTL_\w+, )?%d," % (name, fd),
                          out.read_text()))


def test_replies_written_directly(mx, tmp_path):
    m = mx()
    d = Dialogue(*m.addr("::1"))
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    # Reverse DNS of the client, started at connect, is done by now.
    d.cmd("NOOP", 250)
    out = tmp_path / "strace.out"
    st = traced(m.proc.pid, out)
    try:
        for _ in range(20):
            d.cmd("NOOP", 250, "2.0.0")
        d.send("NOOP\r\nRSET\r\nNOOP\r\nRSET\r\nNOOP\r\n")
        for code in (250,) * 5:
            d.expect(code, "2.0.0")
        time.sleep(0.5)
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(timeout=10)
    # The session's socket is the one the replies go to; the resolver's
    # sockets come and go on their own.
    fd = int(re.search(r"writev\((\d+),", out.read_text()).group(1))
    # 20 replies one by one, then 5 pipelined ones together.
    assert calls(out, "writev", fd) == 21, out.read_text()
    assert calls(out, "epoll_ctl", fd) == 0, out.read_text()
    d.cmd("QUIT", 221)
    assert d.closed()


def test_new_session_epoll_set_changes_twice(mx, tmp_path):
    """A whole session, banner included, adds its socket to the epoll set
    at accept and takes it out at the end: nothing in between."""
    m = mx()
    out = tmp_path / "strace.out"
    st = traced(m.proc.pid, out)
    try:
        d = Dialogue(*m.addr("::1"))
        d.expect(220)
        d.cmd("EHLO client.test", 250)
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RSET", 250)
        d.cmd("QUIT", 221)
        assert d.closed()
        time.sleep(0.5)
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(timeout=10)
    text = out.read_text()
    fd = int(re.search(r"writev\((\d+), \[\{iov_base=\"220 ", text).group(1))
    assert calls(out, "writev", fd) == 5, text
    assert calls(out, "epoll_ctl", fd) == 2, text
