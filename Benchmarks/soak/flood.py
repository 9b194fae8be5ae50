# Junk and handshake-initiation-shaped datagrams at the edge's UDP port, RATE a second for
# DURATION seconds: half random junk (1..200 bytes), half 148-byte type-1 messages with random
# contents (they fail MAC1, so they cost the edge a MAC check each, or XDP drops them first).
import os, random, socket, sys, time
host, port, rate, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0; start = time.time(); batch = max(1, rate // 100)
while time.time() - start < duration:
    for _ in range(batch):
        if sent % 2: msg = os.urandom(random.randint(1, 200))
        else: msg = b"\x01\x00\x00\x00" + os.urandom(144)
        try: s.sendto(msg, (host, port))
        except OSError: pass
        sent += 1
    time.sleep(max(0, start + sent / rate - time.time()))
print("flood: %d datagrams in %.0f s" % (sent, time.time() - start), flush=True)
