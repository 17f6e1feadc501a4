#!/bin/sh
# Installs everything mxgate needs to build and test on Debian 12, with apt-get.
# Usage: scripts/install-deps.sh [--bench]
#   --bench  also installs the peers the benchmarks compare against
#            (Postfix, OpenDKIM milter, policyd-spf, libspf2's spfquery).
set -eu

build="build-essential cmake pkg-config clang libclang-rt-14-dev
	libevent-dev libunbound-dev libssl-dev libinih-dev libcmocka-dev
	zlib1g-dev"
test="python3 python3-pytest python3-dnspython python3-dkim python3-nacl
	python3-yaml python3-spf swaks libio-socket-inet6-perl
	libnet-ssleay-perl knot knot-dnsutils opendkim-tools opendkim
	openssl iproute2 strace"
bench="postfix postfix-policyd-spf-python spfquery hyperfine"

pkgs="$build $test"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs $bench"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how it should be configured; a local-only answer keeps it quiet.
echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
