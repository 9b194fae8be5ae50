# The origin behind the edge: a TCP echo on each port given; every accepted connection is logged
# ("accept PORT PEER"), so the soak can check that the denied port never saw one.
import socket, sys, threading
host, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
lock = threading.Lock()
def tcp(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port)); l.listen(128)
    while True:
        c, peer = l.accept()
        with lock: print("accept %d %s" % (port, peer[0]), flush=True)
        threading.Thread(target=echo, args=(c,), daemon=True).start()
def echo(c):
    c.settimeout(10)
    try:
        while True:
            data = c.recv(64)
            if not data: break
            c.sendall(data)
    except OSError: pass
    finally: c.close()
for p in ports: threading.Thread(target=tcp, args=(p,), daemon=True).start()
print("origin up", flush=True)
threading.Event().wait()
