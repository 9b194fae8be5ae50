#!/usr/bin/env bash
# Tunnel throughput, packet rate, latency and CPU cost: ztpd against wireguard-go, in one run,
# on the same topology (topology.sh: two namespaces, one veth pair, nothing leaves the machine).
#
# For each pairing the tunnel is brought up (10.98.0.1 <-> 10.98.0.2, MTU 1420), then, client
# (A) to server (B), all bounded in time:
#   ping       200 pings at 10 ms on the underlay, then 200 through the tunnel: p50/p99 and the
#              tunnel's added latency (tunnel minus underlay, same percentile)
#   TCP x1     iperf3, one stream, -t SECONDS; both daemons' utime+stime from /proc/PID/stat
#              before and after give the CPU seconds per GB moved
#   TCP x4     iperf3 -P 4, -t SECONDS
#   UDP 64B    iperf3 -u -l 64 -b $UDP_RATE (0: as fast as the client can), -t SECONDS: the
#              datagrams per second the server received
# Pairings:
#   bare        the veth pair itself, no tunnel (the ceiling)
#   wg-go       wireguard-go on both ends
#   ztpd        ztpd on both ends
#   mixed       ztpd (client) against wireguard-go (server)
#   enforced    ztpd on both ends, the server enforcing a policy (every packet decided per flow)
#   ztpd-b, mixed-b, enforced-b   the same with the build in ZTPD_B (A/B in one run)
# Prints a table (medians over ROUNDS), ratios against wireguard-go with issue 9's targets
# (TCP single stream >= 3x, small-packet rate >= 2x, added p50 no worse, CPU/GB <= half),
# how close ztpd comes to the bare veth, B over A when ZTPD_B is given, and the enforcer's cost.
#
# Needs root, iproute2, iperf3, wireguard-go, wireguard-tools, python3. Builds ztpd in
# release mode first (scratch path .build-tunnel-release). Usage:
#   sudo Benchmarks/tunnel/throughput.sh [SECONDS]      (default 5)
# Environment:
#   ZTPD=/path/to/ztpd     skips the build
#   ZTPD_B=/path/to/ztpd   a second build, compared side by side (adds ztpd-b to the pairings)
#   PAIRINGS="wg-go ztpd"  picks pairings (default: bare wg-go ztpd mixed enforced [ztpd-b])
#   ROUNDS=3               runs the pairings in turn 3 times and reports medians (default 1)
#   UDP_RATE=0             iperf3 -b for the small-packet run (default 0, unlimited)
#   KEEP=1                 keeps the raw outputs (iperf3 JSON, pings) and prints where
# Run it under `flock /tmp/ztp-netns.lock` when other namespace tests share the machine.
set -euo pipefail

SECONDS_PER_RUN=${1:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-1}
UDP_RATE=${UDP_RATE:-0}
if [ -n "${ZTPD_B:-}" ]; then
    PAIRINGS=${PAIRINGS:-"bare wg-go ztpd ztpd-b mixed enforced"}
else
    PAIRINGS=${PAIRINGS:-"bare wg-go ztpd mixed enforced"}
fi
for tool in ip iperf3 wireguard-go wg python3 ping; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN)" >&2; exit 2; }
[[ "$SECONDS_PER_RUN" =~ ^[0-9]+$ ]] && [ "$SECONDS_PER_RUN" -ge 1 ] && [ "$SECONDS_PER_RUN" -le 120 ] \
    || { echo "SECONDS must be 1 to 120" >&2; exit 2; }
for pairing in $PAIRINGS; do
    case $pairing in
        bare|wg-go|ztpd|mixed|enforced) ;;
        ztpd-b|mixed-b|enforced-b) [ -n "${ZTPD_B:-}" ] || { echo "pairing $pairing needs ZTPD_B" >&2; exit 2; } ;;
        *) echo "unknown pairing $pairing" >&2; exit 2 ;;
    esac
done

if [ -z "${ZTPD:-}" ]; then
    echo "building ztpd (release)..." >&2
    (cd "$ROOT" && swift build -c release --product ztpd --scratch-path .build-tunnel-release >&2)
    ZTPD="$ROOT/.build-tunnel-release/release/ztpd"
