#!/usr/bin/env bash
# Adding many peers through the UAPI (issue 15 item 3): `wg addconf` of N peers with one /32
# each, timed on ztpd and on wireguard-go, with a ping through ztpd's tunnel meanwhile; then
# `wg show dump` (a get=1 of all of them) and `wg setconf` of the same peers (replace_peers).
#
# Two network namespaces joined by a veth pair (10.204.0.1 <-> 10.204.0.2, no other links,
# so nothing leaves the machine): ztpd in A, wireguard-go in B, tunnel 10.97.0.1 <-> 10.97.0.2.
# The ping (every 10 ms, A -> B through the tunnel) runs while ztpd takes the N peers; its
# RTT is compared with a ping of the idle tunnel just before.
#
# Needs root, iproute2, wireguard-go, wireguard-tools, python3, ping. Builds ztpd in release
# mode first (scratch path .build-tunnel-release, shared with Benchmarks/tunnel). Usage:
#   sudo Benchmarks/uapi/many-peers.sh [PEERS]      (default 10000)
# Environment: ZTPD=/path/to/ztpd skips the build.
set -euo pipefail

PEERS=${1:-10000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for tool in ip wireguard-go wg python3 ping; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN)" >&2; exit 2; }

if [ -z "${ZTPD:-}" ]; then
    echo "building ztpd (release)..." >&2
    (cd "$ROOT" && swift build -c release --product ztpd --scratch-path .build-tunnel-release >&2)
    ZTPD="$ROOT/.build-tunnel-release/release/ztpd"
fi

TAG=$(printf '%04x' $((RANDOM)))
A=ztpuA-$TAG; B=ztpuB-$TAG; IFA=wuA-$TAG; IFB=wuB-$TAG
WORK=$(mktemp -d /tmp/ztp-uapi-bench-XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$A"; ip netns add "$B"
ip -n "$A" link set lo up; ip -n "$B" link set lo up
ip -n "$A" link add vuA-$TAG type veth peer name vuB-$TAG netns "$B"
ip -n "$A" addr add 10.204.0.1/24 dev vuA-$TAG; ip -n "$B" addr add 10.204.0.2/24 dev vuB-$TAG
ip -n "$A" link set vuA-$TAG up; ip -n "$B" link set vuB-$TAG up

umask 077
KEY_A=$(wg genkey); KEY_B=$(wg genkey)
PUB_A=$(echo "$KEY_A" | wg pubkey); PUB_B=$(echo "$KEY_B" | wg pubkey)
{ echo "[Interface]"; echo "PrivateKey = $KEY_A"; echo "ListenPort = 51820"
  echo "[Peer]"; echo "PublicKey = $PUB_B"; echo "AllowedIPs = 10.97.0.2/32"; echo "Endpoint = 10.204.0.2:51820"; } > "$WORK/a.conf"
ip netns exec "$A" "$ZTPD" "$IFA" --foreground --config "$WORK/a.conf" --log-level warning >"$WORK/ztpd.log" 2>&1 &
PIDS+=($!)
WG_PROCESS_FOREGROUND=1 ip netns exec "$B" wireguard-go "$IFB" >"$WORK/wireguard-go.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S /var/run/wireguard/$IFA.sock ] && [ -S /var/run/wireguard/$IFB.sock ] && break; sleep 0.05; done
echo "$KEY_B" > "$WORK/b.key"
ip netns exec "$B" wg set "$IFB" private-key "$WORK/b.key" listen-port 51820 peer "$PUB_A" allowed-ips 10.97.0.1/32
ip -n "$A" addr add 10.97.0.1/24 dev "$IFA"; ip -n "$A" link set "$IFA" mtu 1420 up
ip -n "$B" addr add 10.97.0.2/24 dev "$IFB"; ip -n "$B" link set "$IFB" mtu 1420 up
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 10.97.0.2 >/dev/null || { echo "tunnel did not come up" >&2; tail -n 20 "$WORK"/*.log >&2; exit 1; }

# N peers with random public keys (any 32 bytes will do) and one /32 each in 10.100.0.0/14.
python3 - "$PEERS" > "$WORK/peers.conf" <<'PY'
import base64, os, sys
for i in range(int(sys.argv[1])):
    print("[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.%d.%d/32" % (base64.b64encode(os.urandom(32)).decode(), 100 + (i >> 16), (i >> 8) & 255, i & 255))
PY
{ cat "$WORK/a.conf"; cat "$WORK/peers.conf"; } > "$WORK/all.conf"

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
rtt() { sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\2 \3|p'; }  # avg max

idle=$(ip netns exec "$A" ping -c 100 -i 0.01 -W 2 10.97.0.2 | rtt)

ip netns exec "$A" ping -i 0.01 -W 2 10.97.0.2 > "$WORK/ping.txt" 2>&1 &
PING=$!; PIDS+=($PING)
sleep 0.5
t0=$(now); ip netns exec "$A" wg addconf "$IFA" "$WORK/peers.conf"; t1=$(now)
sleep 0.5
kill -INT "$PING"; wait "$PING" 2>/dev/null || true
during=$(rtt < "$WORK/ping.txt")
loss=$(sed -n 's|.* \([0-9.]*%\) packet loss.*|\1|p' "$WORK/ping.txt")

loaded=$(ip netns exec "$A" ping -c 100 -i 0.01 -W 2 10.97.0.2 | rtt)

t2=$(now); count=$(ip netns exec "$A" wg show "$IFA" dump | wc -l); t3=$(now)
t4=$(now); ip netns exec "$B" wg addconf "$IFB" "$WORK/peers.conf"; t5=$(now)
t6=$(now); ip netns exec "$A" wg setconf "$IFA" "$WORK/all.conf"; t7=$(now)
after=$(ip netns exec "$A" wg show "$IFA" peers | wc -l)

# Issue 15 item 2: peer B2, then peer A2 with 45,000 allowed IPs, in one file of about 1.35 MB.
python3 > "$WORK/large.conf" <<'PY'
import base64, os
key = lambda: base64.b64encode(os.urandom(32)).decode()
print("[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.1/32" % key())
print("[Peer]\nPublicKey = %s" % key())
for i in range(45000):
    print("AllowedIPs = fd00:1234:5678:9abc::%x/128" % i)
PY
large_status=0; t8=$(now); ip netns exec "$A" wg addconf "$IFA" "$WORK/large.conf" || large_status=$?; t9=$(now)
large_routes=$(ip netns exec "$A" wg show "$IFA" allowed-ips | tr ' \t' '\n\n' | grep -c '^fd00:1234:5678:9abc::' || true)

echo "peers: $PEERS (one /32 each); ztpd holds $((count - 1)) after addconf, $after after setconf"
echo "ztpd          wg addconf: $(elapsed "$t0" "$t1") s"
echo "wireguard-go  wg addconf: $(elapsed "$t4" "$t5") s"
echo "ztpd          wg show dump: $(elapsed "$t2" "$t3") s"
echo "ztpd          wg setconf (replace_peers, $((PEERS + 1)) peers): $(elapsed "$t6" "$t7") s"
echo "ztpd          wg addconf of $(du -k "$WORK/large.conf" | cut -f1) KiB, 45,000 allowed IPs on one peer: $(elapsed "$t8" "$t9") s, exit $large_status, $large_routes routes held"
echo "tunnel ping, idle:             avg/max ${idle// / / } ms"
echo "tunnel ping, during addconf:   avg/max ${during// / / } ms, loss ${loss:-?}"
echo "tunnel ping, idle, $PEERS more peers: avg/max ${loaded// / / } ms"
