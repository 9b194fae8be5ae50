#!/usr/bin/env bash
# Soak under faults (issue 12): an edge ztpd with XDP and a policy, CLIENTS clients (half
# wireguard-go, half ztpd, each in its own namespace) and, all at once for the whole run:
#   - an iperf3 transfer (IPERF_RATE) from client 2, a ztpd, through the tunnel to the origin
#     (not from a wireguard-go client: between it and the edge, 1420-byte inner packets, a full
#     MTU, do not get through here while 1401-byte ones do; see BENCHMARKS.md),
#   - one ICMP echo every 0.2 s from every client to the origin (pinger.py),
#   - a fault every EVENT_EVERY seconds, alternating a roam (a new underlay address added, the
#     old one deleted) of a ztpd client and a restart (wireguard-go or ztpd killed and started
#     again: a new handshake) of any client but 1 and 2 (2 is the iperf3 one). Only the
#     ztpd clients roam: wireguard-go v0.0.20220316 (Debian's) keeps sending from the deleted
#     source address (its sticky socket) for about 15 s, "network is unreachable", which is the
#     client's limitation, not the edge's; the edge follows a ztpd client's roam within ms,
#   - a policy reload every 2 s alternating a good edit and a broken one (reloader.py),
#   - junk and 148-byte initiation-shaped datagrams at the edge's UDP port (flood.py),
#   - `wg show` and `ztpc status` polled every second,
#   - a TCP probe of the denied port 22 and the allowed port 5432 every 3 s.
# The edge's RSS and open fds are sampled every 5 s. analyze.py then asserts: ztpd alive with
# one pid throughout; RSS and fds grew < 10 % after warm-up (first 20 %); no ping lost outside
# its client's roam/restart windows (fault start - 1 s to recovery + SLACK); every reload
# applied or refused with file:line:col; the denied port never connected (and the origin never
# accepted on it); iperf3, the flood and the polls ran. Exit status 0 when all pass.
#
# Topology (nothing is routed outside the namespaces): clients c1..cN and the flooder hang off a
# Linux bridge in a hub namespace (underlay 172.30.0.0/16: edge 172.30.0.1, client i 172.30.1.i,
# roamed to 172.30.2.i and back); the edge forwards tunnel traffic (10.99.0.0/24, client i is
# 10.99.0.(10+i)) to the origin 10.10.0.7 (TCP echo on 5432 and 22, iperf3 -s). The XDP guard is
# on the edge's underlay link, which carries every client's and the flooder's datagrams.
#
# Needs root, iproute2, wireguard-go, wireguard-tools, iperf3, python3, ping; bpf/ztp_xdp.o
# (bpf/build.sh). Usage:
#   sudo Benchmarks/soak/soak.sh [MINUTES]     (default 10; a fraction is fine: 0.5)
# Environment: SOAK_SECONDS overrides MINUTES; CLIENTS (default 20); ZTPD, ZTPC skip the build
# (else a debug build); EVENT_EVERY (default 4 s); FLOOD_RATE (default 2000 datagrams/s);
# IPERF_RATE (default 10M); SLACK (default 3 s); KEEP=1 keeps the work directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MINUTES=${1:-10}
DURATION=${SOAK_SECONDS:-$(python3 -c "import sys; print(max(20, int(float(sys.argv[1]) * 60)))" "$MINUTES")}
CLIENTS=${CLIENTS:-20}
EVENT_EVERY=${EVENT_EVERY:-4}
FLOOD_RATE=${FLOOD_RATE:-2000}
IPERF_RATE=${IPERF_RATE:-10M}
SLACK=${SLACK:-3}
PORT=51820

for tool in ip wireguard-go wg iperf3 python3 ping; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$CLIENTS" -ge 4 ] || { echo "CLIENTS must be at least 4" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN, XDP)" >&2; exit 2; }
[ -f "$ROOT/bpf/ztp_xdp.o" ] || { echo "missing $ROOT/bpf/ztp_xdp.o: run bpf/build.sh" >&2; exit 2; }
if [ -z "${ZTPD:-}" ] || [ -z "${ZTPC:-}" ]; then
    echo "building ztpd and ztpc (debug)..." >&2
    (cd "$ROOT" && swift build --product ztpd >&2 && swift build --product ztpc >&2)
    BIN=$(cd "$ROOT" && swift build --show-bin-path)
    ZTPD=${ZTPD:-$BIN/ztpd}; ZTPC=${ZTPC:-$BIN/ztpc}
