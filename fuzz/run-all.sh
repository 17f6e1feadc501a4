#!/bin/bash
# Runs every libFuzzer target found in BUILD_DIR for SECONDS each, starting
# from its seed corpus in fuzz/corpus/TARGET. A crash fails the run and
# leaves the input in the working directory.
# Usage: fuzz/run-all.sh BUILD_DIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
seconds=${2:-20}
found=0
for bin in "$build"/*_fuzz; do
	[ -x "$bin" ] || continue
	found=$((found + 1))
	bash fuzz/run.sh "$(basename "$bin")" "$seconds" "$build"
done
echo "fuzz: $found targets, ${seconds}s each, no findings"
