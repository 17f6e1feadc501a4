# Shell helpers for the benchmarks, sourced inside the private mount +
# network namespace that bench/e2e.sh and bench/slow_dns.sh enter.
#
# ns_setup: makes NS_TMP (a work directory, removed on exit unless
# MXBENCH_KEEP is set, for looking at the logs afterwards), points
# /etc/resolv.conf at the bench DNS address (a bind mount, private to this
# mount namespace) and installs an EXIT trap that stops every process still
# running in this network namespace. Only this run's processes can be in
# it, so the sweep never touches anything else, and it catches daemons that
# detached (the Postfix master) if the Python side could not stop them.

NS_DNS_HOST=127.0.6.53

# Writes the pids to NS_TMP/pids; not through $(...), whose subshell would
# list itself.
ns_pids() {
	self_ns=$(readlink /proc/$$/ns/net)
	: >"$NS_TMP/pids"
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$self_ns" ] || continue
		echo "$pid" >>"$NS_TMP/pids"
	done
	pids=$(cat "$NS_TMP/pids")
}

ns_cleanup() {
	rc=$?
	ns_pids
	if [ -n "$pids" ]; then
		echo "bench: stopping leftover processes: $(echo $pids)" >&2
		kill $pids 2>/dev/null || true
		i=0
		while [ $i -lt 50 ] && ns_pids && [ -n "$pids" ]; do
			sleep 0.1
			i=$((i + 1))
		done
		ns_pids
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	fi
	umount /etc/resolv.conf 2>/dev/null || true
	if [ -n "${MXBENCH_KEEP:-}" ]; then
		echo "bench: work directory kept: $NS_TMP" >&2
	else
		rm -rf "$NS_TMP"
	fi
	exit $rc
}

ns_setup() {
	NS_TMP=$(mktemp -d /tmp/mxgate-bench.XXXXXX)
	chmod 755 "$NS_TMP"
	trap ns_cleanup EXIT
	trap 'exit 130' INT TERM
	ip link set lo up
	printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$NS_DNS_HOST" \
		>"$NS_TMP/resolv.conf"
	mount --bind "$NS_TMP/resolv.conf" /etc/resolv.conf
}
