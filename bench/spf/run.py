#!/usr/bin/python3
"""The body of bench/spf.sh; runs inside fresh net and mount namespaces.

Four record shapes, each cold (every check asks for a domain no cache has
seen) and warm (one domain, asked again and again):
  plain    v=spf1 ip4:... ip6:... -all
  include  three nested includes
  a-mx     v=spf1 a mx -all, IPv6 client
  exists   exists:%{ir}.%{v}._spf.%{d} (IPv6 nibbles)
Peers: mxgate (one loop with 1 and with 100 checks in flight, and 100 in
flight spread over one loop per core, as the server runs), libspf2's spfquery
-file (sequential, its own DNS cache; once as one process, once as two
processes on the two halves of the list at the same time), pyspf
spf.check2() in a loop (sequential, no cache). Rates are checks per
second; p50/p99 are per-check latencies (spfquery only reports a batch, so
its latency is the mean; mxgate's at c=100 include the time a check waits
behind the 99 others). Every peer's result list is compared, check by
check, with mxgate's. Ratios compare mxgate with the faster peer, and
mxgate c=100 with the two spfquery processes (issue 4's target for cold:
2x).
"""

import ipaddress
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "e2e"))
import knot  # noqa: E402

MXGATE = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
# Another build to measure in the same run, for before/after figures.
BASELINE = sys.argv[3] if len(sys.argv) > 3 else None
N_COLD = min(N, 5000)
N_PY = min(N, 1000)     # pyspf is slow: fewer checks, same rate measure
CLIENT6 = "2001:db8:4:1::25"
CLIENT4 = "192.0.2.25"
ORIGIN = "bench.test"


def rev6(ip):
    return ipaddress.IPv6Address(ip).reverse_pointer[:-len(".ip6.arpa")]


def shape_records(shape, name):
    """Records (relative to ORIGIN) for one domain of a shape."""
    if shape == "plain":
        return {name: ['TXT "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.0/24 '
                       'ip6:2001:db8:4::/48 -all"']}
    if shape == "include":
        return {
            name: [f'TXT "v=spf1 include:i1.{name}.{ORIGIN} -all"'],
            f"i1.{name}": [f'TXT "v=spf1 ip4:198.51.100.0/24 '
                           f'include:i2.{name}.{ORIGIN} ~all"'],
            f"i2.{name}": [f'TXT "v=spf1 ip6:2001:db8:5::/48 '
                           f'include:i3.{name}.{ORIGIN} ~all"'],
            f"i3.{name}": ['TXT "v=spf1 ip4:192.0.2.0/24 '
                           'ip6:2001:db8:4::/48 -all"'],
        }
    if shape == "a-mx":
        return {
            name: ['TXT "v=spf1 a mx -all"', "A 198.51.100.1",
                   "AAAA 2001:db8:5::1", f"MX 10 mx.{name}"],
            f"mx.{name}": [f"AAAA {CLIENT6}", f"A {CLIENT4}"],
        }
    if shape == "exists":
        return {
            name: [f'TXT "v=spf1 exists:%{{ir}}.%{{v}}._spf.%{{d}} -all"'],
            f"{rev6(CLIENT6)}.ip6._spf.{name}": ["A 127.0.0.2"],
        }
    raise ValueError(shape)


SHAPES = ["plain", "include", "a-mx", "exists"]


def build_zone():
    zone = {}
    for shape in SHAPES:
        zone.update(shape_records(shape, f"warm-{shape}"))
        for i in range(N_COLD):
            zone.update(shape_records(shape, f"c{i}-{shape}"))
    return zone


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


LOOPS = os.cpu_count() or 1


def run_mxgate(lines, concurrency, tmp, binary=MXGATE, loops=1):
    path = os.path.join(tmp, "q.txt")
    with open(path, "w") as f:
        f.writelines(f"{CLIENT6} {s} mx.example\n" for s in lines)
    p = subprocess.run([binary, "spf", "--dns", "127.0.0.1:53", "--batch",
                        path, "--concurrency", str(concurrency)] +
                       (["--loops", str(loops)] if loops > 1 else []),
                       capture_output=True, text=True, check=True)
    results = p.stdout.split()
    stats = dict(kv.split("=") for kv in p.stderr.split()
                 if "=" in kv)
    return (results, float(stats["rate"].rstrip("/s")),
            float(stats["p50_us"]), float(stats["p99_us"]))


