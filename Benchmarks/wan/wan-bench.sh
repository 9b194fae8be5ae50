#!/usr/bin/env bash
# WAN emulation benchmark: ztpd and wireguard-go, in one run, over emulated long-haul paths.
#
# Three network namespaces per measurement, created here and deleted on exit (also on failure):
#
#   client  wcC-TAG 10.205.0.1/24 ==veth== [ middle: delay-bridge ] ==veth== wsS-TAG 10.205.0.2/24  edge
#   tunnel  10.97.0.1                                                                    10.97.0.2
#
# No namespace has any other link, so nothing sent here can reach the machine's uplink. The middle
# namespace forwards frames between its two veths with delay-bridge.c (AF_PACKET, built here with
# gcc): one-way delay, uniform jitter and random loss per direction, FIFO (jitter never reorders),
# seeded. Where the kernel has the netem qdisc, EMULATOR=netem uses a kernel bridge and netem on
# the middle veths instead (this machine has no netem; that path is untested here).
#
# Profiles (one-way delay each direction; RTT is twice that):
#   same-region  10 ms RTT        us-eu  80 ms RTT        us-asia  180 ms RTT
#   cellular     60 ms RTT, +-5 ms uniform jitter and 1% loss each way (about 2% per round trip)
#
# Stacks: ztpd (both ends), wg-go (wireguard-go both ends), mixed (ztpd client, wireguard-go edge).
# For each profile and stack, on a path freshly built with the same seed:
#   cold handshake  COLD trials, each with both daemons just started and no handshake yet: the
#                   first packet (a ping, or a TCP connect) enters the client's tunnel; tcpdump on
#                   the client's TUN and underlay gives the time from that packet to the first
#                   transport data sent after the handshake response (tunnel up), the handshake's
#                   round trip on the wire, and the initiator's own processing. Also the cold
#                   ping's reply time and the cold TCP time to first byte.
#   first byte      python3 server in the edge namespace; the client measures connect() to the
#                   first response byte, on a cold tunnel and then WARM times on the warm one.
#   added latency   PINGS pings on the underlay, then PINGS through the tunnel (interval 50 ms);
#                   added = tunnel minus underlay, p50 and p99 (nearest rank).
#   reconnect       ROAMS times: the client's underlay address is replaced on the same interface
#                   (10.205.0.1 -> .11 -> .12 -> ...); then pings go through the tunnel every 10 ms
#                   and the time from the first one sent to the first reply is the reconnect time.
# Neighbour entries are static so that ARP through the delayed path does not count as handshake.
#
# Needs root, iproute2, ethtool, tcpdump, gcc, python3, wireguard-go, wireguard-tools, ping.
# Builds ztpd in release mode first (scratch path .build-wan). Usage:
#   sudo Benchmarks/wan/wan-bench.sh [PROFILE...]       (default: all four)
# Environment: ZTPD=/path/to/ztpd skips the build; STACKS="ztpd wg-go mixed"; COLD=6 (half ping,
# half TCP); PINGS=100; WARM=5; ROAMS=3; SEED=1; EMULATOR=auto|bridge|netem; OUT=results.md
# (the markdown table is also written there). Bounded: every tool has a count and a deadline;
# the whole run takes about 5 minutes (305 s measured).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILES=${*:-"same-region us-eu us-asia cellular"}
STACKS=${STACKS:-"ztpd wg-go mixed"}
COLD=${COLD:-6}
PINGS=${PINGS:-100}
WARM=${WARM:-5}
ROAMS=${ROAMS:-3}
SEED=${SEED:-1}
EMULATOR=${EMULATOR:-auto}
PYTHON=$(command -v /usr/bin/python3 || command -v python3)

for tool in ip ethtool tcpdump gcc wireguard-go wg ping timeout; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN, packet sockets)" >&2; exit 2; }

TAG=$(printf '%04x' $((RANDOM)))
C=ztpwC-$TAG; M=ztpwM-$TAG; S=ztpwS-$TAG
CIF=wcC-$TAG; MC=wmC-$TAG; MS=wmS-$TAG; SIF=wsS-$TAG
TUNC=wtC-$TAG; TUNS=wtS-$TAG
CLIENT_IP=10.205.0.1; EDGE_IP=10.205.0.2; TUN_C=10.97.0.1; TUN_S=10.97.0.2
PORT=51820; HTTP_PORT=8080
WORK=$(mktemp -d /tmp/ztp-wan-XXXXXX)
RESULTS=$WORK/results.tsv
: > "$RESULTS"
PIDS=()

