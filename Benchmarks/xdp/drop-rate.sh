#!/usr/bin/env bash
# Junk to the tunnel port on a veth pair, three ways, in one run:
#   1. no XDP: a userspace UDP socket reads it (recvmmsg, the best a userspace daemon can do);
#   2. AF_XDP: a redirect program hands it to an AF_XDP socket (libxdp, copy mode: veth has
#      no zero-copy), as ztpd would read its port with AF_XDP;
#   3. ztp's XDP program (bpf/ztp_xdp.o) drops it before the stack.
# For each: packets per second sent, handled (read in userspace, or dropped at XDP), and the
# whole machine's CPU time per packet (from /proc/stat, the sender included: it is the same
# in every phase, so the differences are the receiving side's).
#
#   Benchmarks/xdp/drop-rate.sh [SECONDS]   (root; clang, bpftool, iproute2, python3, libxdp-dev)
#
# The sender (sendmmsg, one core) is the bottleneck when the receiving side keeps up: then
# "handled" equals "sent" and only the CPU column tells the ways apart.
set -euo pipefail
seconds="${1:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port=51820
[ "$(id -u)" -eq 0 ] || { echo "drop-rate: needs root (namespaces, XDP)" >&2; exit 1; }
for tool in ip bpftool clang python3 pkg-config; do
  command -v "$tool" >/dev/null || { echo "drop-rate: $tool is missing" >&2; exit 1; }
done
multiarch="$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"

work="$(mktemp -d)"
client="ztpbC-$$" edge="ztpbE-$$"
cleanup() {
  ip netns delete "$client" 2>/dev/null || true
  ip netns delete "$edge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$root/bpf/build.sh" "$work/ztp_xdp.o"
clang -O2 -Wall -o "$work/blast" "$here/blast.c"
afxdp=yes
if pkg-config --exists libxdp; then
  clang -O2 -g -Wall -target bpf -I"/usr/include/$multiarch" -c "$here/xsk_redirect.bpf.c" -o "$work/xsk_redirect.bpf.o"
  clang -O2 -Wall -o "$work/xsk-rx" "$here/xsk-rx.c" $(pkg-config --cflags --libs libxdp libbpf)
else
  afxdp=no
  echo "drop-rate: libxdp-dev is missing: no AF_XDP phase" >&2
fi

ip netns add "$client"
ip netns add "$edge"
ip -n "$client" link add vbC type veth peer name vbE netns "$edge"
ip -n "$client" addr add 10.204.0.1/24 dev vbC
ip -n "$edge" addr add 10.204.0.2/24 dev vbE
for ns in "$client" "$edge"; do ip -n "$ns" link set lo up; done
ip -n "$client" link set vbC up
ip -n "$edge" link set vbE up
ip netns exec "$client" ping -c 1 -W 2 10.204.0.2 >/dev/null

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
results=()

# phase NAME RECEIVER...: starts the receiver in the edge namespace (it prints "ready" when it
# is, then its count), blasts for $seconds, records "NAME SENT HANDLED JIFFIES".
phase() {
  local name="$1"; shift
  ip netns exec "$edge" "$@" >"$work/out" 2>&1 &
  local receiver=$!
  for _ in $(seq 50); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
  local cpu_before sent cpu_after
  cpu_before="$(busy_jiffies)"
  sent="$(ip netns exec "$client" "$work/blast" send 10.204.0.2 "$port" "$seconds")"
  cpu_after="$(busy_jiffies)"
  wait "$receiver"
  results+=("$name $sent $(tail -n 1 "$work/out") $((cpu_after - cpu_before))")
}

phase "userspace-udp-socket" "$work/blast" recv "$port" "$((seconds + 3))"
if [ "$afxdp" = yes ]; then
  phase "af_xdp-copy-mode" "$work/xsk-rx" vbE "$work/xsk_redirect.bpf.o" "$((seconds + 3))"
fi

# The XDP phase: ztp's program, its port set with bpftool; "handled" is its drop counter.
ip -n "$edge" link set dev vbE xdpdrv obj "$work/ztp_xdp.o" sec xdp
prog_id="$(ip -n "$edge" -j -d link show dev vbE | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')"
read -r config_id stats_id < <(bpftool prog show id "$prog_id" -j | python3 -c '
import json, subprocess, sys
ids = json.load(sys.stdin)["map_ids"]
names = {json.loads(subprocess.check_output(["bpftool", "map", "show", "id", str(i), "-j"]))["name"]: i for i in ids}
print(names["ztp_config"], names["ztp_stats"])')
# struct ztp_config: port (host order, little-endian here), flags, rate, burst, pad.
bpftool map update id "$config_id" key 0 0 0 0 value \
  $((port & 0xff)) $((port >> 8)) 0 0  0 0 0 0  0 0 0 0  0 0 0 0
unknown_type_drops() { # ZTP_DROP_UNKNOWN_TYPE = 8, summed over CPUs
  bpftool map lookup id "$stats_id" key 8 0 0 0 -j | python3 -c '
import json, sys
entry = json.load(sys.stdin)
entry = entry.get("formatted", entry)
total = 0
for v in entry["values"]:
    value = v["value"]
    total += int.from_bytes(bytes(int(b, 16) for b in value), "little") if isinstance(value, list) else int(str(value), 0)
print(total)'
}
before="$(unknown_type_drops)"
cpu_before="$(busy_jiffies)"
sent="$(ip netns exec "$client" "$work/blast" send 10.204.0.2 "$port" "$seconds")"
cpu_after="$(busy_jiffies)"
results+=("xdp-drop $sent $(( $(unknown_type_drops) - before )) $((cpu_after - cpu_before))")

python3 - "$seconds" "$(getconf CLK_TCK)" "${results[@]}" <<'PY'
import sys
seconds, hz = float(sys.argv[1]), int(sys.argv[2])
rows = [line.split() for line in sys.argv[3:]]
print(f"veth pair, native XDP, {seconds:g} s per phase, 100-byte junk datagrams")
print(f"{'phase':22} {'sent pps':>12} {'handled pps':>12} {'CPU ns/packet':>14}")
rates = {}
for name, sent, handled, jiffies in rows:
    sent, handled, jiffies = int(sent), int(handled), int(jiffies)
    rates[name] = handled / seconds
    cpu = jiffies / hz * 1e9 / max(sent, 1)
    print(f"{name:22} {sent / seconds:12,.0f} {handled / seconds:12,.0f} {cpu:14,.0f}")
if "xdp-drop" in rates and "userspace-udp-socket" in rates:
    print(f"ratio: XDP dropped {rates['xdp-drop'] / max(rates['userspace-udp-socket'], 1):.2f}x the packets per second "
          f"that reached the userspace socket")
PY
