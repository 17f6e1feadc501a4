"""Knot DNS as a throw-away authoritative server for end-to-end tests.

Starts ``knotd`` (Debian package ``knot``) on 127.0.0.1 with a free port,
serving zones the test gives, from a temporary directory; waits until every
zone answers; stops it and removes the directory on exit.

Zones are given per origin, either as zone-file text or as a dict::

    from knot import Knot

    zones = {
        "example.test": {
            "mx": ["AAAA 2001:db8:3::25", "A 192.0.2.25"],
            "@": ["MX 10 mx", 'TXT "v=spf1 ip6:2001:db8:3::/48 -all"'],
        },
        # reverse zones: the helpers build the owner names
        "3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
            ptr6("2001:db8:3::25"): ["PTR mx.example.test."],
        },
        "2.0.192.in-addr.arpa": "25 PTR mx.example.test.\\n",
    }
    with Knot(zones) as dns:
        run(["mxgate", "ptr", "--dns", dns.address, "2001:db8:3::25"])

Owner names and record data are zone-file syntax relative to the origin
("@" is the origin; end a name with "." to make it absolute). A zone
without SOA and NS records gets default ones. As a pytest fixture::

    @pytest.fixture
    def knot():
        with Knot(ZONES) as k:
            yield k

``address`` is "127.0.0.1:PORT" (what ``--dns`` and ``[dns] servers``
take), ``host``/``port`` are its parts. ``knot.reload(zones)`` replaces
the zones of a running server. ``Knot(zones, dnssec=True)`` signs every
zone (Knot's default policy, ECDSA P-256); ``trust_anchors()`` then gives
the DNSKEY lines for a ``[dns] trust_anchor`` file.
"""

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

KNOTD = shutil.which("knotd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "knotd"
KNOTC = shutil.which("knotc", path="/usr/sbin:/usr/bin:/sbin:/bin") or "knotc"

_DEFAULT_HEAD = """$TTL 300
@ IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 300
@ IN NS ns.invalid.
"""


def ptr6(address):
    """The ip6.arpa owner name of an IPv6 address (absolute, with dot)."""
    return ipaddress.IPv6Address(address).reverse_pointer + "."


def ptr4(address):
    """The in-addr.arpa owner name of an IPv4 address (absolute)."""
    return ipaddress.IPv4Address(address).reverse_pointer + "."


def free_port(host="127.0.0.1"):
    """A port that is free for both UDP and TCP on host, right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


def zone_text(origin, zone):
    """Zone-file text for one zone given as text or as a dict."""
    if isinstance(zone, str):
        body = zone
    else:
        lines = []
        for owner, records in zone.items():
            if isinstance(records, str):
                records = [records]
            for rr in records:
                if isinstance(rr, (tuple, list)):
                    rr = " ".join(str(x) for x in rr)
                lines.append(f"{owner} IN {rr}")
        body = "\n".join(lines) + "\n"
    types = set()
    for line in body.splitlines():
        words = line.split(";")[0].split()
        types.update(w.upper() for w in words)
    head = f"$ORIGIN {origin.rstrip('.')}.\n"
    if "SOA" not in types:
        head += _DEFAULT_HEAD
    return head + body


class Knot:
    """A running knotd; use as a context manager."""

    def __init__(self, zones, host="127.0.0.1", timeout=15, dnssec=False):
        self.zones = {z.rstrip(".").lower(): v for z, v in zones.items()}
        self.dnssec = dnssec
        self.host = host
        self.port = None
        self.timeout = timeout
        self.dir = None
        self.proc = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _write(self):
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        for origin, zone in self.zones.items():
            with open(os.path.join(self.dir, origin + ".zone"), "w") as f:
                f.write(zone_text(origin, zone))
        conf = f"""server:
    rundir: "{self.dir}"
    listen: {self.host}@{self.port}
    tcp-workers: 1
    udp-workers: 1
    background-workers: 1
database:
    storage: "{self.dir}/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{self.dir}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
"""
        if self.dnssec:
            conf += "    dnssec-signing: on\n"
        conf += """zone:
"""
        for origin in self.zones:
            conf += f"  - domain: {origin}\n"
        with open(os.path.join(self.dir, "knot.conf"), "w") as f:
            f.write(conf)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="mxgate-knot-")
        last = ""
        # Another process may take the port between free_port() and
        # knotd's bind; a few attempts make that race harmless.
        for _ in range(5):
            self.port = free_port(self.host)
            self._write()
            log = open(os.path.join(self.dir, "knotd.log"), "w")
            self.proc = subprocess.Popen(
                [KNOTD, "-c", os.path.join(self.dir, "knot.conf")],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if self._wait_ready():
                return
            last = self.log()
            self._kill()
        self.stop()
        raise RuntimeError(f"knotd did not start:\n{last}")

    def _answers(self, origin):
        q = dns.message.make_query(origin + ".", dns.rdatatype.SOA)
        try:
            r = dns.query.udp(q, self.host, port=self.port, timeout=0.3)
        except (dns.exception.Timeout, OSError):
            return False
        return r.rcode() == dns.rcode.NOERROR and len(r.answer) > 0

    def _wait_ready(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if all(self._answers(z) for z in self.zones):
                return True
            time.sleep(0.05)
        return False

    def trust_anchors(self):
        """Zone-file lines of every zone's key-signing DNSKEY (dnssec=True),
        for a resolver's trust anchor file."""
        lines = []
        for origin in self.zones:
            q = dns.message.make_query(origin + ".", dns.rdatatype.DNSKEY)
            r = dns.query.udp(q, self.host, port=self.port, timeout=2)
            for rrset in r.answer:
                for key in rrset:
                    if key.flags & 1:  # SEP bit: the KSK (RFC 4034 2.1.1)
                        lines.append(f"{origin}. 300 IN DNSKEY {key}")
        return "\n".join(lines) + "\n"

    def reload(self, zones):
        """Replaces the zones (same origins) and waits for the new SOA."""
        self.zones.update({z.rstrip(".").lower(): v for z, v in zones.items()})
        self._write()
        subprocess.run([KNOTC, "-c", os.path.join(self.dir, "knot.conf"),
                        "zone-reload"], check=True, capture_output=True)
        time.sleep(0.2)
        if not self._wait_ready():
            raise RuntimeError(f"knotd did not reload:\n{self.log()}")

    def log(self):
        """What knotd wrote so far (for failure messages)."""
        try:
            with open(os.path.join(self.dir, "knotd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