stop_pids() {
    local pid
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

delete_namespaces() {
    local ns
    for ns in "$C" "$M" "$S"; do ip netns del "$ns" 2>/dev/null || true; done
}

cleanup() {
    PIDS+=(${SERVER_PID:-} ${BRIDGE_PID:-})
    stop_pids
    delete_namespaces
    if [ -n "${KEEP_WORK:-}" ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# netem where the kernel has it: try it on a dummy device in a scratch namespace.
netem_available() {
    local ns=ztpwT-$TAG ok=1
    ip netns add "$ns"
    ip netns exec "$ns" tc qdisc add dev lo root netem delay 1ms 2>/dev/null && ok=0
    ip netns del "$ns"
    return $ok
}
if [ "$EMULATOR" = auto ]; then
    if netem_available; then EMULATOR=netem; else EMULATOR=bridge; fi
fi
echo "path emulator: $EMULATOR" >&2

BRIDGE=$WORK/delay-bridge
[ "$EMULATOR" = bridge ] && gcc -O2 -Wall -o "$BRIDGE" "$HERE/delay-bridge.c" -lm

if [ -z "${ZTPD:-}" ]; then
    echo "building ztpd (release)..." >&2
    (cd "$ROOT" && swift build -c release --product ztpd --scratch-path .build-wan >&2)
    ZTPD="$ROOT/.build-wan/release/ztpd"
fi

# profile NAME -> "one-way-ms jitter-ms loss-percent" per direction
profile_params() {
    case $1 in
        same-region) echo "5 0 0" ;;
        us-eu) echo "40 0 0" ;;
        us-asia) echo "90 0 0" ;;
        cellular) echo "30 5 1" ;;
        *) echo "unknown profile $1" >&2; exit 2 ;;
    esac
}

# Builds the three namespaces and starts the path emulator for PROFILE.
topology() {
    local delay jitter loss
    read -r delay jitter loss <<<"$(profile_params "$1")"
    for ns in "$C" "$M" "$S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
    # Created inside the namespaces, never in the root namespace.
    ip -n "$C" link add "$CIF" type veth peer name "$MC" netns "$M"
    ip -n "$S" link add "$SIF" type veth peer name "$MS" netns "$M"
    # IPv4 only on the path: no router solicitations or MLD reports through the bridge.
    ip netns exec "$C" sysctl -qw net.ipv6.conf."$CIF".disable_ipv6=1 net.ipv4.conf."$CIF".promote_secondaries=1
    ip netns exec "$S" sysctl -qw net.ipv6.conf."$SIF".disable_ipv6=1
    ip netns exec "$M" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    # The bridge copies frames through packet sockets, and a copied frame is sent with no
    # checksum offload state: a UDP/TCP checksum the sender left to offload (CHECKSUM_PARTIAL on
    # veth) would arrive incomplete and the receiver would drop it. So the endpoints compute full
    # checksums themselves (tx off, which also turns off TSO; GSO off so that no frame is larger
    # than the MTU).
    ip netns exec "$C" ethtool -K "$CIF" tx off gso off >/dev/null 2>&1
    ip netns exec "$S" ethtool -K "$SIF" tx off gso off >/dev/null 2>&1
    ip -n "$C" addr add $CLIENT_IP/24 dev "$CIF"
    ip -n "$S" addr add $EDGE_IP/24 dev "$SIF"
    ip -n "$C" link set "$CIF" up; ip -n "$S" link set "$SIF" up
    ip -n "$M" link set "$MC" up; ip -n "$M" link set "$MS" up
    local cmac
    cmac=$(ip -n "$C" -o link show "$CIF" | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
    EDGE_MAC=$(ip -n "$S" -o link show "$SIF" | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
    ip -n "$C" neigh replace $EDGE_IP lladdr "$EDGE_MAC" dev "$CIF" nud permanent
    for a in 1 11 12; do ip -n "$S" neigh replace 10.205.0.$a lladdr "$cmac" dev "$SIF" nud permanent; done
    if [ "$EMULATOR" = netem ]; then
        ip -n "$M" link add br0 type bridge
        ip -n "$M" link set "$MC" master br0; ip -n "$M" link set "$MS" master br0; ip -n "$M" link set br0 up
        local j="" l=""
        [ "$jitter" != 0 ] && j="$jitter"ms
        [ "$loss" != 0 ] && l="loss $loss%"
        # rate keeps netem's queue in order under jitter, like the bridge's FIFO.
        ip netns exec "$M" tc qdisc add dev "$MS" root netem delay "$delay"ms $j $l rate 10gbit
        ip netns exec "$M" tc qdisc add dev "$MC" root netem delay "$delay"ms $j $l rate 10gbit
    else
        ip netns exec "$M" "$BRIDGE" "$MC" "$MS" --delay-ab "$delay" --delay-ba "$delay" \
            --jitter-ab "$jitter" --jitter-ba "$jitter" --loss-ab "$loss" --loss-ba "$loss" \
            --seed "$SEED" --duration 600 2>>"$WORK/bridge.log" &
        BRIDGE_PID=$!
        sleep 0.2
    fi
    # The server of the first-byte test, bounded in time.
    ip netns exec "$S" timeout 300 "$PYTHON" "$HERE/wan_tools.py" server $HTTP_PORT 290 >/dev/null 2>&1 &
    SERVER_PID=$!
}

teardown_topology() {
    stop_pids
    PIDS=(${SERVER_PID:-} ${BRIDGE_PID:-})
    stop_pids
    SERVER_PID=; BRIDGE_PID=
    delete_namespaces
}

KEY_C=$(wg genkey); KEY_S=$(wg genkey)
PUB_C=$(echo "$KEY_C" | wg pubkey); PUB_S=$(echo "$KEY_S" | wg pubkey)

# start_end NS IMPL IFNAME PRIVATE PEERPUB PEERTUNNEL ADDRESS [ENDPOINT]
start_end() {
    local ns=$1 impl=$2 ifname=$3 private=$4 peer=$5 peertun=$6 address=$7 endpoint=${8:-}
    # A socket left by a daemon that was killed would make us configure the next one too early.
    rm -f /var/run/wireguard/$ifname.sock
    if [ "$impl" = ztpd ]; then
        (umask 077
         { echo "[Interface]"; echo "PrivateKey = $private"; echo "ListenPort = $PORT"
           echo "[Peer]"; echo "PublicKey = $peer"; echo "AllowedIPs = $peertun/32"
           if [ -n "$endpoint" ]; then echo "Endpoint = $endpoint"; fi; } > "$WORK/$ifname.conf")
        ip netns exec "$ns" "$ZTPD" "$ifname" --foreground --config "$WORK/$ifname.conf" --log-level "${ZTPD_LOG_LEVEL:-warning}" \
            >>"$WORK/$ifname.log" 2>&1 &
        PIDS+=($!)
    else
        WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$ifname" >>"$WORK/$ifname.log" 2>&1 &
        PIDS+=($!)
        (umask 077; echo "$private" > "$WORK/$ifname.key")
    fi
    for _ in $(seq 100); do [ -S /var/run/wireguard/$ifname.sock ] && break; sleep 0.05; done
    [ -S /var/run/wireguard/$ifname.sock ] || { echo "$impl did not start on $ifname" >&2; tail -n 20 "$WORK/$ifname.log" >&2; return 1; }
    if [ "$impl" != ztpd ]; then
        ip netns exec "$ns" wg set "$ifname" private-key "$WORK/$ifname.key" listen-port $PORT \
            peer "$peer" allowed-ips "$peertun/32" ${endpoint:+endpoint "$endpoint"}
    fi
    ip -n "$ns" addr add "$address/24" dev "$ifname"
    ip -n "$ns" link set "$ifname" mtu 1420 up
}

# start_tunnel STACK: both daemons, no handshake yet.
start_tunnel() {
    local client=ztpd edge=ztpd
    case $1 in wg-go) client=wireguard-go; edge=wireguard-go ;; mixed) edge=wireguard-go ;; esac
    start_end "$S" $edge "$TUNS" "$KEY_S" "$PUB_C" $TUN_C $TUN_S
    start_end "$C" $client "$TUNC" "$KEY_C" "$PUB_S" $TUN_S $TUN_C $EDGE_IP:$PORT
}

