#!/bin/bash
# Installs dependencies, builds mxgate (optimised, with ASan+UBSan, with
# ThreadSanitizer), runs each fuzz target briefly, the whole test suite on
# the first two builds and its threaded parts on the third. Exits non-zero
# if anything fails.
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

echo "== build: ThreadSanitizer"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXGATE_TSAN=ON \
	>/dev/null
cmake --build build-tsan -j"$jobs"

echo "== fuzz targets (clang, libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug \
	-DMXGATE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
bash fuzz/run-all.sh build-fuzz "${FUZZ_SECONDS:-20}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== tests: ASan+UBSan build"
(cd build-asan && ctest --output-on-failure -j"$jobs")

# The parts where threads meet: the handoff, the work pool, the spool's
# commits from several loops, and the server with its loops (the e2e tests
# run the TSan binary, which exits non-zero on a race).
echo "== tests: ThreadSanitizer build, threaded parts"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure \
	-j"$jobs" -R 'handoff|unit_work|unit_spool|e2e_test_smtp$|e2e_test_deliver|e2e_test_spf_pyspf')

echo "== tests: release build"
(cd build && ctest --output-on-failure -j"$jobs")
