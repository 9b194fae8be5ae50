#!/usr/bin/env bash
# Tunnel throughput and latency: ztpd against wireguard-go, in one run, on the same topology.
#
# Two network namespaces joined by a veth pair (10.203.0.1 <-> 10.203.0.2, no other links,
# so nothing leaves the machine). For each pairing the tunnel is brought up between them
# (10.98.0.1 <-> 10.98.0.2), then iperf3 TCP (-t $SECONDS, client -> server) and ping
# (-c 20) run through it:
#   bare      the veth pair itself, no tunnel (the ceiling)
#   wg-go     wireguard-go on both ends
#   ztpd      ztpd on both ends
#   mixed     ztpd (client) against wireguard-go (server)
#   enforced  ztpd on both ends, the server enforcing a policy (every packet decided per flow)
# Prints Gbit/s and RTT for each, ztpd's ratios to wireguard-go, and what the enforcer costs.
#
# Needs root, iproute2, iperf3, wireguard-go, wireguard-tools, python3. Builds ztpd in
# release mode first (scratch path .build-tunnel-release). Usage:
#   sudo Benchmarks/tunnel/throughput.sh [SECONDS]      (default 5)
# Environment: ZTPD=/path/to/ztpd skips the build; PAIRINGS="wg-go ztpd" picks pairings.
set -euo pipefail

SECONDS_PER_RUN=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRINGS=${PAIRINGS:-"bare wg-go ztpd mixed enforced"}
for tool in ip iperf3 wireguard-go wg python3 ping; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN)" >&2; exit 2; }

if [ -z "${ZTPD:-}" ]; then
    echo "building ztpd (release)..." >&2
    (cd "$ROOT" && swift build -c release --product ztpd --scratch-path .build-tunnel-release >&2)
    ZTPD="$ROOT/.build-tunnel-release/release/ztpd"
fi

TAG=$(printf '%04x' $((RANDOM)))
A=ztpbA-$TAG; B=ztpbB-$TAG
WORK=$(mktemp -d /tmp/ztp-bench-XXXXXX)
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

topology() {
    ip netns add "$A"; ip netns add "$B"
    ip -n "$A" link set lo up; ip -n "$B" link set lo up
    ip -n "$A" link add vbA-$TAG type veth peer name vbB-$TAG netns "$B"
    ip -n "$A" addr add 10.203.0.1/24 dev vbA-$TAG
    ip -n "$B" addr add 10.203.0.2/24 dev vbB-$TAG
    ip -n "$A" link set vbA-$TAG up; ip -n "$B" link set vbB-$TAG up
}

teardown_topology() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
    PIDS=()
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    sleep 0.5
}

KEY_A=$(wg genkey); KEY_B=$(wg genkey)
PUB_A=$(echo "$KEY_A" | wg pubkey); PUB_B=$(echo "$KEY_B" | wg pubkey)

# start_end NS IMPL IFNAME PRIVATE PEERPUB PEERTUNNEL [ENDPOINT]
start_end() {
    local ns=$1 impl=$2 ifname=$3 private=$4 peer=$5 peertun=$6 endpoint=${7:-} port=51820
    if [ "$impl" = ztpd ] || [ "$impl" = ztpd-enforced ]; then
        umask 077
        local enforce=()
        if [ "$impl" = ztpd-enforced ]; then
            # The client's identity may reach iperf3 and ping on the server's tunnel address.
            mkdir -p "$WORK/policies"
            { echo "policy: bench"; echo "identities:"
              echo "  client: { key: \"$peer\", tags: [managed], allowed_ips: $peertun/32 }"
              echo "rules:"; echo "  - allow tag:managed -> 10.98.0.2:5201/tcp 10.98.0.2:*/icmp"; } > "$WORK/policies/bench.yaml"
            enforce=(--policies "$WORK/policies" --metrics off --decision-log off --control-socket "$WORK/$ifname.ctl")
        fi
        { echo "[Interface]"; echo "PrivateKey = $private"; echo "ListenPort = $port"
          echo "[Peer]"; echo "PublicKey = $peer"; echo "AllowedIPs = $peertun/32"
          [ -n "$endpoint" ] && echo "Endpoint = $endpoint"; } > "$WORK/$ifname.conf"
        ip netns exec "$ns" "$ZTPD" "$ifname" --foreground --config "$WORK/$ifname.conf" --log-level "${ZTPD_LOG_LEVEL:-warning}" \
            "${enforce[@]}" >"$WORK/$ifname.log" 2>&1 &
        PIDS+=($!)
    else
        WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$ifname" >"$WORK/$ifname.log" 2>&1 &
        PIDS+=($!)
        echo "$private" > "$WORK/$ifname.key"
    fi
    for _ in $(seq 100); do [ -S /var/run/wireguard/$ifname.sock ] && break; sleep 0.05; done
    if [ "$impl" = wireguard-go ]; then
        ip netns exec "$ns" wg set "$ifname" private-key "$WORK/$ifname.key" listen-port $port \
            peer "$peer" allowed-ips "$peertun/32" ${endpoint:+endpoint "$endpoint"}
    fi
}

