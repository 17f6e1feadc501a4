#!/bin/bash
# DKIM verification speed: mxgate next to dkimpy and OpenDKIM on the same
# signed messages (4 KiB and 64 KiB, rsa-sha256 2048-bit and
# ed25519-sha256, relaxed/relaxed), keys from files (no DNS), and the
# ceiling OpenSSL itself gives for one signature check plus SHA-256 over
# the same number of bytes (openssl speed). Prints verifications/s and
# ratios. All rates are per second of CPU time (user + system), the way
# openssl speed counts by default, so a busy host skews them alike.
#
# mxgate: `mxgate dkim --bench N` (one process, key cache as in the
# server). dkimpy: a loop in one python3 process. OpenDKIM: `opendkim -t`
# over the file repeated N times in one process, startup subtracted by
# also timing one file.
#
# Usage: bench/dkim.sh [BUILD_DIR] [SECONDS_PER_MEASUREMENT]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-3}
bin=$build/mxgate
[ -x "$bin" ] || { echo "bench/dkim.sh: build $bin first" >&2; exit 2; }
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl genrsa -out "$tmp/rsa.pem" 2048 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$tmp/ed.pem" 2>/dev/null
chmod 600 "$tmp"/*.pem
openssl pkey -in "$tmp/ed.pem" -outform DER | tail -c 32 >"$tmp/ed.seed"
rsa_p=$(openssl pkey -in "$tmp/rsa.pem" -pubout -outform DER | base64 -w0)
ed_p=$(openssl pkey -in "$tmp/ed.pem" -pubout -outform DER | tail -c 32 |
	base64 -w0)
rsa_rec="v=DKIM1; k=rsa; p=$rsa_p"
ed_rec="v=DKIM1; k=ed25519; p=$ed_p"
# mxgate --keys: zone lines, TXT cut into 255-octet strings.
{
	printf 'rsa._domainkey.example.com. TXT "%s" "%s"\n' \
		"${rsa_rec:0:255}" "${rsa_rec:255}"
	printf 'ed._domainkey.example.com. TXT "%s"\n' "$ed_rec"
} >"$tmp/keys.zone"
# OpenDKIM TestPublicKeys: "NAME RECORD" lines.
printf 'rsa._domainkey.example.com %s\ned._domainkey.example.com %s\n' \
	"$rsa_rec" "$ed_rec" >"$tmp/keys.txt"
printf '{"rsa._domainkey.example.com": "%s", "ed._domainkey.example.com": "%s"}\n' \
	"$rsa_rec" "$ed_rec" >"$tmp/keys.json"
printf 'Mode v\nSyslog no\nTestPublicKeys %s\n' "$tmp/keys.txt" \
	>"$tmp/opendkim.conf"
$py bench/dkim/dkimpy.py sign "$tmp"

# Every figure is the best of three runs: on a shared host the best run
# is the one least disturbed by others, for OpenSSL as for mxgate.
best3() {
	local a b c
	a=$("$@")
	b=$("$@")
	c=$("$@")
	printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -g | tail -1
}

# openssl speed figures, measured in this same run.
speed() { openssl speed -seconds "$secs" "$@" 2>/dev/null; }
rsa_verify() { speed rsa2048 | awk '/^rsa 2048 bits/ { print $NF }'; }
ed_verify() { speed ed25519 | awk '/Ed25519/ { print $NF }'; }
sha() {
	speed -evp sha256 -bytes "$1" | awk '/^sha256/ { v = $NF;
		sub(/k$/, "", v); print v * 1000 }'
}
rsa_v=$(best3 rsa_verify)
ed_v=$(best3 ed_verify)
sha_4096=$(best3 sha 4096)
sha_65536=$(best3 sha 65536)

# Verifications/s of mxgate over about $secs seconds.
mxgate_rate() {
	local f=$1 n=200 out
	while :; do
		out=$("$bin" dkim --keys "$tmp/keys.zone" --bench $n "$f" \
			2>&1 >/dev/null)
		local s=${out#* in }
		s=${s%% s CPU:*}
		if awk -v s="$s" -v t="$secs" 'BEGIN { exit !(s >= t / 2) }'
		then
			echo "${out##*: }" | tr -d '/s'
			return
		fi
		n=$((n * 4))
	done
}

# CPU seconds (user + system) of one opendkim -t run over the files $1.
opendkim_cpu() {
	local TIMEFORMAT='%U + %S'
	{ time opendkim -x "$tmp/opendkim.conf" -t "$1" >/dev/null 2>&1; } \
		2>&1 | bc -l
}

opendkim_rate() {
	local f=$1 n=$2 list t1 tn
	list=$(printf "$f,%.0s" $(seq "$n"))
	t1=$(opendkim_cpu "$f")
	tn=$(opendkim_cpu "${list%,}")
	echo "($n - 1) / ($tn - $t1)" | bc -l
}

printf '%-15s %6s %10s %10s %10s %10s  %8s %8s %8s\n' alg size \
	mxgate dkimpy opendkim ceiling "mx/ceil" "mx/py" "mx/odkim"
for alg in rsa ed; do
	for size in 4096 65536; do
		f=$tmp/$alg-$size.eml
		"$bin" dkim --keys "$tmp/keys.zone" "$f" | grep -q '^pass ' ||
			{ echo "mxgate does not pass $f" >&2; exit 1; }
		opendkim -x "$tmp/opendkim.conf" -vv -t "$f" 2>&1 |
			grep -q 'verification.*succeeded' ||
			{ echo "opendkim does not pass $f" >&2; exit 1; }
		bytes=$(stat -c %s "$f")
		if [ $alg = rsa ]; then v=$rsa_v; name=rsa-sha256
		else v=$ed_v; name=ed25519-sha256; fi
		shav=sha_$size
		ceil=$(echo "1 / (1 / $v + $bytes / ${!shav})" | bc -l)
		mx=$(best3 mxgate_rate "$f")
		pyr=$($py bench/dkim/dkimpy.py time "$tmp" "$f" 300)
		od=$(opendkim_rate "$f" 300)
		printf '%-15s %5dK %10.0f %10.0f %10.0f %10.0f  %7.0f%% %7.1fx %7.1fx\n' \
			$name $((size / 1024)) "$mx" "$pyr" "$od" "$ceil" \
			"$(echo "100 * $mx / $ceil" | bc -l)" \
			"$(echo "$mx / $pyr" | bc -l)" "$(echo "$mx / $od" | bc -l)"
	done
done
echo "ceiling: openssl speed: rsa2048 verify ${rsa_v}/s, ed25519 verify" \
	"${ed_v}/s, sha256 $(echo "$sha_65536 / 1000000" | bc) MB/s (64 KiB" \
	"blocks); host load: $(cut -d' ' -f1-3 /proc/loadavg)"
