"""RSS of an mxgate process before and with N idle SMTP connections.

Usage: idle.py PID HOST PORT N. Opens N connections, reads each banner,
keeps them open, prints "idle N rss_before_kib rss_with_kib per_conn_b".
"Before" is taken after a warm-up of WARM connections, opened and closed:
each event loop sets up its resolver at its first connection (several MB
once per loop), which is not a cost of an idle connection.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


WARM = 100


def open_all(host, port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10)
        socks.append(s)
    for s in socks:
        if not s.recv(512).startswith(b"220"):
            raise RuntimeError("no banner")
    return socks


def main():
    pid, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    for s in open_all(host, port, WARM):
        s.close()
    time.sleep(0.5)
    before = rss_kib(pid)
    socks = open_all(host, port, n)
    time.sleep(0.5)
    with_conns = rss_kib(pid)
    print(f"idle {n} {before} {with_conns} "
          f"{(with_conns - before) * 1024 // n}")
    for s in socks:
        s.close()


main()
