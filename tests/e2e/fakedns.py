"""A scripted DNS server for fault tests (dnspython, UDP and TCP).

Knot (knot.py) serves correct zones; this server misbehaves on purpose, per
name: it answers late, answers SERVFAIL or REFUSED, never answers, or sets
the TC bit over UDP so the client has to retry over TCP. It listens on
127.0.0.1 (or a given address) on one free port for both UDP and TCP, and
runs in one background thread, so a test drives the program under test in
the foreground::

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
(name, type, "udp"|"tcp") in arrival order. ``delay(name, seconds)`` holds
each answer that long from its own query's arrival (a resent query waits
again); delayed answers are timers in the server's one thread, so hundreds
of them at once neither slow the other answers nor come late.
"""

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
import traceback

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype


def _key(name):
    return str(name).rstrip(".").lower()


# DNS header bits (RFC 1035 4.1.1) and the OPT type (RFC 6891 6.1.2).
_QR, _AA, _TC, _RD, _RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
_OPCODE = 0x7800
_T_OPT = 41
_CLASS_IN = 1
_TTL = 300
# The UDP payload size this server offers in its own OPT record (dnspython's
# make_response default).
_OUR_PAYLOAD = 8192
# dnspython's presentation form of a label: these get a backslash, bytes
# outside 0x21-0x7e a \DDD escape.
_SPECIAL = b'"().;\\@$'


class _BadQuery(Exception):
    pass


def _label_text(label):
    if label.isalnum() or all(c > 0x20 and c < 0x7f and c not in _SPECIAL
                              for c in label):
        return label.decode("ascii")
    out = []
    for c in label:
        if c in _SPECIAL:
            out.append("\\" + chr(c))
        elif 0x20 < c < 0x7f:
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    return "".join(out)


def _parse_query(wire):
    """A query as resolvers send it: one question, names uncompressed,
    optionally an OPT record. Returns (id, flags, question bytes as sent,
    key of the name, qtype, EDNS payload or None); raises _BadQuery."""
    if len(wire) < 12:
        raise _BadQuery()
    qid, flags, qd, an, ns, ar = struct.unpack_from("!6H", wire)
    if qd != 1 or flags & _QR:
        raise _BadQuery()
    off, labels = 12, []
    while True:
        if off >= len(wire):
            raise _BadQuery()
        n = wire[off]
        if n & 0xc0:
            raise _BadQuery()  # no compression in a lone question
        off += 1
        if n == 0:
            break
        labels.append(_label_text(wire[off:off + n]))
        off += n
    if off + 4 > len(wire):
        raise _BadQuery()
    qtype = struct.unpack_from("!H", wire, off)[0]
    question = wire[12:off + 4]
    off += 4
    payload = None
    for _ in range(an + ns + ar):
        # RRs after the question: only the OPT record matters here.
        start = off
        while off < len(wire) and wire[off] != 0:
            if wire[off] & 0xc0:
                off += 1
                break
            off += wire[off] + 1
        off += 1
        if off + 10 > len(wire):
            raise _BadQuery()
        rtype, rclass, _, rdlen = struct.unpack_from("!HHIH", wire, off)
        off += 10 + rdlen
        if rtype == _T_OPT and wire[start] == 0:
            payload = rclass
    if off > len(wire):
        raise _BadQuery()
    return qid, flags, question, ".".join(labels).lower(), qtype, payload