# capture NS IF FILTER FILE: starts tcpdump and waits until it listens.
capture() {
    ip netns exec "$1" timeout 60 tcpdump -i "$2" -U --immediate-mode -n -s 128 --time-stamp-precision=nano -w "$4" "$3" 2>"$4.log" &
    PIDS+=($!)
    for _ in $(seq 60); do grep -q listening "$4.log" 2>/dev/null && return 0; sleep 0.05; done
    echo "tcpdump on $2 did not start: $(cat "$4.log")" >&2
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }

# ping_times NS TARGET COUNT INTERVAL -> one RTT (ms) per line
ping_times() {
    ip netns exec "$1" ping -n -c "$3" -i "$4" -W 2 -w $(( $3 / 10 + 10 )) "$2" 2>/dev/null \
        | sed -n 's|.* time=\([0-9.]*\) ms|\1|p' || true
}

# cold_trial PROFILE STACK KIND(ping|tcp) N
cold_trial() {
    local profile=$1 stack=$2 kind=$3 n=$4 value
    start_tunnel "$stack"
    capture "$C" "$TUNC" "ip dst $TUN_S" "$WORK/tun-$n.pcap"
    capture "$C" "$CIF" "udp port $PORT" "$WORK/under-$n.pcap"
    if [ "$kind" = ping ]; then
        value=$(ping_times "$C" $TUN_S 1 1 | head -n 1)
        record "$profile" "$stack" cold_ping "${value:-nan}"
    else
        value=$(ip netns exec "$C" timeout 15 "$PYTHON" "$HERE/wan_tools.py" client $TUN_S $HTTP_PORT 1 2>/dev/null || true)
        record "$profile" "$stack" ttfb_cold "${value:-nan}"
    fi
    sleep 0.2
    # Captures first (they flush on SIGTERM), then the daemons: a TUN that disappears under
    # tcpdump would end its capture with an error.
    local capture_pids=("${PIDS[@]:2}") daemons=("${PIDS[@]:0:2}")
    PIDS=("${capture_pids[@]}"); stop_pids
    PIDS=("${daemons[@]}"); stop_pids
    local cold rtt localms before
    read -r cold rtt localms before <<<"$("$PYTHON" "$HERE/wan_tools.py" handshake "$WORK/tun-$n.pcap" "$WORK/under-$n.pcap" $CLIENT_IP)"
    if [ "$before" != 0 ]; then echo "  note: $stack sent $before initiation(s) before any traffic" >&2; fi
    record "$profile" "$stack" cold_handshake "$cold"
    record "$profile" "$stack" handshake_rtt "$rtt"
    record "$profile" "$stack" initiator_local "$localms"
    echo "  $stack cold $kind #$n: first packet -> tunnel up $cold ms (wire $rtt, local $localms); $kind ${value:-failed} ms" >&2
}

