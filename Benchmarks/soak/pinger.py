# One ICMP echo every INTERVAL seconds from each client namespace to the origin, for DURATION
# seconds; one raw socket per namespace (opened after setns(2)), one select loop for all.
# Writes a JSON object: {client: {"sent": N, "lost": [send times of unanswered echoes]}}.
# An echo counts as lost if no reply came within 2 s; sends that fail (the client's tunnel
# interface gone during a restart) count as lost at their time too.
import ctypes, json, os, select, socket, struct, sys, time

target, interval, duration, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
namespaces = sys.argv[5:]  # name=client pairs
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNET = 0x40000000
home = os.open("/proc/self/ns/net", os.O_RDONLY)

def checksum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF

clients = []
for i, pair in enumerate(namespaces):
    ns, name = pair.split("=")
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0: sys.exit("setns %s: errno %d" % (ns, ctypes.get_errno()))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setblocking(False)
    libc.setns(home, CLONE_NEWNET)
    os.close(fd)
    clients.append({"name": name, "sock": s, "id": (os.getpid() + i * 7919) & 0xFFFF, "seq": 0, "pending": {}, "sent": 0, "lost": []})
by_sock = {c["sock"]: c for c in clients}

start = time.time(); next_send = start
while True:
    now = time.time()
    if now >= next_send:
        if now - start >= duration: break
        for c in clients:
            c["seq"] = (c["seq"] + 1) & 0xFFFF
            body = struct.pack("!d", now) + b"z" * 48
            hdr = struct.pack("!BBHHH", 8, 0, 0, c["id"], c["seq"])
            pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + body), c["id"], c["seq"]) + body
            c["sent"] += 1
            try:
                c["sock"].sendto(pkt, (target, 0)); c["pending"][c["seq"]] = now
            except OSError:
                c["lost"].append(now)
        for c in clients:  # unanswered for 2 s: lost
            for seq, t in list(c["pending"].items()):
                if now - t > 2: c["lost"].append(t); del c["pending"][seq]
        next_send += interval
    r, _, _ = select.select(list(by_sock), [], [], max(0, min(next_send - time.time(), 0.05)))
    for s in r:
        c = by_sock[s]
        while True:
            try: data = s.recv(2048)
            except BlockingIOError: break
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and ident == c["id"]: c["pending"].pop(seq, None)
# Replies still due get 2 s more; whatever is left then is lost.
end = time.time() + 2
while time.time() < end:
    r, _, _ = select.select(list(by_sock), [], [], 0.1)
    for s in r:
        c = by_sock[s]
        while True:
            try: data = s.recv(2048)
            except BlockingIOError: break
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and ident == c["id"]: c["pending"].pop(seq, None)
for c in clients: c["lost"].extend(c["pending"].values())
json.dump({c["name"]: {"sent": c["sent"], "lost": sorted(c["lost"])} for c in clients}, open(out, "w"))
