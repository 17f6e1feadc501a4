#!/usr/bin/python3
"""Builds bench/dns_unbound.c and runs its three modes against Knot.

Usage (from the repository root): /usr/bin/python3 bench/dns_unbound.py [N]
Prints warm-cache queries per second for ub_resolve_event,
ub_resolve_async + ub_fd, and dns_query (the first plus our wire parser).
"""

import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "e2e"))
from knot import Knot  # noqa: E402

n = sys.argv[1] if len(sys.argv) > 1 else "200000"
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
srcs = [s for s in glob.glob(f"{root}/src/dns/*.c") + glob.glob(
    f"{root}/src/base/*.c") if not s.endswith(("_test.c", "_fuzz.c"))]
with tempfile.TemporaryDirectory() as tmp:
    exe = os.path.join(tmp, "dns_unbound")
    subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", f"-I{root}/src", "-o", exe,
                    f"{root}/bench/dns_unbound.c", *srcs, "-levent",
                    "-lunbound"], check=True)
    with Knot({"example.test": {"mx": "A 192.0.2.25"}}) as k:
        for mode in ("event", "async", "dns"):
            subprocess.run([exe, mode, k.address, "mx.example.test", n],
                           check=True)
