#!/usr/bin/env bash
# A real peer's handshake while ztpd is flooded with initiations from many sources (issue 6).
#
# Three namespaces, no route out: the edge runs ztpd (release) on UDP 51820; a client runs
# Debian's wireguard-go; a flooder holds 64 source addresses and sends initiations with a
# *valid MAC1* (so ztpd cannot reject them cheaply: without cookies each costs a Diffie-Hellman)
# and random content, for a fixed time. Phases, in one run:
#   quiet         no flood
#   flood         flood; ztpd's load detection answers with cookie replies and demands MAC2
#   flood-nocookie  flood with load detection off (--under-load-threshold 100000000): each
#                 initiation costs ztpd a DH
# For each: the client's time from the first ping to its first reply through a fresh tunnel
# (a full handshake), pings answered, ztpd's CPU time, its handshake, DH and cookie counters.
#
#   sudo Benchmarks/handshake/flood.sh [SECONDS]      (default 15; the client gets 12 s to connect)
set -euo pipefail
umask 077
seconds="${1:-15}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "flood: needs root" >&2; exit 1; }
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
swift build -c release --product ztpd >/dev/null
bin="$(swift build -c release --show-bin-path)"

id=$$
E="ztphf-edge-$id" C="ztphf-cli-$id" F="ztphf-fl-$id"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  for ns in "$E" "$C" "$F"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

edge_key=$(wg genkey); edge_pub=$(echo "$edge_key" | wg pubkey)
cli_key=$(wg genkey); cli_pub=$(echo "$cli_key" | wg pubkey)
echo "$cli_key" > "$work/cli.key"

cat > "$work/flood.py" <<'PY'
import base64, hashlib, os, socket, sys, time
edge_pub = base64.b64decode(sys.argv[1]); seconds = float(sys.argv[2]); sources = int(sys.argv[3])
mac1_key = hashlib.blake2s(b"mac1----" + edge_pub).digest()
socks = []
for i in range(sources):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("172.29.2.%d" % (10 + i), 0)); s.setblocking(False); socks.append(s)
msgs = []
for _ in range(256):
    body = b"\x01\x00\x00\x00" + os.urandom(112)
    msgs.append(body + hashlib.blake2s(body, key=mac1_key, digest_size=16).digest() + b"\x00" * 16)
sent, end, i = 0, time.monotonic() + seconds, 0
while time.monotonic() < end:
    for m in msgs:
        try:
            socks[i % sources].sendto(m, ("172.29.2.1", 51820)); sent += 1
        except BlockingIOError:
            pass
        i += 1
print(sent)
PY

stats() {  # the edge's tunnel counters (ztp-stats on the UAPI socket), as key=value lines
  python3 - "/var/run/wireguard/ztphf$id.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"ztp-stats=1\n\n")
out = b""
while not out.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk: break
    out += chunk
for line in out.decode().splitlines():
    if "=" in line and not line.startswith("peer="): print(line)
PY
}
stat_of() { awk -F= -v k="$1" '$1 == k && !done { print $2; done = 1 }' <<< "$2"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

phase() {  # phase NAME FLOOD(0|1) [ztpd flags...]
  local name=$1 flood=$2; shift 2
  for ns in "$E" "$C" "$F"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip -n "$C" link add c0 type veth peer name ec0 netns "$E"
  ip -n "$F" link add f0 type veth peer name ef0 netns "$E"
  ip -n "$C" addr add 172.29.1.2/24 dev c0; ip -n "$C" link set c0 up
  ip -n "$E" addr add 172.29.1.1/24 dev ec0; ip -n "$E" link set ec0 up
  ip -n "$E" addr add 172.29.2.1/24 dev ef0; ip -n "$E" link set ef0 up
  for i in $(seq 0 63); do ip -n "$F" addr add "172.29.2.$((10 + i))/24" dev f0; done
  ip -n "$F" link set f0 up
  { echo "[Interface]"; echo "PrivateKey = $edge_key"; echo "ListenPort = 51820"
    echo "[Peer]"; echo "PublicKey = $cli_pub"; echo "AllowedIPs = 10.97.0.2/32"; } > "$work/edge.conf"
  ip netns exec "$E" "$bin/ztpd" "ztphf$id" --foreground --config "$work/edge.conf" --address 10.97.0.1/24 --log-level warning "$@" \
    > "$work/$name-edge.log" 2>&1 &
  local edge=$!; pids+=("$edge")
  for _ in $(seq 100); do [ -S "/var/run/wireguard/ztphf$id.sock" ] && break; sleep 0.05; done
  WG_PROCESS_FOREGROUND=1 ip netns exec "$C" wireguard-go "wghf$id" > "$work/$name-cli.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "/var/run/wireguard/wghf$id.sock" ] && break; sleep 0.05; done
  ip netns exec "$C" wg set "wghf$id" private-key "$work/cli.key" peer "$edge_pub" allowed-ips 10.97.0.1/32 endpoint 172.29.1.1:51820
  ip -n "$C" addr add 10.97.0.2/24 dev "wghf$id"; ip -n "$C" link set "wghf$id" up
  local sent=0 before after t0 t1 up answered
  if [ "$flood" = 1 ]; then
    ip netns exec "$F" python3 "$work/flood.py" "$edge_pub" "$seconds" 64 > "$work/sent" &
    pids+=($!)
    sleep 1.5   # the flood is under way (and load detected) before the client starts
  fi
  before=$(cpu "$edge")
  t0=$(date +%s%N)
  up=nan
  for _ in $(seq 60); do
    if ip netns exec "$C" ping -c 1 -W 0.2 10.97.0.1 >/dev/null 2>&1; then t1=$(date +%s%N); up=$(( (t1 - t0) / 1000000 )); break; fi
  done
  answered=$(ip netns exec "$C" ping -c 20 -i 0.1 -W 1 10.97.0.1 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  [ "$flood" = 1 ] && wait "${pids[-1]}" 2>/dev/null && sent=$(cat "$work/sent")
  after=$(cpu "$edge")
  local s; s=$(stats)
  printf '%-15s %10s %12s %8s/20 %8s %10s %8s %8s\n' "$name" "$sent" "$up" "${answered:-0}" \
    "$(echo "$after - $before" | bc -l)" "$(stat_of handshakes "$s")" "$(stat_of cookie_replies_sent "$s")" \
    "$(stat_of dh_operations "$s")"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5; pids=()
  for ns in "$E" "$C" "$F"; do ip netns del "$ns" 2>/dev/null || true; done
}

echo "a real peer's handshake during a flood of valid-MAC1 initiations from 64 sources (${seconds} s):"
printf '%-15s %10s %12s %11s %8s %10s %8s %8s\n' phase "flood sent" "ping up ms" "pings" "CPU s" handshakes cookies "DH ops"
phase quiet 0
phase flood 1
phase flood-nocookie 1 --under-load-threshold 100000000
