"""A scripted DNS server for fault tests (dnspython, UDP and TCP).

Knot (knot.py) serves correct zones; this server misbehaves on purpose, per
name: it answers late, answers SERVFAIL or REFUSED, never answers, or sets
the TC bit over UDP so the client has to retry over TCP. It listens on
127.0.0.1 (or a given address) on one free port for both UDP and TCP, and
runs in background threads, so a test drives the program under test in the
foreground::

    from fakedns import FakeDNS

    with FakeDNS() as fake:
        fake.add("mx.example.test", "A", "192.0.2.25")
        fake.add(ptr4("192.0.2.25"), "PTR", "mx.example.test.")
        fake.servfail("broken.example.test")
        fake.silent("slow.example.test")          # no answer at all
        fake.delay("late.example.test", 0.5)      # answer after 0.5 s
        fake.truncate("big.example.test")         # TC over UDP, full on TCP
        fake.wrong_name("odd.example.test", "x.example.test")
        run(["mxgate", "ptr", "--dns", fake.address, "192.0.2.25"])
        assert ("mx.example.test", "A", "udp") in fake.queries

Names are compared without case and without the trailing dot. A fault set
on a name applies to every query type. A name with no records and no fault
is NXDOMAIN; a name with records, but none of the asked type, is NODATA.
Over UDP an answer larger than the client's EDNS payload size (512 without
EDNS) comes back empty with TC set, as a real server does, so large TXT
records make the client retry over TCP. ``wrong_name(name, other)`` answers
queries for name with the records of other, owned by other.
``FakeDNS(default="silent")`` (or "servfail") makes that the behaviour for
every name not added, e.g. to stand in for a dead server. ``queries`` lists
(name, type, "udp"|"tcp") in arrival order.
"""

import socket
import socketserver
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _key(name):
    return str(name).rstrip(".").lower()


class _Handler:
    """The answer logic shared by the UDP and TCP servers."""

    def __init__(self, fake):
        self.fake = fake

    def reply(self, wire, proto):
        """Returns (delay_seconds, response wire) or None for no answer."""
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None
        if not q.question:
            return None
        question = q.question[0]
        name = _key(question.name)
        qtype = dns.rdatatype.to_text(question.rdtype)
        fake = self.fake
        with fake.lock:
            fake.queries.append((name, qtype, proto))
            fault = fake.faults.get(name)
            if fault is None and name not in fake.records:
                fault = fake.default
            delay = fake.delays.get(name, 0.0)
            owner = fake.wrong.get(name)
            records = list(fake.records.get(owner or name, []))
        if fault == "silent":
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA | dns.flags.RA
        if fault == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif fault == "refused":
            r.set_rcode(dns.rcode.REFUSED)
        elif fault == "truncate" and proto == "udp":
            r.flags |= dns.flags.TC
        elif not records:
            r.set_rcode(dns.rcode.NXDOMAIN)
        if r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC:
            for rtype, value in records:
                if rtype == qtype or (rtype == "CNAME" and qtype != "CNAME"):
                    rr = dns.rrset.from_text(dns.name.from_text(owner) if owner else question.name, 300,
                                             "IN", rtype, value)
                    r.answer.append(rr)
        wire = r.to_wire(max_size=65535)
        limit = max(q.payload, 512) if q.edns >= 0 else 512
        if proto == "udp" and len(wire) > limit:
            r.answer.clear()
            r.flags |= dns.flags.TC
            wire = r.to_wire(max_size=65535)
        return delay, wire


class _UDP(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False

    def server_bind(self):
        # Hundreds of queries can arrive at once (load tests): a small
        # receive buffer would drop them before Python reads them.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        super().server_bind()


class _TCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False


class _UDPRequest(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        out = self.server.logic.reply(data, "udp")
        if out is None:
            return
        delay, wire = out
        if delay:
            time.sleep(delay)
        sock.sendto(wire, self.client_address)


class _TCPRequest(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(10)
        try:
            while True:
                head = self._read(sock, 2)
                if head is None:
                    return
                data = self._read(sock, int.from_bytes(head, "big"))
                if data is None:
                    return
                out = self.server.logic.reply(data, "tcp")
                if out is None:
                    continue
                delay, wire = out
                if delay:
                    time.sleep(delay)
                sock.sendall(len(wire).to_bytes(2, "big") + wire)
        except OSError:
            return

    @staticmethod
    def _read(sock, n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


class FakeDNS:
    """A scripted DNS server; use as a context manager."""

    def __init__(self, host="127.0.0.1", default=None):
        if default not in (None, "silent", "servfail", "refused"):
            raise ValueError(f"unknown default {default!r}")
        self.host = host
        self.port = None
        self.default = default
        self.lock = threading.Lock()
        self.records = {}
        self.faults = {}
        self.delays = {}
        self.wrong = {}
        self.queries = []
        self._servers = []

    @property
    def address(self):
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def add(self, name, rtype, value):
        """Adds one record; value in zone-file syntax (absolute names)."""
        with self.lock:
            self.records.setdefault(_key(name), []).append(
                (rtype.upper(), value))

    def servfail(self, name):
        self._fault(name, "servfail")

    def refused(self, name):
        self._fault(name, "refused")

    def silent(self, name):
        """Never answers queries for name (the client must time out)."""
        self._fault(name, "silent")

    def truncate(self, name):
        """Sets TC over UDP; answers in full over TCP."""
        self._fault(name, "truncate")

    def delay(self, name, seconds):
        """Answers queries for name after seconds (other names at once)."""
        with self.lock:
            self.delays[_key(name)] = seconds

    def wrong_name(self, name, other):
        """Answers queries for name with other's records, owned by other
        (a broken or spoofing server)."""
        with self.lock:
            self.wrong[_key(name)] = _key(other)

    def _fault(self, name, what):
        with self.lock:
            self.faults[_key(name)] = what

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        logic = _Handler(self)
        udp_class = type("UDP", (_UDP,), {"address_family": family})
        tcp_class = type("TCP", (_TCP,), {"address_family": family})
        for _ in range(50):
            udp = udp_class((self.host, 0), _UDPRequest)
            port = udp.server_address[1]
            try:
                tcp = tcp_class((self.host, port), _TCPRequest)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no free UDP+TCP port")
        self.port = port
        for srv in (udp, tcp):
            srv.logic = logic
            t = threading.Thread(target=srv.serve_forever,
                                 kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._servers.append((srv, t))

    def stop(self):
        for srv, t in self._servers:
            srv.shutdown()
            srv.server_close()
            t.join(timeout=5)
        self._servers = []