fi

TAG=$(printf '%04x' $((RANDOM)))
NS=zs$TAG; E=$NS-e; O=$NS-o; H=$NS-h; F=$NS-f
EIF=zse$TAG
WORK=$(mktemp -d /tmp/ztp-soak-XXXXXX)
PIDS=()
declare -A CPID
cleanup() {
    for pid in "${PIDS[@]:-}" "${CPID[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]:-}" "${CPID[@]:-}"; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; done
    for ns in "$E" "$O" "$H" "$F" $(seq -f "$NS-c%g" 1 "$CLIENTS"); do ip netns del "$ns" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM
now() { date +%s.%N; }
log() { echo "[soak $(date -u +%H:%M:%S)] $*" >&2; }

# Topology.
for ns in "$E" "$O" "$H" "$F"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$H" link add z-br type bridge; ip -n "$H" link set z-br up
ip -n "$E" link add z-ul type veth peer name z-he netns "$H"
ip -n "$E" addr add 172.30.0.1/16 dev z-ul; ip -n "$E" link set z-ul up
ip -n "$H" link set z-he master z-br up
ip -n "$E" link add z-eo type veth peer name z-oe netns "$O"
ip -n "$E" addr add 10.10.0.1/24 dev z-eo; ip -n "$E" link set z-eo up
ip -n "$O" addr add 10.10.0.7/24 dev z-oe; ip -n "$O" link set z-oe up
ip -n "$O" route add 10.99.0.0/24 via 10.10.0.1
ip netns exec "$E" sysctl -qw net.ipv4.ip_forward=1
attach() {  # namespace, hub port name, underlay address
    ip -n "$1" link add z-u type veth peer name "$2" netns "$H"
    # A roam adds the new address before deleting the old one in the same /16: the new one must
    # survive as the primary rather than go with the old (promote_secondaries).
    ip netns exec "$1" sysctl -qw net.ipv4.conf.z-u.promote_secondaries=1
    ip -n "$1" addr add "$3" dev z-u; ip -n "$1" link set z-u up
    ip -n "$H" link set "$2" master z-br up
}
attach "$F" z-hf 172.30.3.1/16
for i in $(seq "$CLIENTS"); do ip netns add "$NS-c$i"; ip -n "$NS-c$i" link set lo up; attach "$NS-c$i" "z-hc$i" "172.30.1.$i/16"; done

# Keys and policy.
umask 077
EKEY=$(wg genkey); EPUB=$(echo "$EKEY" | wg pubkey); echo "$EKEY" > "$WORK/edge.key"
declare -A KEY
PUBS=()
for i in $(seq "$CLIENTS"); do KEY[$i]=$(wg genkey); PUBS+=("$(echo "${KEY[$i]}" | wg pubkey)"); done
mkdir -p "$WORK/variants" "$WORK/policies"
python3 "$HERE/policy.py" "$WORK/variants" "${PUBS[@]}"
cp "$WORK/variants/good-a.yaml" "$WORK/policies/soak.yaml"

# Origin and edge.
ip netns exec "$O" python3 "$HERE/origin.py" 10.10.0.7 5432 22 > "$WORK/origin.log" 2>&1 & PIDS+=($!)
ip netns exec "$O" iperf3 -s -B 10.10.0.7 > "$WORK/iperf-server.txt" 2>&1 & PIDS+=($!)
SOCK=$WORK/edge.sock
(cd "$ROOT" && exec ip netns exec "$E" "$ZTPD" "$EIF" --foreground --private-key "$WORK/edge.key" --listen-port $PORT \
    --policies "$WORK/policies" --address 10.99.0.1/24 --metrics off --control-socket "$SOCK" \
    --decision-log "$WORK/decisions.jsonl" --allow-log-sample 1000 --xdp-interface z-ul --log-level info) > "$WORK/edge.log" 2>&1 &
EPID=$!; PIDS+=($EPID)
for _ in $(seq 300); do [ -S "$SOCK" ] && break; kill -0 $EPID 2>/dev/null || break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "the edge's ztpd did not start:" >&2; tail -n 30 "$WORK/edge.log" >&2; exit 1; }
grep -qi "xdp" "$WORK/edge.log" && log "edge: $(grep -i -m1 xdp "$WORK/edge.log" | cut -c1-160)"

