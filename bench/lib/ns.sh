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

# ns_enter SCRIPT ARGS...: builds build/mxgate if it is missing, then runs
# SCRIPT again inside new private mount + network namespaces (ROOT is the
# repository; MXBENCH_IN_NS marks the inner run).
ns_enter() {
	script=$1
	shift
	if [ ! -x "$ROOT/build/mxgate" ]; then
		echo "$(basename "$script"): building mxgate" >&2
		cmake -S "$ROOT" -B "$ROOT/build" >/dev/null
		cmake --build "$ROOT/build" -j2 >/dev/null
	fi
	MXBENCH_OUTER_NET=$(readlink /proc/self/ns/net)
	export MXBENCH_OUTER_NET
	MXBENCH_IN_NS=1 exec unshare --mount --net --propagation private \
		"$script" "$@"
}

# Sets pids to the processes in this network namespace but this shell.
# One find over /proc/*/ns/net (a readlink per process is slow with
# hundreds); the glob is expanded by this shell before find forks, so no
# helper process of ours is listed.
ns_pids() {
	pat=$(readlink /proc/$$/ns/net | sed 's/[][]/\\&/g')
	find /proc/[0-9]*/ns/net -maxdepth 0 -lname "$pat" \
		>"$NS_TMP/pids" 2>/dev/null || true
	pids=""
	while IFS=/ read -r _ _ pid _; do
		[ "$pid" = $$ ] || pids="$pids $pid"
	done <"$NS_TMP/pids"
}

ns_cleanup() {
	rc=$?
	ns_pids
	[ -z "$pids" ] || echo "bench: stopping leftover processes:$pids" >&2
	# TERM again each round for late children (the Postfix master may
	# have forked one meanwhile); KILL after 4 s.
	i=0
	while [ -n "$pids" ] && [ $i -lt 60 ]; do
		if [ $i -lt 40 ]; then
			kill $pids 2>/dev/null || true
		else
			kill -9 $pids 2>/dev/null || true
		fi
		sleep 0.1
		i=$((i + 1))
		ns_pids
	done
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
