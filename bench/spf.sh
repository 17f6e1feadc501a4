#!/bin/bash
# SPF benchmark: mxgate against libspf2 (spfquery) and pyspf, same Knot,
# same run. Runs in private network and mount namespaces so that Knot can
# serve on 127.0.0.1:53 and every peer's resolver (glibc's resolv.conf for
# libspf2, dnspython for pyspf, --dns for mxgate) reaches the same server
# without touching the host (needs root).
# Usage: bench/spf.sh [BUILD_DIR] [CHECKS] [BASELINE_BUILD_DIR]
# (with a baseline build, its c=100 figures come in the same run)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
checks=${2:-20000}
[ -x "$build/mxgate" ] || { echo "build $build/mxgate first" >&2; exit 2; }
base=()
if [ -n "${3:-}" ]; then
	[ -x "$3/mxgate" ] || { echo "no $3/mxgate" >&2; exit 2; }
	base=("$(realpath "$3/mxgate")")
fi
exec unshare --net --mount /usr/bin/python3 bench/spf/run.py \
	"$build/mxgate" "$checks" "${base[@]}"
