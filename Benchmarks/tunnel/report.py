#!/usr/bin/env python3
"""The arithmetic of throughput.sh: one pairing's raw outputs to a result, and the results to a table.

  report.py collect DIR NAME   reads DIR/NAME.* (iperf3 JSON, ping output, CPU ticks), appends
                               one JSON line to DIR/results.jsonl
  report.py table DIR          prints the table (medians over rounds), the ratios against
                               wireguard-go with the targets of issue 9, and the A/B ratios

Percentiles are nearest rank (with 200 pings, p99 is the second-worst). Added latency is the
tunnel's percentile minus the underlay's, both pinged in the same topology one after the other.
CPU per GB is the utime+stime of both daemons over the single-stream TCP run, divided by the
bytes the receiver got, in seconds per 10^9 bytes.
"""
import json
import math
import os
import statistics
import sys

def percentile(samples, p):
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ping_times(path):
    """The round-trip times of ping's output (`time=0.123 ms`), in ms."""
    times = []
    if not os.path.exists(path):
        return times
    with open(path) as f:
        for line in f:
            at = line.find("time=")
            if at >= 0:
                times.append(float(line[at + 5:].split()[0]))
    return times


def iperf(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tcp(path):
    """(bits/s, bytes) the receiver got, or (nan, 0) when the run failed."""
    result = iperf(path)
    try:
        received = result["end"]["sum_received"]
        return received["bits_per_second"], received["bytes"]
    except (TypeError, KeyError):
        return float("nan"), 0


def udp_rate(path):
    """(received, sent) datagrams per second: received is those sent less those the server
    counted lost (iperf3 numbers each datagram; the client's summary carries the server's count)."""
    result = iperf(path)
    try:
        summary = result["end"]["sum"]
        if not summary["seconds"]:
            return float("nan"), float("nan")
        return (summary["packets"] - summary["lost_packets"]) / summary["seconds"], summary["packets"] / summary["seconds"]
    except (TypeError, KeyError):
        return float("nan"), float("nan")


def ticks(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def collect(directory, name):
    base = os.path.join(directory, name)
    tcp1_bps, tcp1_bytes = tcp(base + ".tcp1.json")
    tcp4_bps, _ = tcp(base + ".tcp4.json")
    udp_received, udp_sent = udp_rate(base + ".udp.json")
    underlay = ping_times(base + ".ping-underlay.txt")
    tunnel = ping_times(base + ".ping-tunnel.txt") or underlay
    before, after = ticks(base + ".cpu-before"), ticks(base + ".cpu-after")
    hz = os.sysconf("SC_CLK_TCK")
    cpu = (sum(after) - sum(before)) / hz if before and len(before) == len(after) else float("nan")
    row = {
        "name": name.split(".")[0],
        "tcp1_gbps": tcp1_bps / 1e9,
        "tcp4_gbps": tcp4_bps / 1e9,
        "udp_kpps": udp_received / 1e3,
        "udp_sent_kpps": udp_sent / 1e3,
        "ping_p50": percentile(tunnel, 50),
        "ping_p99": percentile(tunnel, 99),
        "added_p50": percentile(tunnel, 50) - percentile(underlay, 50),
        "added_p99": percentile(tunnel, 99) - percentile(underlay, 99),
        "pings": len(tunnel),
        "cpu_s_per_gb": cpu / (tcp1_bytes / 1e9) if tcp1_bytes and not math.isnan(cpu) else float("nan"),
    }
    with open(os.path.join(directory, "results.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


COLUMNS = [
    ("tcp1_gbps", "TCP x1 Gbit/s", "%.3f"),
    ("tcp4_gbps", "TCP x4 Gbit/s", "%.3f"),
    ("udp_kpps", "UDP 64B kpps", "%.1f"),
    ("udp_sent_kpps", "(sent kpps)", "%.1f"),
    ("ping_p50", "ping p50 ms", "%.3f"),
    ("ping_p99", "ping p99 ms", "%.3f"),
    ("added_p50", "added p50", "%.3f"),
    ("added_p99", "added p99", "%.3f"),
    ("cpu_s_per_gb", "CPU s/GB", "%.2f"),
]

LABELS = {
    "bare": "bare veth",
    "wg-go": "wireguard-go <-> wireguard-go",
    "ztpd": "ztpd <-> ztpd",
    "mixed": "ztpd -> wireguard-go",
    "enforced": "ztpd <-> ztpd, enforcer on",
    "ztpd-b": "B: ztpd <-> ztpd",
    "mixed-b": "B: ztpd -> wireguard-go",
    "enforced-b": "B: ztpd <-> ztpd, enforcer on",
}


def median(values):
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def fmt(value, pattern):
    return "n/a" if value is None or math.isnan(value) else pattern % value


def ratio(a, b):
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")


def table(directory):
    rows = {}
    with open(os.path.join(directory, "results.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            rows.setdefault(row["name"], []).append(row)
    order = [name for name in LABELS if name in rows] + [name for name in rows if name not in LABELS]
    summary = {name: {key: median([r[key] for r in rows[name]]) for key, _, _ in COLUMNS} for name in order}
    rounds = max(len(v) for v in rows.values())
    width = max(len(LABELS.get(name, name)) for name in order)
    print()
    print("Medians of %d round(s); latency in ms; CPU is both daemons' utime+stime per 10^9 bytes (single-stream run)."
          % rounds)
    print("%-*s " % (width, "pairing") + " ".join("%13s" % title for _, title, _ in COLUMNS))
    for name in order:
        print("%-*s " % (width, LABELS.get(name, name))
              + " ".join("%13s" % fmt(summary[name][key], pattern) for key, _, pattern in COLUMNS))

    wg = summary.get("wg-go")
    bare = summary.get("bare")
    for name in [n for n in ("ztpd", "ztpd-b", "enforced", "enforced-b", "mixed", "mixed-b") if n in summary]:
        z = summary[name]
        # The targets are ztpd's against wireguard-go's; a mixed pairing is half of each.
        targeted = not name.startswith("mixed")
        print()
        print("%s %s:" % (LABELS[name], "against the issue's targets" if targeted else "over wireguard-go (no targets)"))
        if wg:
            checks = [
                ("TCP single stream / wireguard-go", ratio(z["tcp1_gbps"], wg["tcp1_gbps"]), ">= 3", lambda r: r >= 3),
                ("TCP 4 streams / wireguard-go", ratio(z["tcp4_gbps"], wg["tcp4_gbps"]), "", None),
                ("UDP 64-byte rate / wireguard-go", ratio(z["udp_kpps"], wg["udp_kpps"]), ">= 2", lambda r: r >= 2),
                ("added latency p50 / wireguard-go", ratio(z["added_p50"], wg["added_p50"]), "<= 1 (no worse)",
                 lambda r: z["added_p50"] <= wg["added_p50"]),
                ("added latency p99 / wireguard-go", ratio(z["added_p99"], wg["added_p99"]), "", None),
                ("CPU per GB / wireguard-go", ratio(z["cpu_s_per_gb"], wg["cpu_s_per_gb"]), "<= 0.5", lambda r: r <= 0.5),
            ]
            for label, value, target, met in checks:
                if not targeted:
                    target, met = "", None
                verdict = "" if met is None else ("not measured" if math.isnan(value) else ("met" if met(value) else "NOT met"))
                print("  %-34s %7s   %-16s %s" % (label, fmt(value, "%.2f"), target, verdict))
        else:
            print("  (no wg-go pairing in this run: no ratios)")
        if bare:
            print("  %-34s %7s" % ("TCP single stream / bare veth", fmt(ratio(z["tcp1_gbps"], bare["tcp1_gbps"]), "%.3f")))
    for a, b in (("ztpd", "ztpd-b"), ("mixed", "mixed-b"), ("enforced", "enforced-b")):
        if a in summary and b in summary:
            print()
            print("A/B, %s over %s (above 1: B is higher):" % (b, a))
            for key, title, _ in COLUMNS:
                print("  %-14s %7s" % (title, fmt(ratio(summary[b][key], summary[a][key]), "%.2f")))
    if "ztpd" in summary and "enforced" in summary:
        off, on = summary["ztpd"]["tcp1_gbps"], summary["enforced"]["tcp1_gbps"]
        print()
        print("enforcer on/off, TCP single stream: %s (cost %s%%)"
              % (fmt(ratio(on, off), "%.2f"), fmt(100 * (1 - ratio(on, off)), "%.1f")))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)
