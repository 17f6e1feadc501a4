"""Harness for end-to-end tests against the real mxgate binary.

Reusable by every e2e test (import it, or use the fixtures in conftest.py):

    from mxgate import Mxgate, Dialogue
    with Mxgate(tmp_path, server={"max_message_size": "1M"}) as mx:
        host, port = mx.addr("127.0.0.1")     # or "::1", or a proxy listener
        d = Dialogue(host, port)              # raw SMTP, byte for byte
        d.expect(220)
        d.cmd("EHLO client.test", 250)
        ...
        mx.messages("example.test", "bob")    # Maildir files, oldest first
    # leaving the block sends SIGTERM and checks a clean exit (code 0)

- The binary is $MXGATE_BIN (CTest sets it), else build/mxgate.
- Listeners use port 0: mxgate logs "listening on ADDR:PORT" for each and
  the harness reads the real ports from its log, so parallel test runs
  never fight over ports.
- The config is written to tmp_path/mxgate.conf with the spool and
  Maildirs under tmp_path; server/sections override any key.
- mx.log() is mxgate's stderr so far; mx.wait_log(regex) waits for a line.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from fakedns import FakeDNS

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
# The IPv6 test range of the server tests (2001:db8:1::/48, on lo).
V6_SERVER = "2001:db8:1::1"
V6_CLIENT = "2001:db8:1::2"
V6_CLIENT_NET = "2001:db8:1::/48"


def binary():
    return os.path.abspath(os.environ.get("MXGATE_BIN") or
                           REPO / "build" / "mxgate")


def ensure_v6(*addrs):
    """Adds the addresses to lo (idempotent). False when that fails."""
    for a in addrs:
        have = subprocess.run(["ip", "-6", "addr", "show", "dev", "lo"],
                              capture_output=True, text=True).stdout
        if f"inet6 {a}/" in have:
            continue
        r = subprocess.run(["ip", "-6", "addr", "add", f"{a}/128", "dev",
                            "lo", "nodad"], capture_output=True, text=True)
        if r.returncode != 0 and "File exists" not in r.stderr:
            return False
    return True


def make_tls_cert(directory, cn="mx.example.test"):
    """A self-signed certificate made with the openssl CLI: (cert, key)."""
    directory = Path(directory)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={cn}"], check=True, capture_output=True)
    return cert, key


def render_config(server, sections):
    lines = ["[server]"] + [f"{k} = {v}" for k, v in server.items()]
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


class Mxgate:
    """One mxgate serve process on a temporary config."""

    def __init__(self, tmp, server=None, sections=None, domains=None,
                 args=(), trusted=(V6_CLIENT_NET, "::1/128"), dns=None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.server = {
            "hostname": "mx.example.test",
            "listen": "[::1]:0, 127.0.0.1:0",
            "spool": "spool",
        }
        self.server.update(server or {})
        if domains is None:
            domains = {"example.test": {"ipv6_anonymous": "yes"},
                       "other.test": {}}
        self.sections = {}
        for d, keys in domains.items():
            k = {"deliver": f"maildir:mail/{d}"}
            k.update(keys)
            self.sections[f"domain {d}"] = k
        # The protocol tests are not about the sender policy: their clients
        # are a trusted connector unless a test says otherwise (trusted=()).
        if trusted:
            self.sections["connector test-clients"] = {
                "from": ", ".join(trusted)}
        self.sections.update(sections or {})
        # Every check asks DNS. Without a server of its own a test gets a
        # FakeDNS that answers NXDOMAIN at once, never the network.
        self.fakedns = None
        if dns is None and not any(k == "dns" for k in self.sections):
            self.fakedns = FakeDNS()
            self.fakedns.start()
            self.sections["dns"] = {"servers": self.fakedns.address,
                                    "timeout": "2s"}
        elif dns is not None:
            self.sections["dns"] = {"servers": dns, "timeout": "2s"}
        self.args = list(args)
        self.conf = self.tmp / "mxgate.conf"
        self.logfile = self.tmp / "mxgate.log"
        self.proc = None
        self.listeners = []  # (host, port, proxy) in config order

    def start(self, timeout=10):
        if self.fakedns is not None and not self.fakedns._servers:
            self.fakedns.start()
            self.sections["dns"]["servers"] = self.fakedns.address
        self.conf.write_text(render_config(self.server, self.sections))
        self._log = open(self.logfile, "wb")
        self.proc = subprocess.Popen(
            [binary(), "serve", "-c", str(self.conf)] + self.args,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        self.wait_log(r" ready ", timeout)
        self.listeners = []
        for m in re.finditer(r"listening on (\[[^\]]+\]|[0-9.]+):(\d+)"
                             r"( proxy)?", self.log()):
            host = m.group(1).strip("[]")
            self.listeners.append((host, int(m.group(2)), bool(m.group(3))))
        return self

    def addr(self, host, proxy=False):
        """(host, port) of the listener on host."""
        for h, p, px in self.listeners:
            if h == host and px == proxy:
                return h, p
        raise KeyError(f"no listener on {host} proxy={proxy}")

    def log(self):
        return self.logfile.read_text(errors="replace")

    def wait_log(self, pattern, timeout=10):
        """Waits until a log line matches; returns the match."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            m = rx.search(self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}; "
                             f"log:\n{self.log()}")

    def stop(self, timeout=20):
        """SIGTERM, wait, return the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        self.proc = None
        if self.fakedns is not None:
            self.fakedns.stop()
        return rc

    def maildir(self, domain, local):
        return self.tmp / "mail" / domain / local

    def queued(self):
        """The ids of the messages in the spool, as `mxgate queue` lists
        them (running or not)."""
        if not self.conf.exists():
            self.conf.write_text(render_config(self.server, self.sections))
        out = subprocess.run([binary(), "queue", "-c", str(self.conf)],
                             capture_output=True, text=True, check=True)
        lines = out.stdout.splitlines()
        assert lines[-1].endswith(" queued"), lines
        return [line.split()[0] for line in lines[:-1]]

    def wait_queue_empty(self, timeout=10):
        deadline = time.time() + timeout
        while self.queued() and time.time() < deadline:
            time.sleep(0.05)
        return self.queued() == []

    def slot_of(self, queue_id):
        """The slot file that holds a queued message."""
        return self.tmp / "spool" / "slots" / queue_id[-8:]

    def messages(self, domain, local, count=None, timeout=10):
        """The delivered messages (bytes), oldest first. With count, waits
        until that many are there (delivery runs after the 250)."""
        new = self.maildir(domain, local) / "new"
        deadline = time.time() + timeout
        while True:
            files = sorted(new.glob("*"), key=lambda f: f.stat().st_mtime_ns) \
                if new.is_dir() else []
            if count is None or len(files) >= count or \
                    time.time() > deadline:
                return [f.read_bytes() for f in files]
            time.sleep(0.02)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        assert rc == 0, f"mxgate exited {rc}; log:\n{self.log()}"


def strip_added(msg):
    """Drops the header fields mxgate adds on top (Delivered-To, Received
    and their continuation lines) and gives the rest: what the client sent,
    with LF line ends as Maildir stores it."""
    lines = msg.split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith((b"Delivered-To:", b"Received:",
                            b"Authentication-Results:")) or \
                (i > 0 and line[:1] in (b"\t", b" ")):
            i += 1
            continue
        break
    return b"\n".join(lines[i:])


def stuff(msg):
    """Dot-stuffs a CRLF message for DATA (RFC 5321 4.5.2)."""
    if msg.startswith(b"."):
        msg = b"." + msg
    return msg.replace(b"\r\n.", b"\r\n..")


def added_headers(msg):
    return msg[:len(msg) - len(strip_added(msg))]


class Dialogue:
    """A raw SMTP client: exact bytes out, parsed replies in."""

    def __init__(self, host, port, source=None, timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:].decode(errors="replace"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def expect(self, code, enh=None):
        c, lines = self.reply()
        assert c == code, f"want {code}, got {c} {lines}"
        if enh:
            assert lines[-1].startswith(enh + " "), f"want {enh}: {lines}"
        return lines

    def cmd(self, line, code, enh=None):
        self.send(line + "\r\n")
        return self.expect(code, enh)

    def closed(self, timeout=5):
        """True when the server closes (after any pending bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, socket.timeout):
            return False

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        return self.sock

    def close(self):
        self.sock.close()
