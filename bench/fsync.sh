#!/bin/bash
# The disk's fsync ceiling (a lone write+fsync+rename+dir-fsync loop, then
# 16 such writers: what a queue file per message costs) next to the spool's
# slot commits with 1 and 20 commits in flight. Usage: bench/fsync.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
build=${2:-build}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mxgate-fsync.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -std=c17 -D_GNU_SOURCE -Isrc -o "$work/fsync" bench/fsync.c \
	"$build/libmx_spool.a" "$build/libmx_base.a" \
	$(pkg-config --libs libevent_core zlib) -lpthread
for n in 1 16; do
	mkdir -p "$work/raw$n"
	"$work/fsync" raw "$n" "$secs" "$work/raw$n"
done
for n in 1 20; do
	"$work/fsync" spool "$n" "$secs" "$work/spool$n" 2>/dev/null
done
