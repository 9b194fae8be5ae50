# Sourced by throughput.sh and profile.sh: the two namespaces, the tunnel ends, and cleanup.
#
# Two network namespaces joined by one veth pair (10.203.0.1 <-> 10.203.0.2) and no other
# link, so nothing sent inside leaves the machine. A tunnel between them carries
# 10.98.0.1 <-> 10.98.0.2 at MTU 1420. Every process started here is recorded in PIDS and
# stopped by teardown_topology or, on exit, by cleanup.
#
# Needs from the caller: ZTPD (a ztpd binary), WORK (a scratch directory), TAG (a short
# suffix that keeps names apart from other runs). Sets A and B (namespace names).

A=ztpbA-$TAG; B=ztpbB-$TAG
PIDS=()
WRAP_CMD=()
UNDERLAY_A=10.203.0.1; UNDERLAY_B=10.203.0.2
TUNNEL_A=10.98.0.1; TUNNEL_B=10.98.0.2

cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}

topology() {
    ip netns add "$A"; ip netns add "$B"
    ip -n "$A" link set lo up; ip -n "$B" link set lo up
    ip -n "$A" link add vbA-$TAG type veth peer name vbB-$TAG netns "$B"
    ip -n "$A" addr add $UNDERLAY_A/24 dev vbA-$TAG
    ip -n "$B" addr add $UNDERLAY_B/24 dev vbB-$TAG
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
#   IMPL: ztpd, ztpd-enforced (ztpd with a policy allowing iperf3 and ping), wireguard-go.
#   BINARY (default $ZTPD) picks the ztpd build; the array WRAP_CMD, when set, runs it under
#   a wrapper such as valgrind. Sets END_PID to the daemon's process id (`ip netns exec`
#   replaces itself with the command, so $! is the daemon).
start_end() {
    local ns=$1 impl=$2 ifname=$3 private=$4 peer=$5 peertun=$6 endpoint=${7:-} port=51820
    local binary=${BINARY:-$ZTPD}
    if [ "$impl" = ztpd ] || [ "$impl" = ztpd-enforced ]; then
        umask 077
        local enforce=()
        if [ "$impl" = ztpd-enforced ]; then
            # The client's identity may reach iperf3 (TCP and UDP) and ping on the server's tunnel address.
            mkdir -p "$WORK/policies"
            { echo "policy: bench"; echo "identities:"
              echo "  client: { key: \"$peer\", tags: [managed], allowed_ips: $peertun/32 }"
              echo "rules:"; echo "  - allow tag:managed -> $TUNNEL_B:5201/tcp $TUNNEL_B:5201/udp $TUNNEL_B:*/icmp"; } > "$WORK/policies/bench.yaml"
            enforce=(--policies "$WORK/policies" --metrics off --decision-log off --control-socket "$WORK/$ifname.ctl")
        fi
        { echo "[Interface]"; echo "PrivateKey = $private"; echo "ListenPort = $port"
          echo "[Peer]"; echo "PublicKey = $peer"; echo "AllowedIPs = $peertun/32"
          [ -n "$endpoint" ] && echo "Endpoint = $endpoint"; } > "$WORK/$ifname.conf"
        ip netns exec "$ns" "${WRAP_CMD[@]}" "$binary" "$ifname" --foreground --config "$WORK/$ifname.conf" \
            --log-level "${ZTPD_LOG_LEVEL:-warning}" "${enforce[@]}" >"$WORK/$ifname.log" 2>&1 &
        END_PID=$!
    else
        WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$ifname" >"$WORK/$ifname.log" 2>&1 &
        END_PID=$!
        echo "$private" > "$WORK/$ifname.key"
    fi
    PIDS+=("$END_PID")
    for _ in $(seq 400); do [ -S /var/run/wireguard/$ifname.sock ] && break; sleep 0.05; done
    if [ "$impl" = wireguard-go ]; then
        ip netns exec "$ns" wg set "$ifname" private-key "$WORK/$ifname.key" listen-port $port \
            peer "$peer" allowed-ips "$peertun/32" ${endpoint:+endpoint "$endpoint"}
    fi
}

# tunnel_up IMPL_A IMPL_B: B listens, A initiates. Sets PID_A and PID_B.
tunnel_up() {
    local implA=$1 implB=$2
    start_end "$B" "$implB" wgB-$TAG "$KEY_B" "$PUB_A" $TUNNEL_A; PID_B=$END_PID
    start_end "$A" "$implA" wgA-$TAG "$KEY_A" "$PUB_B" $TUNNEL_B $UNDERLAY_B:51820; PID_A=$END_PID
    ip -n "$A" addr add $TUNNEL_A/24 dev wgA-$TAG; ip -n "$A" link set wgA-$TAG mtu 1420 up
    ip -n "$B" addr add $TUNNEL_B/24 dev wgB-$TAG; ip -n "$B" link set wgB-$TAG mtu 1420 up
    for _ in $(seq 20); do
        ip netns exec "$A" ping -c 1 -W 1 $TUNNEL_B >/dev/null 2>&1 && return 0
    done
    echo "tunnel ($implA -> $implB) did not come up" >&2
    tail -n 20 "$WORK"/*.log >&2
    return 1
}
