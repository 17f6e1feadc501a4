"""The peer stack: Postfix + postfix-policyd-spf-python + OpenDKIM milter.

A throw-away Postfix instance (``postfix -c DIR/etc``) with its own queue,
data and mail directories under DIR, listening on one address and port,
with the configuration from bench/peers/*.in: reverse DNS check
(reject_unknown_reverse_client_hostname), SPF by policyd-spf spawned from
master.cf as Debian documents it, DKIM verification by ``opendkim -f`` over
a UNIX socket, delivery to one Maildir per recipient. keepalive=True is
the variant that keeps the policyd-spf processes (and their smtpd) alive.

Postfix and policyd-spf use the system resolver. The caller runs this in a
private mount namespace with /etc/resolv.conf bind-mounted to point at the
bench's DNS server (bench/e2e.sh does that), so nothing system-wide changes.

    with PeerStack(dir, "2001:db8:6::25", port, "127.0.6.53",
                   "bob@rcpt.example") as peer:
        ...                       # SMTP on [2001:db8:6::25]:port
        peer.delivered()          # messages in the Maildirs so far
"""

import grp
import os
import pwd
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(os.path.dirname(HERE), "peers")


def fill(template, out, values):
    with open(os.path.join(TEMPLATES, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    with open(out, "w") as f:
        f.write(text)


def wait_port(host, port, timeout, proc_alive=lambda: True):
    """Until something accepts on host:port and sends a 220 banner."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class PeerStack:
    def __init__(self, base, host, port, dns_host, rcpt, keepalive=False):
        self.dir = base
        self.rcpt = rcpt
        self.keepalive = keepalive
        self.host = host
        self.port = port
        self.dns_host = dns_host
        self.opendkim = None
        self.started = False

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return f"[{self.host}]:{self.port}"

    def _configure(self):
        d = self.dir
        for sub in ("etc", "spool", "data", "mail", "opendkim"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        # Maildirs belong to an unprivileged user, as virtual(8) wants.
        nobody = pwd.getpwnam("nobody")
        os.chown(os.path.join(d, "mail"), nobody.pw_uid, nobody.pw_gid)
        postfix = pwd.getpwnam("postfix")
        os.chown(os.path.join(d, "data"), postfix.pw_uid, postfix.pw_gid)
        # The milter socket: OpenDKIM creates it group opendkim, mode 0770;
        # Debian puts postfix in that group, here the directory is shared
        # with the postfix group instead and the socket made 0777 by UMask.
        dkim_dir = os.path.join(d, "opendkim")
        od = pwd.getpwnam("opendkim")
        os.chown(dkim_dir, od.pw_uid, grp.getgrnam("postfix").gr_gid)
        os.chmod(dkim_dir, 0o750)
        values = {
            "DIR": d, "LISTEN_HOST": self.host, "PORT": self.port,
            "MILTER_SOCKET": os.path.join(dkim_dir, "opendkim.sock"),
            "MAIL_UID": nobody.pw_uid, "MAIL_GID": nobody.pw_gid,
            "DNS_HOST": self.dns_host, "RCPT_TO": self.rcpt,
            "RCPT_LOCAL": self.rcpt.split("@")[0],
            "RCPT_DOMAIN": self.rcpt.split("@")[1],
        }
        etc = os.path.join(d, "etc")
        for name in ("main.cf", "master.cf", "policyd-spf.conf"):
            fill(name + ".in", os.path.join(etc, name), values)
        fill("opendkim.conf.in", os.path.join(dkim_dir, "opendkim.conf"),
             values)
        if self.keepalive:
            # policyd-spf lives as long as the smtpd process that spawned
            # it; smtpd exits after max_use (100) clients, and a new Python
            # interpreter starts for the next one. This variant keeps them.
            with open(os.path.join(etc, "main.cf"), "a") as f:
                f.write("\n# variant: policyd-spf processes kept alive\n"
                        "max_use = 1000000\n")
        os.chmod(d, 0o755)

    def _postfix(self, *args):
        return subprocess.run(["postfix", "-c", os.path.join(self.dir, "etc"),
                               *args], capture_output=True, text=True)

    def start(self):
        self._configure()
        dkim_dir = os.path.join(self.dir, "opendkim")
        log = open(os.path.join(dkim_dir, "opendkim.log"), "w")
        self.opendkim = subprocess.Popen(
            ["opendkim", "-f", "-x", os.path.join(dkim_dir, "opendkim.conf")],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        sock = os.path.join(dkim_dir, "opendkim.sock")
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if self.opendkim.poll() is not None or \
                    time.monotonic() > deadline:
                raise RuntimeError("opendkim did not start:\n" +
                                   self.log("opendkim/opendkim.log"))
            time.sleep(0.05)
        r = self._postfix("start")
        if r.returncode:
            raise RuntimeError("postfix start:\n" + r.stderr + r.stdout)
        self.started = True
        if not wait_port(self.host, self.port, 20):
            raise RuntimeError("postfix does not answer:\n" +
                               self.log("maillog"))

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def queue_empty(self):
        """True when no message waits in the Postfix queue."""
        q = os.path.join(self.dir, "spool")
        for sub in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(q, sub)):
                if files:
                    return False
        return True

    def delivered(self):
        """Paths of the messages delivered so far (all Maildirs)."""
        out = []
        mail = os.path.join(self.dir, "mail")
        for user in sorted(os.listdir(mail)):
            new = os.path.join(mail, user, "new")
            if os.path.isdir(new):
                out += [os.path.join(new, n) for n in os.listdir(new)]
        return out

    def stop(self):
        if self.started:
            self._postfix("stop")
            self.started = False
            # master's children go with it; wait so the directory can go.
            pid_file = os.path.join(self.dir, "spool", "pid", "master.pid")
            deadline = time.monotonic() + 10
            while os.path.exists(pid_file) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.opendkim is not None:
            self.opendkim.terminate()
            try:
                self.opendkim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.opendkim.kill()
                self.opendkim.wait()
            self.opendkim = None
