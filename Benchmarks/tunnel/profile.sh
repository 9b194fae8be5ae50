#!/usr/bin/env bash
# Where ztpd's time goes during a TCP transfer: ztpd on both ends of the topology of
# throughput.sh (topology.sh), one iperf3 stream client (A) -> server (B) for SECONDS, each
# daemon profiled on its own, and the top functions printed for the sender and the receiver.
#
# Profilers (PROFILER=auto picks the first that works here):
#   perf       perf record on the running daemons, with the cycles event when the machine has
#              hardware counters (`perf stat -e instructions true` counts), else the cpu-clock
#              timer (virtual machines without a PMU). Sees the kernel's share too, which is
#              most of a userspace tunnel's time: the syscalls, the checksums, the veth.
#   callgrind  valgrind --tool=callgrind, the daemons started under it. User space only, and
#              some 50x slower, so the transfer is short and slow; instructions, not time.
# Prints, per daemon: the split by object (kernel, ztpd, libsodium, the Swift runtime, libc)
# and the top TOP functions by self time, Swift names demangled when `swift demangle` exists.
#
# Needs root, iproute2, iperf3, wireguard-tools, python3, and perf or valgrind. Usage:
#   sudo Benchmarks/tunnel/profile.sh [SECONDS]      (default 5; callgrind: default 3)
# Environment: ZTPD=/path/to/ztpd skips the release build; PROFILER=perf|callgrind|auto;
#   TOP=30 functions per daemon; PAIRING=ztpd|enforced (the server enforcing a policy);
#   KEEP=1 keeps the profiles and prints where.
# Run it under `flock /tmp/ztp-netns.lock` when other namespace tests share the machine.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILER=${PROFILER:-auto}
TOP=${TOP:-30}
PAIRING=${PAIRING:-ztpd}
for tool in ip iperf3 wg python3 ping; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN, profiling other processes)" >&2; exit 2; }
case $PAIRING in ztpd) SERVER_IMPL=ztpd ;; enforced) SERVER_IMPL=ztpd-enforced ;;
    *) echo "PAIRING is ztpd or enforced" >&2; exit 2 ;; esac

# The event perf can sample here, or nothing.
perf_event() {
    command -v perf >/dev/null || return 1
    if perf stat -x, -e instructions true 2>&1 >/dev/null | grep -q '^[0-9]'; then echo cycles; return 0; fi
    if perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then echo cpu-clock; return 0; fi
    return 1
}
EVENT=
case $PROFILER in
    auto)
        if EVENT=$(perf_event); then PROFILER=perf
        elif command -v valgrind >/dev/null; then PROFILER=callgrind
        else echo "neither perf nor valgrind works here" >&2; exit 2; fi ;;
    perf) EVENT=$(perf_event) || { echo "perf cannot sample on this machine" >&2; exit 2; } ;;
    callgrind) command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; } ;;
    *) echo "PROFILER is perf, callgrind or auto" >&2; exit 2 ;;
esac
SECONDS_PER_RUN=${1:-$([ "$PROFILER" = callgrind ] && echo 3 || echo 5)}
[[ "$SECONDS_PER_RUN" =~ ^[0-9]+$ ]] && [ "$SECONDS_PER_RUN" -ge 1 ] && [ "$SECONDS_PER_RUN" -le 60 ] \
    || { echo "SECONDS must be 1 to 60" >&2; exit 2; }

if [ -z "${ZTPD:-}" ]; then
    echo "building ztpd (release)..." >&2
    (cd "$ROOT" && swift build -c release --product ztpd --scratch-path .build-tunnel-release >&2)
    ZTPD="$ROOT/.build-tunnel-release/release/ztpd"
fi
[ -x "$ZTPD" ] || { echo "not an executable: $ZTPD" >&2; exit 2; }
DEMANGLE=(cat)
if command -v swift >/dev/null && swift demangle --help >/dev/null 2>&1; then DEMANGLE=(swift demangle --simplified); fi

