#!/bin/bash
# Messages per second accepted over SMTP on [::1], driven by Postfix's
# smtp-source, for 1 KiB and 20 KiB messages with 1 and 20 sessions, in one
# run, side by side:
#   mxgate   - durable spool (fsync before 250), Maildir delivery behind it
#   postfix  - a throw-away Postfix receiving into its own queue (fsync'd
#              by cleanup before 250), then discarding (bench/smtp/*.cf.in)
#   pf+mdir  - the same Postfix delivering into a Maildir with virtual(8),
#              the work mxgate does after its 250 (bench/smtp/maildir.cf.in)
#   sink     - smtp-sink: the protocol ceiling, nothing stored
# and RSS of a fresh mxgate with 1,000 idle connections. Ratios are printed
# on each line.
# The work directory is on disk (TMPDIR, default /var/tmp), not tmpfs, so
# fsync costs what it costs. Needs root (Postfix's master).
# Usage: bench/smtp_throughput.sh [MESSAGES]
# Env: MXGATE_BIN, TMPDIR, SIZES="1024 20480", SESSIONS="1 20", ROUNDS=3,
# LOOPS=auto (mxgate's [server] loops)
# (the median of each is printed, and every round), KEEP=1 (keep the work
# directory and its logs).
set -euo pipefail
cd "$(dirname "$0")/.."
mxgate=$(realpath "${MXGATE_BIN:-build/mxgate}")
count=${1:-2000}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mxgate-smtp-bench.XXXXXX")
chmod 755 "$work"
mx_pid= sink_pid= pf_started= dns_pid=
cleanup() {
	[ -n "$mx_pid" ] && kill "$mx_pid" 2>/dev/null && wait "$mx_pid" || true
	[ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null && wait "$dns_pid" || true
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
	for d in $pf_started; do
		postfix -c "$d/etc" stop >/dev/null 2>&1
	done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 8192

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 100); do
		if /usr/bin/python3 -c "import socket,sys
socket.create_connection(('::1', $1), timeout=1).close()" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing answers on [::1]:$1" >&2
	return 1
}