def run_spfquery(lines, tmp, procs=1):
    """procs spfquery processes at once, each on its share of lines."""
    share = (len(lines) + procs - 1) // procs
    paths = []
    for i in range(procs):
        paths.append(os.path.join(tmp, f"q{i}.txt"))
        with open(paths[i], "w") as f:
            f.writelines(f"{CLIENT6} {s} mx.example\n"
                         for s in lines[i * share:(i + 1) * share])
    t0 = time.monotonic()
    ps = [subprocess.Popen(["spfquery", "-file", path],
                           stdout=subprocess.PIPE, text=True)
          for path in paths]
    outs = [p.communicate()[0] for p in ps]
    secs = time.monotonic() - t0
    # one block per query; the first line of each is the result word
    words = [ln for out in outs for ln in out.splitlines()
             if ln in ("pass", "fail", "softfail", "neutral", "none",
                       "permerror", "temperror")]
    mean = secs / len(lines) * 1e6
    return words, len(lines) / secs, mean, mean


def run_pyspf(lines):
    import dns.resolver
    import spf
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = 53
    dns.resolver.default_resolver = r
    lat, results = [], []
    t0 = time.monotonic()
    for s in lines:
        t = time.monotonic()
        results.append(spf.check2(i=CLIENT6, s=s, h="mx.example")[0])
        lat.append((time.monotonic() - t) * 1e6)
    secs = time.monotonic() - t0
    return results, len(lines) / secs, pct(lat, 0.5), pct(lat, 0.99)


def main():
    import warnings
    warnings.simplefilter("ignore")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tmp = tempfile.mkdtemp(prefix="mxgate-spfbench-")
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"],
                   check=True)
    knot.free_port = lambda host="127.0.0.1": 53  # our own namespace
    print(f"zone: {len(SHAPES)} shapes x {N_COLD} cold domains + warm; "
          f"checks: warm {N}, cold {N_COLD}, pyspf {N_PY}; "
          f"mxgate c=100: {LOOPS} loops (1L: one)")
    with knot.Knot({ORIGIN: build_zone()}, timeout=120):
        rows = []
        for shape in SHAPES:
            for mode in ("cold", "warm"):
                if mode == "warm":
                    lines = [f"u@warm-{shape}.{ORIGIN}"] * N
                else:
                    lines = [f"u@c{i}-{shape}.{ORIGIN}"
                             for i in range(N_COLD)]
                res = {}
                # Every run is a new process: its caches start empty, and
                # Knot (authoritative) has none, so cold stays cold.
                res["mxgate c=1"] = run_mxgate(lines, 1, tmp)
                res["mxgate c=100 1L"] = run_mxgate(lines, 100, tmp)
                res["mxgate c=100"] = run_mxgate(lines, 100, tmp,
                                                 loops=LOOPS)
                if BASELINE:
                    res["base c=100"] = run_mxgate(lines, 100, tmp,
                                                   BASELINE)
                res["spfquery"] = run_spfquery(lines, tmp)
                res["spfquery x2"] = run_spfquery(lines, tmp, 2)
                py_from = 0 if mode == "warm" else len(lines) - N_PY
                res["pyspf"] = run_pyspf(lines[py_from:py_from + N_PY])
                rows.append((shape, mode, res, py_from))
    print_table(rows)


def print_table(rows):
    print(f"{'shape':8} {'cache':5} {'peer':16} {'checks/s':>10} "
          f"{'p50 us':>9} {'p99 us':>9}  results")
    for shape, mode, res, py_from in rows:
        ref = res["mxgate c=1"][0]
        for peer, (results, rate, p50, p99) in res.items():
            summary = ",".join(sorted(set(results)))
            first = py_from if peer == "pyspf" else 0
            want = ref[first:first + len(results)]
            differ = sum(a != b for a, b in zip(results, want)) + \
                abs(len(want) - len(results))
            same = "" if peer == "mxgate c=1" else \
                f" ({differ} differ)" if differ else " (same)"
            print(f"{shape:8} {mode:5} {peer:16} {rate:10.0f} {p50:9.1f} "
                  f"{p99:9.1f}  {summary}{same}")
        best_peer = max(res["spfquery"][1], res["spfquery x2"][1],
                        res["pyspf"][1])
        print(f"{'':8} {'':5} {'ratio':16} mxgate c=1 / best peer = "
              f"{res['mxgate c=1'][1] / best_peer:.1f}x, c=100 / best peer "
              f"= {res['mxgate c=100'][1] / best_peer:.1f}x, c=100 / "
              f"spfquery x2 = "
              f"{res['mxgate c=100'][1] / res['spfquery x2'][1]:.1f}x")


main()