# Clients: odd ones wireguard-go, even ones ztpd.
kind() { if [ $(($1 % 2)) = 1 ]; then echo wireguard-go; else echo ztpd; fi; }
start_client() {
    local i=$1 ns=$NS-c$1 ifc=zc$1$TAG addr=10.99.0.$((10 + $1))
    if [ "$(kind "$i")" = wireguard-go ]; then
        WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$ifc" >> "$WORK/c$i.log" 2>&1 &
        CPID[$i]=$!
        for _ in $(seq 200); do [ -S /var/run/wireguard/$ifc.sock ] && break; sleep 0.05; done
        echo "${KEY[$i]}" > "$WORK/c$i.key"
        ip netns exec "$ns" wg set "$ifc" private-key "$WORK/c$i.key" peer "$EPUB" endpoint 172.30.0.1:$PORT allowed-ips 10.99.0.1/32,10.10.0.0/24
        ip -n "$ns" addr add "$addr/32" dev "$ifc"; ip -n "$ns" link set "$ifc" mtu 1420 up
    else
        printf '[Interface]\nPrivateKey = %s\n\n[Peer]\nPublicKey = %s\nEndpoint = 172.30.0.1:%s\nAllowedIPs = 10.99.0.1/32, 10.10.0.0/24\n' \
            "${KEY[$i]}" "$EPUB" $PORT > "$WORK/c$i.conf"
        ip netns exec "$ns" "$ZTPD" "$ifc" --foreground --config "$WORK/c$i.conf" --address "$addr/32" --metrics off \
            --log-level warning >> "$WORK/c$i.log" 2>&1 &
        CPID[$i]=$!
        for _ in $(seq 300); do [ -S /var/run/wireguard/$ifc.sock ] && break; sleep 0.05; done
    fi
    ip -n "$ns" route add 10.10.0.0/24 dev "$ifc"
}
stop_client() {
    kill "${CPID[$1]}" 2>/dev/null || true
    wait "${CPID[$1]}" 2>/dev/null || true
    for _ in $(seq 100); do [ -e /var/run/wireguard/zc$1$TAG.sock ] || break; sleep 0.05; done
}
reaches() { ip netns exec "$NS-c$1" ping -c 1 -W 1 10.10.0.7 >/dev/null 2>&1; }
wait_reaches() { for _ in $(seq "$2"); do reaches "$1" && return 0; done; return 1; }
for i in $(seq "$CLIENTS"); do start_client "$i"; done
for i in $(seq "$CLIENTS"); do
    wait_reaches "$i" 15 || { echo "client $i ($(kind "$i")) cannot reach the origin" >&2; tail -n 20 "$WORK/edge.log" "$WORK/c$i.log" >&2; exit 1; }
done
log "$CLIENTS clients up ($(((CLIENTS + 1) / 2)) wireguard-go, $((CLIENTS / 2)) ztpd); soaking for $DURATION s"

# Everything at once.
T0=$(now)
: > "$WORK/events.txt"; : > "$WORK/probes.txt"; : > "$WORK/polls.txt"; : > "$WORK/samples.txt"
python3 "$HERE/pinger.py" 10.10.0.7 0.2 "$DURATION" "$WORK/pings.json" \
    $(for i in $(seq "$CLIENTS"); do echo "$NS-c$i=c$i"; done) > "$WORK/pinger.log" 2>&1 & PINGER=$!; PIDS+=($PINGER)
