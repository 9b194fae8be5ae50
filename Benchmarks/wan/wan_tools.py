#!/usr/bin/env python3
"""Helpers for wan-bench.sh: the TCP server and client of the time-to-first-byte test, the
reading of packet captures into handshake timings, and the summary table.

    wan_tools.py server PORT SECONDS          answer one small request per connection
    wan_tools.py client HOST PORT COUNT       print ms from connect() to the first response byte
    wan_tools.py handshake TUN.pcap UNDERLAY.pcap CLIENT_IP
    wan_tools.py summary RESULTS.tsv [STACK...]

Standard library only. Every socket operation has a timeout, so nothing here can hang a run.
"""
import socket
import statistics
import struct
import sys
import time


def server(port, seconds):
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(16)
        listener.settimeout(1)
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    request = b""
                    while b"\r\n\r\n" not in request and len(request) < 4096:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass


def client(host, port, count):
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: edge\r\n\r\n")
            first = s.recv(1)
            elapsed = (time.perf_counter() - start) * 1000
            if not first:
                sys.exit("connection closed before the first byte")
            while s.recv(4096):
                pass
        print("%.3f" % elapsed)


def read_pcap(path):
    """Yields (seconds, IPv4 packet bytes) from a classic pcap file (micro or nanosecond)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    else:
        endian = ">"
        magic = struct.unpack(">I", data[:4])[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = {1: 14, 101: 0, 12: 0, 113: 16, 276: 20}.get(linktype)
    if offset is None:
        raise SystemExit("%s: unsupported link type %d" % (path, linktype))
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        frame = data[pos:pos + caplen]
        pos += caplen
        if linktype == 1 and frame[12:14] != b"\x08\x00":
            continue
        packet = frame[offset:]
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            yield sec + frac * scale, packet


def handshake(tun_pcap, underlay_pcap, client_ip):
    """From the client's captures: the first packet into the tunnel, the first initiation out,
    the first response in and the first transport data out after it. Prints
    `first_to_data_ms init_to_resp_ms local_ms handshakes_before` or `nan ...` when a piece is missing."""
    first = next((t for t, _ in read_pcap(tun_pcap)), None)
    client = socket.inet_aton(client_ip)
    init = resp = data = None
    before = 0
    for t, p in read_pcap(underlay_pcap):
        ihl = (p[0] & 15) * 4
        if p[9] != 17 or len(p) < ihl + 9:
            continue
        kind = p[ihl + 8]
        outgoing = p[12:16] == client
        if kind == 1 and outgoing:
            if first is not None and t < first:
                before += 1
            elif init is None:
                init = t
        elif kind == 2 and not outgoing and init is not None and resp is None:
            resp = t
        elif kind == 4 and outgoing and resp is not None and data is None:
            data = t
    if None in (first, init, resp, data):
        print("nan nan nan %d" % before)
        return
    print("%.3f %.3f %.3f %d" % ((data - first) * 1000, (resp - init) * 1000,
                                 ((init - first) + (data - resp)) * 1000, before))


def percentile(values, q):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(path, stacks):
    rows = {}
    attempts = {}
    profiles = []
    for line in open(path):
        profile, stack, metric, value = line.rstrip("\n").split("\t")
        if profile not in profiles:
            profiles.append(profile)
        attempts[(profile, stack, metric)] = attempts.get((profile, stack, metric), 0) + 1
        if value != "nan":
            rows.setdefault((profile, stack, metric), []).append(float(value))
    stacks = [s for s in stacks if any(k[1] == s for k in rows)]

    def med(profile, stack, metric):
        v = rows.get((profile, stack, metric))
        return statistics.median(v) if v else None

    def p99(profile, stack, metric):
        v = rows.get((profile, stack, metric))
        return percentile(v, 99) if v else None

    def count(profile, stack, metric):
        return len(rows.get((profile, stack, metric), []))

    def added(profile, stack, f):
        t, u = f(profile, stack, "tunnel_ping"), f(profile, stack, "underlay_ping")
        return None if t is None or u is None else t - u

    lines = [("metric (ms)",) + tuple(stacks) + (("ztpd / wg-go",) if "ztpd" in stacks and "wg-go" in stacks else ()) + ("target",)]
    for profile in profiles:
        rtt = med(profile, "ztpd" if "ztpd" in stacks else stacks[0], "underlay_ping") if stacks else None
        lines.append(("**%s** (underlay RTT p50 %s)" % (profile, fmt(rtt)),) + ("",) * (len(lines[0]) - 1))
        metrics = [
            ("cold handshake, 1st packet -> tunnel up, p50", lambda s: med(profile, s, "cold_handshake"),
             lambda v: target(v, rtt + 1 if rtt else None)),
            ("  handshake round trip on the wire, p50", lambda s: med(profile, s, "handshake_rtt"), None),
            ("  initiator's own time (read to send), p50", lambda s: med(profile, s, "initiator_local"), None),
            ("first ping reply, cold tunnel, p50", lambda s: med(profile, s, "cold_ping"), None),
            ("TCP first byte, cold tunnel, p50", lambda s: med(profile, s, "ttfb_cold"), None),
            ("TCP first byte, warm tunnel, p50", lambda s: med(profile, s, "ttfb_warm"), None),
            ("tunnel ping p50", lambda s: med(profile, s, "tunnel_ping"), None),
            ("added latency p50 (tunnel - underlay)", lambda s: added(profile, s, med), "added"),
            ("added latency p99 (tunnel - underlay)", lambda s: added(profile, s, p99), "added"),
            ("reconnect after roam, p50", lambda s: med(profile, s, "reconnect"),
             lambda v: target(v, rtt)),
        ]
        for name, get, check in metrics:
            values = [get(s) for s in stacks]
            row = [name] + [fmt(v) for v in values]
            if name.startswith("reconnect"):
                # A stack that never got a reply says so instead of leaving a blank.
                row = [name] + [fmt(v) if v is not None or not attempts.get((profile, s, "reconnect"))
                                else "none in 5 s (0/%d)" % attempts[(profile, s, "reconnect")]
                                for s, v in zip(stacks, values)]
            if "ztpd" in stacks and "wg-go" in stacks:
                z, w = values[stacks.index("ztpd")], values[stacks.index("wg-go")]
                row.append("%.2f" % (z / w) if z is not None and w not in (None, 0) and w > 0 and z >= 0 else "")
            if check == "added":
                z = values[stacks.index("ztpd")] if "ztpd" in stacks else None
                w = values[stacks.index("wg-go")] if "wg-go" in stacks else None
                row.append("" if z is None or w is None else ("met" if z <= w else "missed"))
            elif check is not None:
                z = values[stacks.index("ztpd")] if "ztpd" in stacks else None
                row.append(check(z))
            else:
                row.append("")
            lines.append(tuple(row))
        samples = ", ".join("%s %d/%d/%d/%d" % (s, count(profile, s, "cold_handshake"), count(profile, s, "ttfb_cold"),
                                                 count(profile, s, "tunnel_ping"), count(profile, s, "reconnect"))
                            for s in stacks)
        lines.append(("  samples (handshakes/cold TCP/tunnel pings/roams)", samples) + ("",) * (len(lines[0]) - 2))
    print("| " + " | ".join(lines[0]) + " |")
    print("|" + "---|" + "---:|" * (len(lines[0]) - 2) + "---|")
    for row in lines[1:]:
        print("| " + " | ".join(row) + " |")


def fmt(v):
    return "" if v is None else "%.1f" % v if abs(v) >= 10 else "%.2f" % v


def target(value, limit):
    if value is None or limit is None:
        return ""
    return ("met" if value <= limit else "missed") + " (<= %s)" % fmt(limit)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "server":
        server(int(args[0]), float(args[1]))
    elif command == "client":
        client(args[0], int(args[1]), int(args[2]))
    elif command == "handshake":
        handshake(*args)
    elif command == "summary":
        summary(args[0], args[1:] or ["ztpd", "wg-go", "mixed"])
    else:
        raise SystemExit(__doc__)
