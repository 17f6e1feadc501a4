#!/bin/bash
# Installs dependencies, builds mxgate twice (optimised, and with ASan+UBSan),
# runs the whole test suite on both builds, then runs each fuzz target
# briefly. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== build: release (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

echo "== build: ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMXGATE_SANITIZE=ON \
	>/dev/null
cmake --build build-asan -j"$jobs"

echo "== fuzz targets (clang, libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug \
	-DMXGATE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
bash fuzz/run-all.sh build-fuzz "${FUZZ_SECONDS:-20}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== tests: ASan+UBSan build"
(cd build-asan && ctest --output-on-failure -j"$jobs")

echo "== tests: release build"
(cd build && ctest --output-on-failure -j"$jobs")