TAG=$(printf '%04x' $((RANDOM)))
WORK=$(mktemp -d /tmp/ztp-profile-XXXXXX)
# shellcheck source=topology.sh
. "$HERE/topology.sh"
finish() {
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "/tmp/ztp-profile-$TAG"
        cp "$WORK"/*.data "$WORK"/callgrind.* "$WORK"/*.txt "/tmp/ztp-profile-$TAG/" 2>/dev/null || true
        echo "profiles: /tmp/ztp-profile-$TAG" >&2
    fi
    cleanup
}
trap finish EXIT INT TERM

if [ "$PROFILER" = callgrind ]; then
    # %p: one output per process, named by its pid, written when the daemon exits on SIGTERM.
    WRAP_CMD=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" --dump-instr=no)
fi

topology
tunnel_up ztpd "$SERVER_IMPL"
ip netns exec "$B" iperf3 -s -1 -B $TUNNEL_B >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
RECORDERS=()
if [ "$PROFILER" = perf ]; then
    for side in A B; do
        pid_var=PID_$side
        perf record -q -e "$EVENT" -F 999 -p "${!pid_var}" -o "$WORK/$side.data" -- sleep $((SECONDS_PER_RUN + 1)) \
            > "$WORK/perf-$side.log" 2>&1 &
        RECORDERS+=($!)
    done
fi
echo "profiling ztpd ($PROFILER${EVENT:+, event $EVENT}) during a $SECONDS_PER_RUN s TCP transfer..." >&2
ip netns exec "$A" timeout $((SECONDS_PER_RUN + 30)) iperf3 -c $TUNNEL_B -t "$SECONDS_PER_RUN" -J > "$WORK/iperf.json" || true
for pid in "${RECORDERS[@]:-}"; do [ -n "$pid" ] && wait "$pid" || true; done
CALLGRIND_A="$WORK/callgrind.$PID_A"; CALLGRIND_B="$WORK/callgrind.$PID_B"
# Stops the daemons (and waits for them), which makes callgrind write its files.
teardown_topology

python3 - "$WORK/iperf.json" <<'PY'
import json, sys
try:
    end = json.load(open(sys.argv[1]))["end"]["sum_received"]
    print("transfer: %.3f Gbit/s, %.1f MB received" % (end["bits_per_second"] / 1e9, end["bytes"] / 1e6))
except (OSError, ValueError, KeyError) as e:
    print("transfer: no result (%s)" % e)
PY
for side in A B; do
    role=$([ $side = A ] && echo "sender (client, A: TUN read, encrypt, UDP send)" || echo "receiver (server, B: UDP receive, decrypt, TUN write)")
    echo
    echo "=== ztpd $role ==="
    if [ "$PROFILER" = perf ]; then
        [ -s "$WORK/$side.data" ] || { echo "no samples: $(cat "$WORK/perf-$side.log")"; continue; }
        echo "--- share of samples by object ($(perf report -i "$WORK/$side.data" --stdio 2>/dev/null | sed -n 's/^# Samples: \([^ ]*\).*/\1/p' | head -n 1) samples) ---"
        # `head` closes the pipe early: the reporters' SIGPIPE must not end the script (pipefail).
        perf report -i "$WORK/$side.data" --stdio --no-children --sort dso 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -n 12 || true
        echo "--- top $TOP functions by self time ---"
        perf report -i "$WORK/$side.data" --stdio --no-children --sort dso,sym 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -n "$TOP" | "${DEMANGLE[@]}" | cut -c1-200 || true
    else
        out=$([ $side = A ] && echo "$CALLGRIND_A" || echo "$CALLGRIND_B")
        [ -s "$out" ] || { echo "no callgrind output ($out)"; continue; }
        callgrind_annotate "$out" 2>/dev/null > "$WORK/annotate-$side.txt" || true
        echo "--- instructions by object ---"
        python3 - "$WORK/annotate-$side.txt" <<'PY'
import re, sys
total, by_object = 0, {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?):(.*)$", line)
    if not m:
        continue
    count = int(m.group(1).replace(",", ""))
    where = m.group(2)
    obj = where.rsplit("/", 1)[-1] if "/" in where else where
    by_object[obj] = by_object.get(obj, 0) + count
    total += count
for obj, count in sorted(by_object.items(), key=lambda kv: -kv[1])[:12]:
    print("  %6.2f%%  %s" % (100 * count / total, obj))
PY
        echo "--- top $TOP functions by instructions (self) ---"
        grep -E '^\s*[0-9,]+ \(' "$WORK/annotate-$side.txt" | head -n "$TOP" | "${DEMANGLE[@]}" | cut -c1-200
    fi
done
