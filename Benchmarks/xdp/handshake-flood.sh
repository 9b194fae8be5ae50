#!/usr/bin/env bash
# ztpd's CPU time during a flood of handshake initiations, without and with the XDP guard, in one
# run. Two namespaces joined by a veth pair (nothing else; no route out): the edge runs ztpd on
# UDP 51820, the flooder sends initiation-shaped datagrams (type 1, 148 bytes, random content,
# so MAC1 fails and ztpd must hash each one to find out) for a fixed time from one source.
#
#   Benchmarks/xdp/handshake-flood.sh [SECONDS]   (root; run scripts/setup and bpf/build.sh first)
#
# Prints, for each phase, datagrams sent, ztpd's CPU seconds (utime + stime from /proc), and the
# XDP program's counters when attached.
set -euo pipefail
umask 077  # the key files it writes are private
seconds="${1:-5}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "handshake-flood: needs root" >&2; exit 1; }
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
swift build -c release --product ztpd >/dev/null
swift build -c release --product ztpc >/dev/null
bin="$(swift build -c release --show-bin-path)"
[ -f bpf/ztp_xdp.o ] || bpf/build.sh

id=$$
ns_edge="ztpfl-edge-$id" ns_flood="ztpfl-src-$id"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  ip netns del "$ns_edge" 2>/dev/null || true
  ip netns del "$ns_flood" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns_edge"; ip netns add "$ns_flood"
ip -n "$ns_edge" link set lo up; ip -n "$ns_flood" link set lo up
ip -n "$ns_flood" link add fl0 type veth peer name ed0 netns "$ns_edge"
ip -n "$ns_flood" addr add 172.30.0.1/24 dev fl0; ip -n "$ns_flood" link set fl0 up
ip -n "$ns_edge" addr add 172.30.0.2/24 dev ed0; ip -n "$ns_edge" link set ed0 up

wg genkey > "$work/edge.key"; chmod 600 "$work/edge.key"
mkdir "$work/policies"
peer=$(wg genkey | wg pubkey)
cat > "$work/policies/p.yaml" <<YAML
policy: flood
identities:
  someone: { key: "$peer", tags: [managed], allowed_ips: 10.99.0.2/32 }
rules:
  - allow someone -> 10.10.0.0/24:443/tcp
YAML

cat > "$work/flood.py" <<'PY'
import os, socket, sys, time
seconds = float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
junk = [b"\x01\x00\x00\x00" + os.urandom(144) for _ in range(256)]
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for j in junk:
        try:
            s.sendto(j, ("172.30.0.2", 51820)); sent += 1
        except BlockingIOError:
            pass
print(sent)
PY

cpu() {  # utime + stime of a process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

phase() {  # phase NAME [ztpd flags...]
  local name="$1"; shift
  ip netns exec "$ns_edge" "$bin/ztpd" ztpfl0 --foreground --private-key "$work/edge.key" --listen-port 51820 \
    --policies "$work/policies" --metrics off --control-socket "$work/$name.sock" --decision-log off \
    "$@" > "$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [ -S "$work/$name.sock" ] && break; sleep 0.1; done
  sleep 0.5
  local before; before=$(cpu "$pid")
  local sent; sent=$(ip netns exec "$ns_flood" python3 "$work/flood.py" "$seconds")
  sleep 0.3
  local after; after=$(cpu "$pid")
  local xdp=""
  if [ "$#" -gt 0 ]; then
    xdp=$("$bin/ztpc" status --socket "$work/$name.sock" | sed -n 's/^xdp: *//p')
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-12s sent %9s  ztpd CPU %6.2f s  %s\n' "$name" "$sent" "$(echo "$after - $before" | bc -l)" "$xdp"
  echo "$after - $before" | bc -l > "$work/$name.cpu"
}

echo "handshake flood, ${seconds} s from one source, against ztpd on a veth (one run, same traffic generator):"
phase without-xdp
phase with-xdp --xdp-interface ed0
awk -v a="$(cat "$work/without-xdp.cpu")" -v b="$(cat "$work/with-xdp.cpu")" \
  'BEGIN { if (b > 0) printf "ztpd CPU without XDP / with XDP: %.1fx\n", a / b; else printf "ztpd CPU with XDP: ~0 s (below the clock tick)\n" }'