# Queue directories must be empty between runs, so one run's backlog does
# not slow the next.
wait_empty() {
	for _ in $(seq 600); do
		if [ -z "$(find "$@" -type f 2>/dev/null | head -1)" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "queue did not drain: $*" >&2
	return 1
}

# mxgate's queue lives in reused slot files: ask it, not the directory.
wait_queue_empty() {
	for _ in $(seq 600); do
		if "$mxgate" queue -c "$work/mx/mxgate.conf" |
			grep -q '^0 messages queued'; then
			return 0
		fi
		sleep 0.1
	done
	echo "mxgate queue did not drain" >&2
	return 1
}

# --- mxgate, its checks answered by a Knot on loopback (bench/smtp/zones.py)
mkdir -p "$work/mx"
. bench/smtp/zones.sh
zones_start "$work"
cat > "$work/mx/mxgate.conf" <<CONF
[server]
hostname = mx.example.test
listen = [::1]:0
spool = spool
max_connections = 5000
max_connections_per_ip = 2000
loops = ${LOOPS:-auto}
; trusted (no policy refusals); its checks still run, from the cache after
; the first answers of the Knot above
[connector bench]
from = ::1/128
[dns]
servers = $dns_addr
[domain example.test]
deliver = maildir:mail
CONF
"$mxgate" serve -c "$work/mx/mxgate.conf" 2>"$work/mx/log" &
mx_pid=$!
for _ in $(seq 100); do
	grep -qs " ready " "$work/mx/log" && break
	sleep 0.1
done
mx_port=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$work/mx/log")

# RSS first, on a fresh process, before the runs grow its heap.
/usr/bin/python3 bench/smtp/idle.py "$mx_pid" ::1 "$mx_port" 1000 |
	awk '{ printf "mxgate RSS (fresh): %d KiB idle, %d KiB with %d idle connections (%d bytes each)\n", $3, $4, $2, $5 }'

# --- Postfix, twice: discarding, and delivering into a Maildir
# start_postfix DIR PORT [EXTRA_MAIN_CF_IN]
start_postfix() {
	local f
	mkdir -p "$1/etc" "$1/spool" "$1/data" "$1/mail"
	chown postfix:postfix "$1/data" "$1/mail"
	for f in main.cf master.cf; do
		sed -e "s|@DIR@|$1|g" -e "s|@PORT@|$2|g" \
			"bench/smtp/$f.in" > "$1/etc/$f"
	done
	if [ -n "${3:-}" ]; then
		sed -e "s|@DIR@|$1|g" -e "s|@UID@|$(id -u postfix)|g" \
			-e "s|@GID@|$(id -g postfix)|g" "$3" >> "$1/etc/main.cf"
	fi
	postfix -c "$1/etc" start >/dev/null 2>"$1/start.log" ||
		{ cat "$1/start.log" >&2; exit 1; }
	pf_started="$pf_started $1"
	wait_port "$2"
}
pf=$work/pf
pf_port=$(free_port)
start_postfix "$pf" "$pf_port"
pfm=$work/pfm
pfm_port=$(free_port)
start_postfix "$pfm" "$pfm_port" bench/smtp/maildir.cf.in

# --- smtp-sink
sink_port=$(free_port)
smtp-sink -u nobody -c "[::1]:$sink_port" 1000 >/dev/null &
sink_pid=$!
wait_port "$sink_port"

# run NAME PORT SIZE SESSIONS -> prints msgs/s
run() {
	local n=$count t0 t1
	[ "$4" = 1 ] && n=$((count / 4))
	t0=$(date +%s.%N)
	smtp-source -s "$4" -m "$n" -l "$3" -f bench@example.org \
		-t bench@example.test -M client.example.org "[::1]:$2" \
		2>>"$work/source.log"
	t1=$(date +%s.%N)
	echo "$n $t0 $t1" | awk '{ printf "%.0f", $1 / ($3 - $2) }'
}

# The median of the rounds, each round running the three servers one
# after the other, so that a burst of load from elsewhere on the machine
# skews one round, not one server.
median() {
	tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

rounds=${ROUNDS:-3}
printf "%-5s %4s %7s %8s %8s %9s %11s %12s %8s\n" size sess mxgate \
	postfix pf+mdir smtp-sink mx/postfix mx/pf+mdir mx/sink
for size in ${SIZES:-1024 20480}; do
	for sess in ${SESSIONS:-1 20}; do
		ms= ps= qs= ss=
		for _ in $(seq "$rounds"); do
			ms="$ms $(run mxgate "$mx_port" "$size" "$sess")"
			wait_queue_empty
			ps="$ps $(run postfix "$pf_port" "$size" "$sess")"
			wait_empty "$pf/spool/incoming" "$pf/spool/active"
			qs="$qs $(run pf+mdir "$pfm_port" "$size" "$sess")"
			wait_empty "$pfm/spool/incoming" "$pfm/spool/active"
			ss="$ss $(run sink "$sink_port" "$size" "$sess")"
		done
		m=$(echo $ms | median) p=$(echo $ps | median)
		q=$(echo $qs | median) s=$(echo $ss | median)
		echo "$size $sess $m $p $q $s" | awk '{ printf "%-5s %4s %7s %8s %8s %9s %10.1fx %11.1fx %7.0f%%\n", $1, $2, $3, $4, $5, $6, $3 / $4, $3 / $5, 100 * $3 / $6 }'
		echo "  rounds: mxgate$ms; postfix$ps; pf+mdir$qs; smtp-sink$ss"
	done
done
delivered=$(find "$work/mx/mail" -path '*/new/*' -type f | wc -l)
pf_delivered=$(find "$pfm/mail" -path '*/new/*' -type f | wc -l)
echo "Maildir files written during the runs: mxgate $delivered, pf+mdir $pf_delivered"
if [ -s "$work/source.log" ]; then
	echo "smtp-source reported:" >&2
	sort "$work/source.log" | uniq -c | head >&2
fi

