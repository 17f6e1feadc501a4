#!/bin/bash
# Installs dependencies, builds mxgate and runs it in the foreground on the
# bundled example configuration (Ctrl-C or SIGTERM stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/mxgate serve -c examples/mxgate.conf
