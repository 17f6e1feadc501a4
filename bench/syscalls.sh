#!/bin/bash
# System calls per message made by mxgate serve, counted with strace -f -c
# while Postfix's smtp-source sends N messages, one per connection, one
# session at a time, from a trusted loopback connector. Its checks (reverse
# DNS, SPF) are answered by a Knot on loopback (bench/smtp/zones.py) during
# the warm-up, then from each loop's cache. Spool fsync and Maildir
# delivery are included: they are part of a message's cost.
# Usage: bench/syscalls.sh [MESSAGES]   (default 200)
# Env: MXGATE_BIN, TMPDIR, KEEP=1 (keep the work directory), LOOPS=auto
set -euo pipefail
cd "$(dirname "$0")/.."
mxgate=$(realpath "${MXGATE_BIN:-build/mxgate}")
count=${1:-200}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mxgate-syscalls.XXXXXX")
mx_pid= st_pid= dns_pid=
cleanup() {
	[ -n "$st_pid" ] && kill "$st_pid" 2>/dev/null || true
	[ -n "$mx_pid" ] && kill "$mx_pid" 2>/dev/null && wait "$mx_pid" || true
	[ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null && wait "$dns_pid" || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

. bench/smtp/zones.sh
zones_start "$work"

cat > "$work/mxgate.conf" <<CONF
[server]
hostname = mx.example.test
listen = [::1]:0
spool = spool
loops = ${LOOPS:-auto}
[dns]
servers = $dns_addr
[connector bench]
from = ::1/128
[domain example.test]
deliver = maildir:mail
CONF
"$mxgate" serve -c "$work/mxgate.conf" 2>"$work/log" &
mx_pid=$!
for _ in $(seq 100); do
	grep -qs " ready " "$work/log" && break
	sleep 0.1
done
port=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$work/log")
[ -n "$port" ] || { cat "$work/log" >&2; exit 1; }

# Ten messages first, so start-up work (first spool files, Maildir
# folders, each loop's first DNS answers) is not counted.
smtp-source -m 10 -s 1 -f bench@example.org -t bench@example.test \
	"[::1]:$port" 2>>"$work/source.log"
strace -f -c -o "$work/strace" -p "$mx_pid" 2>"$work/strace.log" &
st_pid=$!
sleep 1
smtp-source -c -m "$count" -s 1 -f bench@example.org -t bench@example.test \
	"[::1]:$port" >/dev/null 2>>"$work/source.log"
# Deliveries finish behind the 250s: let the workers drain.
for _ in $(seq 100); do
	n=$(find "$work/mail" -type f -path '*/new/*' 2>/dev/null | wc -l)
	[ "$n" -ge $((count + 10)) ] && break
	sleep 0.1
done
sleep 0.5
kill -INT "$st_pid"
wait "$st_pid" || true
st_pid=
echo "mxgate system calls per message ($count messages, one per connection):"
awk -v n="$count" '
	$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
		printf "%10.2f  %s\n", $4 / n, $NF
	}
	$NF == "total" { total = $4 }
	END { printf "%10.2f  total\n", total / n }
' "$work/strace" | sort -k1,1 -rn
