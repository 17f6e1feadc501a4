#!/bin/bash
# The policy walkthrough: each reply of the IPv6 rule, and accepted mail,
# with mxgate, a Knot DNS server for the sending domain on 127.0.0.1:5353,
# and swaks sending from 2001:db8:feed:: addresses it adds to lo. Needs
# root and the packages of scripts/install-deps.sh. Leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mxgate=${MXGATE_BIN:-$repo/build/mxgate}
if [ ! -x "$mxgate" ]; then
	(cd "$repo" && cmake -S . -B build >/dev/null &&
		cmake --build build -j"$(nproc)" >/dev/null)
fi
work=$(mktemp -d)
pids=""
cleanup() {
	[ -n "$pids" ] && kill $pids 2>/dev/null && wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

for a in 2001:db8:feed::25 2001:db8:feed::66 2001:db8:feed:1::25; do
	ip -6 addr add "$a/128" dev lo nodad 2>/dev/null || true
done

# A DKIM key for sender.test, made now; its public half goes in the zone.
openssl genpkey -algorithm ed25519 -out "$work/dkim.pem" 2>/dev/null
pub=$(openssl pkey -in "$work/dkim.pem" -pubout -outform DER | tail -c 32 |
	base64)
seed=$(openssl pkey -in "$work/dkim.pem" -outform DER | tail -c 32 | base64)
cp "$here/sender.test.zone" "$here/feed.zone" "$work/"
echo "ed._domainkey TXT \"v=DKIM1; k=ed25519; p=$pub\"" \
	>>"$work/sender.test.zone"
mv "$work/feed.zone" "$work/d.e.e.f.8.b.d.0.1.0.0.2.ip6.arpa.zone"
cat >"$work/knot.conf" <<KNOT
server:
    rundir: "$work"
    listen: 127.0.0.1@5353
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$work/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$work"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: sender.test
  - domain: d.e.e.f.8.b.d.0.1.0.0.2.ip6.arpa
KNOT
/usr/sbin/knotd -c "$work/knot.conf" 2>"$work/knot.log" &
pids="$!"
cp "$here/mxgate.conf" "$work/"
"$mxgate" serve -c "$work/mxgate.conf" 2>"$work/mxgate.log" &
pids="$pids $!"
for _ in $(seq 50); do
	grep -q " ready " "$work/mxgate.log" && break
	sleep 0.1
done

# Sends one message with swaks and prints the reply that decided it.
try() {
	local title=$1 source=$2 from=$3 to=$4 data=${5:-}
	echo "== $title"
	echo "   from [$source] MAIL FROM:<$from> RCPT TO:<$to>"
	swaks --server ::1 --port 2526 --local-interface "$source" \
		--ehlo mail.sender.test --from "$from" --to "$to" \
		${data:+--data "$data"} 2>&1 |
		grep -E '^<(-|\*\*) +[245][0-9][0-9] ' | grep -v -E \
		'^<- +(220|221|250-|250 (mx|Ok$|2\.1\.[05] Ok))' | tail -1 ||
		true
}

try "domain not opted in to anonymous IPv6 mail" 2001:db8:feed::25 \
	alice@sender.test carol@contoso.test
try "no reverse DNS for the sending address" 2001:db8:feed::66 \
	alice@sender.test bob@example.test
try "neither SPF nor DKIM passes" 2001:db8:feed:1::25 \
	alice@sender.test bob@example.test
try "SPF passes: accepted" 2001:db8:feed::25 alice@sender.test \
	bob@example.test

/usr/bin/python3 - "$seed" >"$work/signed.eml" <<'PY'
import sys, dkim
msg = (b"From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\n"
       b"Subject: signed by sender.test\r\n\r\nHello Bob.\r\n")
sig = dkim.sign(msg, b"ed", b"sender.test", sys.argv[1].encode(),
                signature_algorithm=b"ed25519-sha256",
                canonicalize=(b"relaxed", b"relaxed"))
sys.stdout.buffer.write(sig + msg)
PY
try "SPF fails, DKIM passes: accepted" 2001:db8:feed:1::25 \
	alice@sender.test bob@example.test "$work/signed.eml"

sleep 0.5
echo "== the header fields mxgate added to the last message"
last=$(ls -t "$work"/var/mail/example.test/bob/new/* | head -1)
sed -n '/^Delivered-To:/,/^DKIM-Signature:/p' "$last" | sed '$d'
echo "== its log lines"
grep -E " (rcpt|msg) " "$work/mxgate.log" | cut -d' ' -f3- | sed 's/^/   /'