# run_pairing NAME IMPL_A IMPL_B -> "gbps rtt_ms"
run_pairing() {
    local name=$1 implA=$2 implB=$3 target
    topology
    if [ "$name" = bare ]; then
        target=10.203.0.2
    else
        start_end "$B" "$implB" wgB-$TAG "$KEY_B" "$PUB_A" 10.98.0.1
        start_end "$A" "$implA" wgA-$TAG "$KEY_A" "$PUB_B" 10.98.0.2 10.203.0.2:51820
        ip -n "$A" addr add 10.98.0.1/24 dev wgA-$TAG; ip -n "$A" link set wgA-$TAG mtu 1420 up
        ip -n "$B" addr add 10.98.0.2/24 dev wgB-$TAG; ip -n "$B" link set wgB-$TAG mtu 1420 up
        target=10.98.0.2
        ip netns exec "$A" ping -c 3 -i 0.2 -W 2 $target >/dev/null || { echo "$name: tunnel did not come up" >&2; tail -n 20 "$WORK"/*.log >&2; }
    fi
    ip netns exec "$B" iperf3 -s -1 -B $target >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 0.5
    local gbps rtt
    gbps=$(ip netns exec "$A" timeout $((SECONDS_PER_RUN + 20)) iperf3 -c $target -t "$SECONDS_PER_RUN" -J \
        | python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' \
        || echo 0)
    rtt=$(ip netns exec "$A" ping -c 20 -i 0.05 -W 2 $target | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    teardown_topology
    echo "$gbps ${rtt:-nan}"
}

declare -A GBPS RTT
printf '%-8s %12s %14s\n' pairing "TCP Gbit/s" "ping avg ms"
for pairing in $PAIRINGS; do
    case $pairing in
        bare) result=$(run_pairing bare - -) ;;
        wg-go) result=$(run_pairing wg-go wireguard-go wireguard-go) ;;
        ztpd) result=$(run_pairing ztpd ztpd ztpd) ;;
        mixed) result=$(run_pairing mixed ztpd wireguard-go) ;;
        enforced) result=$(run_pairing enforced ztpd ztpd-enforced) ;;
        *) echo "unknown pairing $pairing" >&2; continue ;;
    esac
    GBPS[$pairing]=${result% *}; RTT[$pairing]=${result#* }
    printf '%-8s %12s %14s\n' "$pairing" "${GBPS[$pairing]}" "${RTT[$pairing]}"
done
if [ -n "${GBPS[ztpd]:-}" ] && [ -n "${GBPS[wg-go]:-}" ]; then
    python3 - "${GBPS[ztpd]}" "${GBPS[wg-go]}" "${RTT[ztpd]}" "${RTT[wg-go]}" <<'PY'
import sys
z, w, zr, wr = map(float, sys.argv[1:])
print("ztpd/wireguard-go throughput ratio: %.2f" % (z / w if w else float("nan")))
print("ztpd/wireguard-go RTT ratio:        %.2f" % (zr / wr if wr else float("nan")))
PY
fi
if [ -n "${GBPS[ztpd]:-}" ] && [ -n "${GBPS[enforced]:-}" ]; then
    python3 - "${GBPS[ztpd]}" "${GBPS[enforced]}" <<'PY'
import sys
off, on = map(float, sys.argv[1:])
print("enforcer on/off throughput:         %.2f (cost %.1f%%)" % (on / off if off else float("nan"), 100 * (1 - on / off) if off else float("nan")))
PY
fi
