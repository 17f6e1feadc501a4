#!/bin/bash
# Runs one libFuzzer target for SECONDS, on a scratch copy of its corpus so
# the seeds in the repository stay as they are. On a finding it prints the
# fuzzer's report and exits non-zero; the input is left as crash-* here.
# Usage: fuzz/run.sh TARGET SECONDS [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target}
seconds=${2:-60}
build=${3:-build-fuzz}
work=fuzz/corpus-work/$target
mkdir -p "$work" "fuzz/corpus/$target"
cp -n fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
log=$(mktemp)
if ! "$build/$target" -max_total_time="$seconds" -print_final_stats=0 \
	-close_fd_mask=3 "$work" >"$log" 2>&1; then
	tail -60 "$log"
	rm -f "$log"
	echo "fuzz: $target FAILED"
	exit 1
fi
echo "fuzz: $target ${seconds}s: $(grep -E '^Done' "$log" || echo done)"
rm -f "$log"