class _Handler:
    """The answer logic shared by UDP and TCP.

    Answers are assembled by hand from cached record data: dnspython's
    message parser and renderer took about 1 ms per ip6.arpa query (name
    compression builds every suffix of the 34-label name), so a burst of
    500 queries kept the server busy for most of a second before it read
    the next one.
    """

    def __init__(self, fake):
        self.fake = fake
        self.rdata = {}  # (rtype, value) -> (type code, rdata wire)
        self.owners = {}  # name -> owner name wire

    def _rdata(self, rtype, value):
        got = self.rdata.get((rtype, value))
        if got is None:
            rd = dns.rdata.from_text(dns.rdataclass.IN,
                                     dns.rdatatype.from_text(rtype), value)
            got = (int(rd.rdtype), rd.to_wire())
            self.rdata[(rtype, value)] = got
        return got

    def _owner(self, name):
        got = self.owners.get(name)
        if got is None:
            got = dns.name.from_text(name).to_wire()
            self.owners[name] = got
        return got

    def reply(self, wire, proto):
        """Returns (delay_seconds, response wire) or None for no answer."""
        try:
            qid, qflags, question, name, qt, payload = _parse_query(wire)
        except (_BadQuery, struct.error):
            return None
        qtype = dns.rdatatype.to_text(qt)
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
        flags = (_QR | _AA | _RA | (qflags & (_OPCODE | _RD)))
        rcode = dns.rcode.NOERROR
        if fault == "servfail":
            rcode = dns.rcode.SERVFAIL
        elif fault == "refused":
            rcode = dns.rcode.REFUSED
        elif fault == "truncate" and proto == "udp":
            flags |= _TC
        elif not records:
            rcode = dns.rcode.NXDOMAIN
        answers = []
        if rcode == dns.rcode.NOERROR and not flags & _TC:
            # The question name is at offset 12: a pointer to it.
            ow = self._owner(owner) if owner else b"\xc0\x0c"
            for rtype, value in records:
                if rtype == qtype or (rtype == "CNAME" and qtype != "CNAME"):
                    code, rd = self._rdata(rtype, value)
                    answers.append(ow + struct.pack("!HHIH", code, _CLASS_IN,
                                                    _TTL, len(rd)) + rd)
        opt = b""
        if payload is not None:
            opt = b"\x00" + struct.pack("!HHIH", _T_OPT, _OUR_PAYLOAD, 0, 0)
        limit = max(payload, 512) if payload is not None else 512
        size = 12 + len(question) + sum(map(len, answers)) + len(opt)
        if proto == "udp" and size > limit:
            answers = []
            flags |= _TC
        head = struct.pack("!6H", qid, flags | int(rcode), 1, len(answers),
                           0, 1 if opt else 0)
        return delay, head + question + b"".join(answers) + opt


# A datagram of the largest size DNS over UDP can carry (RFC 1035 4.2.1
# allows 512; EDNS payloads go up to 65535).
_UDP_MAX = 65535
# A client that sends a length prefix and stalls is dropped after this.
_TCP_IDLE = 10.0


class _Conn:
    """One TCP client: a read buffer of length-prefixed queries and a write
    buffer of answers (RFC 7766 6.2.1.1 lets them go out of order)."""

    def __init__(self, sock, now):
        self.sock = sock
        self.rbuf = b""
        self.wbuf = b""
        self.seen = now
        self.eof = False
        self.events = selectors.EVENT_READ


