#!/bin/sh
# Slow-DNS benchmark (issue 3): 500 IPv6 sessions whose PTR lookups take
# 1 s each must all finish in about that time, an IPv4 session opened
# meanwhile must get every reply within 50 ms, and the RCPT decision with a
# warm cache must add little. See bench/README.md.
#
#   bench/slow_dns.sh [--sessions N] [--delay S] [--warm-messages N]
#                     [--json FILE] [--mxgate PATH]
#
# Needs root; runs in a private mount + network namespace like bench/e2e.sh.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
	echo "bench/slow_dns.sh: needs root (unshare)" >&2
	exit 2
fi

. "$ROOT/bench/lib/ns.sh"
[ -n "${MXBENCH_IN_NS:-}" ] || ns_enter "$0" "$@"

ns_setup
# 500 sessions, their files and the server's: more than the usual 1024.
ulimit -n 8192
# In the background, so that a signal to this shell runs its trap at once
# (a shell defers traps while a foreground command runs).
$PY "$ROOT/bench/lib/slow_dns.py" --tmp "$NS_TMP" "$@" &
wait $!