timeout $((DURATION + 30)) ip netns exec "$NS-c2" iperf3 -c 10.10.0.7 --connect-timeout 5000 -t "$((DURATION - 5))" -b "$IPERF_RATE" > "$WORK/iperf.txt" 2>&1 & IPERF=$!; PIDS+=($IPERF)
python3 "$HERE/reloader.py" "$ZTPC" "$SOCK" "$WORK/variants" "$WORK/policies/soak.yaml" 2 "$DURATION" > "$WORK/reloads.txt" 2> "$WORK/reloader.log" & RELOADER=$!; PIDS+=($RELOADER)
ip netns exec "$F" python3 "$HERE/flood.py" 172.30.0.1 $PORT "$FLOOD_RATE" "$DURATION" > "$WORK/flood.txt" 2>&1 & FLOOD=$!; PIDS+=($FLOOD)
END=$(python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]))" "$T0" "$DURATION")
before_end() { python3 -c "import sys, time; sys.exit(0 if time.time() + float(sys.argv[2]) < float(sys.argv[1]) else 1)" "$END" "$1"; }
( while before_end 0; do
      s=0; t=0
      ip netns exec "$E" wg show "$EIF" > /dev/null 2>&1 || s=$?
      "$ZTPC" status --socket "$SOCK" > /dev/null 2>&1 || t=$?
      echo "$(now) $s $t" >> "$WORK/polls.txt"; sleep 1
  done ) & PIDS+=($!)
( while before_end 0; do
      if [ -d /proc/$EPID ] && kill -0 $EPID 2>/dev/null; then
          echo "$(now) $EPID $(awk '/^VmRSS:/ { print $2 }' /proc/$EPID/status) $(ls /proc/$EPID/fd | wc -l)" >> "$WORK/samples.txt"
      else echo "$(now) dead" >> "$WORK/samples.txt"; fi
      sleep 5
  done ) & PIDS+=($!)
( n=0; while before_end 0; do
      c=$((n % CLIENTS + 1)); n=$((n + 1))
      for port in 22 5432; do
          r=$(ip netns exec "$NS-c$c" python3 -c "
import socket, sys
s = socket.socket(); s.settimeout(1)
try: s.connect(('10.10.0.7', int(sys.argv[1]))); print('connected')
except socket.timeout: print('timeout')
except OSError as e: print('refused')" "$port")
          echo "$(now) $port $r c$c" >> "$WORK/probes.txt"
      done
      sleep 3
  done ) & PIDS+=($!)

# The faults, in this shell (the clients are its children).
n=0; roamed=()
sleep 2
while before_end $((EVENT_EVERY + 8)); do
    n=$((n + 1))
    if [ $((n % 2)) = 1 ]; then
        i=$(( ((n / 2) % (CLIENTS / 2 - 1)) * 2 + 4 )); ns=$NS-c$i  # the ztpd clients but 2, in turn
        if [ "${roamed[$i]:-0}" = 1 ]; then old=172.30.2.$i; new=172.30.1.$i; roamed[$i]=0; else old=172.30.1.$i; new=172.30.2.$i; roamed[$i]=1; fi
        t0=$(now)
        ip -n "$ns" addr add "$new/16" dev z-u; ip -n "$ns" addr del "$old/16" dev z-u
        wait_reaches "$i" 15 || log "client $i did not reach the origin within 15 s of roaming"
        echo "c$i roam $t0 $(now)" >> "$WORK/events.txt"
    else
        i=$(( (n / 2) % (CLIENTS - 2) + 3 ))
        t0=$(now)
        stop_client "$i"; start_client "$i"
        wait_reaches "$i" 15 || log "client $i ($(kind "$i")) did not reach the origin within 15 s of its restart"
        echo "c$i restart $t0 $(now)" >> "$WORK/events.txt"
    fi
    sleep "$EVENT_EVERY"
done
log "faults done ($n); waiting for the rest to finish"
wait "$PINGER" "$RELOADER" "$FLOOD" || true  # each stops by itself after DURATION
wait "$IPERF" || log "iperf3 exited with status $?"
sleep 6  # the samplers' last round

status=0
python3 "$HERE/analyze.py" "$WORK" "$DURATION" "$SLACK" | tee "$WORK/summary.txt" || status=$?
[ -s "$WORK/summary.txt" ] || status=1
if [ "$status" != 0 ]; then
    echo "--- edge.log (tail) ---" >&2; tail -n 40 "$WORK/edge.log" >&2
    echo "--- reloads (not applied/refused) ---" >&2; grep NEITHER "$WORK/reloads.txt" | head -5 >&2 || true
    echo "--- iperf3 (tail) ---" >&2; tail -n 5 "$WORK/iperf.txt" >&2
fi
exit "$status"
