# Sourced by bench/smtp_throughput.sh and bench/syscalls.sh (from the
# repository root): zones_start DIR starts bench/smtp/zones.py, the
# loopback Knot that answers mxgate's checks, and sets dns_pid (for the
# caller's cleanup to kill) and dns_addr (HOST:PORT for [dns] servers).
zones_start() {
	/usr/bin/python3 bench/smtp/zones.py > "$1/dns.addr" 2>"$1/dns.log" &
	dns_pid=$!
	for _ in $(seq 100); do
		[ -s "$1/dns.addr" ] && break
		sleep 0.1
	done
	dns_addr=$(cat "$1/dns.addr")
	[ -n "$dns_addr" ] || { cat "$1/dns.log" >&2; exit 1; }
}