# roam FROM TO -> ms from the first packet sent after the change to the first reply, read from
# ping's own output (lost packets before it times the 10 ms interval, plus the answered packet's
# RTT), so that the start-up time of the tools is not counted.
roam() {
    local from=$1 to=$2 line
    # Make before break, as a host that joins a new network does: the new address is added,
    # then the old one removed (the new one is promoted to primary). The static neighbour entry is
    # put back in case the change flushed it, so that what is measured is the tunnel's reconnect,
    # not ARP through the delayed path.
    ip -n "$C" addr add "$to/24" dev "$CIF"
    ip -n "$C" addr del "$from/24" dev "$CIF"
    ip -n "$C" neigh replace $EDGE_IP lladdr "$EDGE_MAC" dev "$CIF" nud permanent
    line=$(ip netns exec "$C" ping -n -c 1 -i 0.01 -W 1 -w 5 $TUN_S 2>/dev/null | grep -m 1 'time=' || true)
    if [ -n "$line" ]; then
        echo "$line" | sed -n 's|.*icmp_seq=\([0-9]*\).*time=\([0-9.]*\) ms.*|\1 \2|p' \
            | { read -r seq ms; "$PYTHON" -c "import sys; print('%.3f' % ((int(sys.argv[1]) - 1) * 10 + float(sys.argv[2])))" "$seq" "$ms"; }
    else
        echo nan
    fi
}

measure() {
    local profile=$1 stack=$2 n
    topology "$profile"
    for n in $(seq "$COLD"); do
        if [ $((n % 2)) = 1 ]; then cold_trial "$profile" "$stack" ping "$n"; else cold_trial "$profile" "$stack" tcp "$n"; fi
    done
    # Warm measurements on one tunnel.
    start_tunnel "$stack"
    ping_times "$C" $TUN_S 3 0.2 >/dev/null
    ping_times "$C" $EDGE_IP "$PINGS" 0.05 | while read -r v; do record "$profile" "$stack" underlay_ping "$v"; done
    ping_times "$C" $TUN_S "$PINGS" 0.05 | while read -r v; do record "$profile" "$stack" tunnel_ping "$v"; done
    ip netns exec "$C" timeout 60 "$PYTHON" "$HERE/wan_tools.py" client $TUN_S $HTTP_PORT "$WARM" 2>/dev/null \
        | while read -r v; do record "$profile" "$stack" ttfb_warm "$v"; done || true
    local from=$CLIENT_IP to value
    for n in $(seq "$ROAMS"); do
        to=10.205.0.$(( n % 2 == 1 ? 11 : 12 ))
        value=$(roam "$from" "$to")
        record "$profile" "$stack" reconnect "$value"
        echo "  $stack roam $from -> $to: first reply after $value ms" >&2
        from=$to
        sleep 0.3
    done
    teardown_topology
}

START=$(date +%s)
for profile in $PROFILES; do
    echo "profile $profile ($(profile_params "$profile") one-way ms / jitter ms / loss %)" >&2
    for stack in $STACKS; do measure "$profile" "$stack"; done
done
echo "done in $(( $(date +%s) - START )) s; path emulator $EMULATOR, seed $SEED" >&2
if [ -s "$WORK/bridge.log" ]; then grep -v '^delay-bridge' "$WORK/bridge.log" | sed 's/^/  bridge /' >&2 || true; fi
"$PYTHON" "$HERE/wan_tools.py" summary "$RESULTS" $STACKS | tee "${OUT:-/dev/null}"
if [ -n "${KEEP_RESULTS:-}" ]; then cp "$RESULTS" "$KEEP_RESULTS"; fi