class _Loop:
    """The server: one thread, one selector and one timer heap.

    A delayed answer is a timer, not a sleeping thread. Under a burst of
    hundreds of delayed queries, a thread per datagram (socketserver's
    ThreadingUDPServer) made the server itself the bottleneck: starting
    the threads took longer than the delay, so queries that should be
    answered at once waited in the socket's receive queue behind the slow
    ones, and the delays were counted from a late start.
    """

    def __init__(self, logic, family, host):
        self.logic = logic
        self.sel = selectors.DefaultSelector()
        self.timers = []  # (due, seq, fn, args)
        self.seq = itertools.count()
        self.conns = {}
        self.stopping = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        for _ in range(50):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            # Hundreds of queries can arrive at once (load tests): a small
            # receive buffer would drop them before they are read.
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                tcp.bind((host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            break
        else:
            raise RuntimeError("no free UDP+TCP port")
        tcp.listen(128)
        for s in (udp, tcp):
            s.setblocking(False)
        self.udp, self.tcp, self.port = udp, tcp, port
        self.sel.register(udp, selectors.EVENT_READ, self._on_udp)
        self.sel.register(tcp, selectors.EVENT_READ, self._on_accept)

    def later(self, delay, fn, *args):
        heapq.heappush(self.timers, (time.monotonic() + delay,
                                     next(self.seq), fn, args))

    def run(self):
        while not self.stopping:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn, args = heapq.heappop(self.timers)
                self._call(fn, *args)
            # Wake at the next timer, and once a second to drop idle
            # TCP clients.
            wait = 1.0
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            for key, mask in self.sel.select(wait):
                if key.data is None:
                    self.wake_r.recv(64)
                else:
                    self._call(key.data, key.fileobj, mask)
            self._reap(time.monotonic())
        self._close()

    @staticmethod
    def _call(fn, *args):
        # As socketserver did per request: a bug shows its traceback and
        # the server goes on, rather than going silent under the test.
        try:
            fn(*args)
        except Exception:
            traceback.print_exc()

    def stop(self):
        self.stopping = True
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def _close(self):
        for c in list(self.conns.values()):
            self._drop(c)
        for s in (self.udp, self.tcp, self.wake_r, self.wake_w):
            s.close()
        self.sel.close()

    def _on_udp(self, sock, mask):
        # Every datagram queued now, so that a burst costs one wake-up.
        while True:
            try:
                data, peer = sock.recvfrom(_UDP_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            out = self.logic.reply(data, "udp")
            if out is None:
                continue
            delay, wire = out
            if delay:
                self.later(delay, self._sendto, wire, peer)
            else:
                self._sendto(wire, peer)

    def _sendto(self, wire, peer):
        try:
            self.udp.sendto(wire, peer)
        except OSError:
            pass  # as a datagram lost on the way

    def _on_accept(self, sock, mask):
        while True:
            try:
                s, _ = sock.accept()
            except OSError:  # none left (EAGAIN), or the client went
                return
            s.setblocking(False)
            c = _Conn(s, time.monotonic())
            self.conns[s.fileno()] = c
            self.sel.register(s, selectors.EVENT_READ, self._on_conn)

    def _on_conn(self, sock, mask):
        c = self.conns.get(sock.fileno())
        if c is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(c)
            if c.sock.fileno() < 0:
                return
        if mask & selectors.EVENT_READ and not c.eof:
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(c)
                return
            if not chunk:
                # The client has sent all it will; answers still due
                # (delayed ones) go out before the close.
                c.eof = True
                self._update(c)
                return
            c.seen = time.monotonic()
            c.rbuf += chunk
            while len(c.rbuf) >= 2:
                n = int.from_bytes(c.rbuf[:2], "big")
                if len(c.rbuf) < 2 + n:
                    break
                data, c.rbuf = c.rbuf[2:2 + n], c.rbuf[2 + n:]
                out = self.logic.reply(data, "tcp")
                if out is None:
                    continue
                delay, wire = out
                frame = len(wire).to_bytes(2, "big") + wire
                if delay:
                    self.later(delay, self._queue, c, frame)
                else:
                    self._queue(c, frame)

    def _queue(self, c, frame):
        if c.sock.fileno() < 0:
            return  # dropped meanwhile
        c.wbuf += frame
        self._flush(c)

    def _flush(self, c):
        if c.wbuf:
            try:
                n = c.sock.send(c.wbuf)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop(c)
                return
            c.wbuf = c.wbuf[n:]
            c.seen = time.monotonic()
        self._update(c)

    def _update(self, c):
        """Watches c for what it waits for; a client that has finished
        sending and has nothing more coming is closed."""
        if c.eof and not c.wbuf and not self._pending(c):
            self._drop(c)
            return
        events = selectors.EVENT_WRITE if c.wbuf else 0
        if not c.eof:
            events |= selectors.EVENT_READ
        if events == c.events:
            return
        if not c.events:
            self.sel.register(c.sock, events, self._on_conn)
        elif events:
            self.sel.modify(c.sock, events, self._on_conn)
        else:
            self.sel.unregister(c.sock)
        c.events = events

    def _pending(self, c):
        return any(t[2] == self._queue and t[3][0] is c for t in self.timers)

    def _reap(self, now):
        for c in list(self.conns.values()):
            if now - c.seen > _TCP_IDLE and not c.wbuf:
                self._drop(c)

    def _drop(self, c):
        fd = c.sock.fileno()
        if fd < 0:
            return
        self.conns.pop(fd, None)
        if c.events:
            self.sel.unregister(c.sock)
        c.sock.close()


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
        loop = _Loop(_Handler(self), family, self.host)
        self.port = loop.port
        t = threading.Thread(target=loop.run, daemon=True)
        t.start()
        self._servers.append((loop, t))

    def stop(self):
        for loop, t in self._servers:
            loop.stop()
            t.join(timeout=5)
        self._servers = []
