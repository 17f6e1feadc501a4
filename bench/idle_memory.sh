#!/bin/bash
# Memory per idle connection: mxgate serve holds N connections that got
# their banner and then say nothing (no TLS yet), and the growth of its
# resident set (VmRSS) and of its heap (smaps_rollup Private_Dirty) is
# divided by N. The kernel's socket buffers are not in either figure.
# The client and the server each need N descriptors and some. Usage:
#   bench/idle_memory.sh [CONNECTIONS] [BUILD_DIR]     (default 10000 build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
build=${2:-build}
bin=$(realpath "$build/mxgate")
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mxgate-idle.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n $((n + 1024))
cat >"$work/mxgate.conf" <<CONF
[server]
hostname = mx.example.test
listen = 127.0.0.1:0
spool = spool
max_connections = $((n + 100))
max_connections_per_ip = $((n + 100))
timeout_command = 30m
[dns]
servers = 127.0.0.1:9
timeout = 1s
[connector loopback]
from = 127.0.0.0/8
[domain example.test]
deliver = maildir:mail
CONF
"$bin" serve -c "$work/mxgate.conf" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
	grep -q " ready " "$work/log" && break
	sleep 0.1
done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/log")
/usr/bin/python3 - "$pid" "$port" "$n" <<'PY'
import resource, selectors, socket, sys, time

pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def mem():
    rss = dirty = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Private_Dirty:"):
            dirty = int(line.split()[1]) * 1024
    return rss, dirty


def hold(count):
    socks, sel, waiting = [], selectors.DefaultSelector(), set()
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
        waiting.add(s)
    deadline = time.time() + 120
    while waiting and time.time() < deadline:
        for key, _ in sel.select(1):
            s = key.fileobj
            if s.recv(4096).startswith(b"220 "):
                waiting.discard(s)
                sel.unregister(s)
    if waiting:
        sys.exit(f"{len(waiting)} connections got no banner")
    return socks


# A first small batch warms up the allocator and libevent's tables.
warm = hold(100)
time.sleep(0.5)
rss0, dirty0 = mem()
t0 = time.time()
socks = hold(n)
took = time.time() - t0
time.sleep(1)
rss1, dirty1 = mem()
print(f"connections={n} held_in={took:.1f}s "
      f"rss_before={rss0 >> 10}KiB rss_after={rss1 >> 10}KiB")
print(f"per_connection rss={(rss1 - rss0) / n:.0f} bytes "
      f"heap={(dirty1 - dirty0) / n:.0f} bytes (target: under 16384)")
for s in socks + warm:
    s.close()
PY
kill -TERM "$pid"
wait "$pid"
pid=
