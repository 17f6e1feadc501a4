"""Helpers for a benchmark running in its own network namespace.

bench/e2e.sh and bench/slow_dns.sh re-run themselves under
``unshare --mount --net``: the loopback interface, the 2001:db8:6::/48
addresses, port 53 and /etc/resolv.conf are then private to the run, and
disappear with it. These helpers prepare that namespace and compile the
load driver.
"""

import os
import socket
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def add_addresses(addresses):
    """Adds each address to lo (idempotent; no duplicate detection wait)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    cmds = []
    for a in addresses:
        if ":" in a:
            cmds.append(f"addr replace {a}/128 dev lo nodad")
        else:
            cmds.append(f"addr replace {a}/32 dev lo")
    subprocess.run(["ip", "-batch", "-"], input="\n".join(cmds) + "\n",
                   text=True, check=True)


def free_port(host):
    """A TCP port free on host right now (the kernel's choice)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_smtpload(outdir):
    """Compiles bench/lib/smtpload.c into outdir; returns the binary."""
    out = os.path.join(outdir, "smtpload")
    subprocess.run(["cc", "-O2", "-std=c17", "-Wall", "-Wextra", "-Werror",
                    "-o", out, os.path.join(HERE, "smtpload.c")], check=True)
    return out


def in_private_netns():
    """True when the wrapper script moved us out of its network namespace.

    The script records its namespace in MXBENCH_OUTER_NET before unshare.
    """
    outer = os.environ.get("MXBENCH_OUTER_NET")
    return bool(outer) and os.readlink("/proc/self/ns/net") != outer