fi
for binary in "$ZTPD" ${ZTPD_B:+"$ZTPD_B"}; do
    [ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }
done

TAG=$(printf '%04x' $((RANDOM)))
WORK=$(mktemp -d /tmp/ztp-bench-XXXXXX)
RAW=$WORK/raw
mkdir -p "$RAW"
# shellcheck source=topology.sh
. "$HERE/topology.sh"
finish() {
    if [ -n "${KEEP:-}" ]; then
        cp -r "$RAW" "/tmp/ztp-bench-raw-$TAG" && echo "raw outputs: /tmp/ztp-bench-raw-$TAG" >&2
    fi
    cleanup
}
trap finish EXIT INT TERM

# cpu_ticks PID...: utime + stime of each process, in clock ticks, space separated (fields 14
# and 15 of /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() {
    local pid out=()
    for pid in "$@"; do
        out+=("$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')")
    done
    echo "${out[@]}"
}

# measure NAME TARGET [DAEMON_PID...]: the four measurements, raw outputs to $RAW/NAME.*
measure() {
    local name=$1 target=$2; shift 2
    local limit=$((SECONDS_PER_RUN + 20))
    ip netns exec "$B" iperf3 -s -B "$target" >/dev/null 2>&1 &
    PIDS+=($!)
    ip netns exec "$A" ping -c 200 -i 0.01 -W 1 $UNDERLAY_B > "$RAW/$name.ping-underlay.txt" || true
    if [ "$target" != $UNDERLAY_B ]; then
        ip netns exec "$A" ping -c 200 -i 0.01 -W 1 "$target" > "$RAW/$name.ping-tunnel.txt" || true
    fi
    cpu_ticks "$@" > "$RAW/$name.cpu-before"
    ip netns exec "$A" timeout $limit iperf3 -c "$target" -t "$SECONDS_PER_RUN" -J > "$RAW/$name.tcp1.json" || true
    cpu_ticks "$@" > "$RAW/$name.cpu-after"
    ip netns exec "$A" timeout $limit iperf3 -c "$target" -t "$SECONDS_PER_RUN" -P 4 -J > "$RAW/$name.tcp4.json" || true
    ip netns exec "$A" timeout $limit iperf3 -c "$target" -t "$SECONDS_PER_RUN" -u -l 64 -b "$UDP_RATE" \
        -J > "$RAW/$name.udp.json" || true
}

# run_pairing NAME ROUND
run_pairing() {
    local name=$1 round=$2 implA implB
    case $name in
        wg-go) implA=wireguard-go; implB=wireguard-go ;;
        ztpd|ztpd-b) implA=ztpd; implB=ztpd ;;
        mixed|mixed-b) implA=ztpd; implB=wireguard-go ;;
        enforced|enforced-b) implA=ztpd; implB=ztpd-enforced ;;
    esac
    local BINARY=$ZTPD
    [[ $name == *-b ]] && BINARY=$ZTPD_B
    topology
    if [ "$name" = bare ]; then
        measure "$name.$round" $UNDERLAY_B
    elif tunnel_up "$implA" "$implB"; then
        measure "$name.$round" $TUNNEL_B "$PID_A" "$PID_B"
    fi
    teardown_topology
    python3 "$HERE/report.py" collect "$RAW" "$name.$round"
    python3 - "$RAW/results.jsonl" <<'PY' >&2
import json, sys
row = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("  %-10s TCP x1 %.3f  x4 %.3f Gbit/s  UDP %.1f kpps  added p50 %.3f ms  CPU %.2f s/GB" % (
    row["name"], row["tcp1_gbps"], row["tcp4_gbps"], row["udp_kpps"], row["added_p50"], row["cpu_s_per_gb"]))
PY
}

echo "tunnel benchmark: $SECONDS_PER_RUN s per transfer, $ROUNDS round(s), pairings: $PAIRINGS" >&2
echo "A: $ZTPD${ZTPD_B:+
B: $ZTPD_B}" >&2
for round in $(seq "$ROUNDS"); do
    for pairing in $PAIRINGS; do run_pairing "$pairing" "$round"; done
done
python3 "$HERE/report.py" table "$RAW"
