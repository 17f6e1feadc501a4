#!/bin/sh
# End-to-end benchmark: mxgate against Postfix + policyd-spf + OpenDKIM,
# same DNS, same signed messages, same load, one run. See bench/README.md.
#
#   bench/e2e.sh [--messages N] [--seconds S] [--sessions N]
#                [--only peer|mxgate] [--json FILE] [--mxgate PATH]
#
# Needs root (network namespace, Postfix). Everything runs in a private
# mount + network namespace: its own lo with 2001:db8:6::/48 addresses, Knot
# on 127.0.6.53:53, /etc/resolv.conf bind-mounted to point there. Nothing
# outside changes; every process started is stopped on exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
	echo "bench/e2e.sh: needs root (unshare, Postfix)" >&2
	exit 2
fi

. "$ROOT/bench/lib/ns.sh"
[ -n "${MXBENCH_IN_NS:-}" ] || ns_enter "$0" "$@"

# From here on: inside the private namespaces.
ns_setup

# In the background, so that a signal to this shell runs its trap at once
# (a shell defers traps while a foreground command runs).
$PY "$ROOT/bench/lib/e2e.py" --tmp "$NS_TMP" "$@" &
wait $!
