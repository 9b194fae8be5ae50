# Writes the soak's policy variants to DIR: good-a.yaml and good-b.yaml (the same access, one
# extra allow rule for port 8080 in b: a real edit that changes the tables), broken.yaml (a rule
# with a syntax error; the edge must refuse it with file:line:col and keep the last good one).
# Arguments: DIR, then one public key per client (client i gets 10.99.0.(10+i)).
import sys
out, keys = sys.argv[1], sys.argv[2:]
def policy(extra):
    lines = ["policy: soak", "defaults:", "  cache_ttl: 5s", "  rate_limit: 10000/s", "identities:"]
    for i, key in enumerate(keys, 1):
        lines.append('  c%d: { key: "%s", user: c%d@example.com, allowed_ips: 10.99.0.%d/32 }' % (i, key, i, 10 + i))
    lines += ["groups:", "  clients: [%s]" % ", ".join("c%d@example.com" % i for i in range(1, len(keys) + 1)),
              "hosts:", "  origin: 10.10.0.7", "rules:",
              "  - name: echo", "    rule: allow group:clients -> origin:5432/tcp",
              "  - name: iperf", "    rule: allow group:clients -> origin:5201/tcp",
              "  - name: ping", "    rule: allow group:clients -> origin:*/icmp",
              "  - name: no-ssh", "    rule: deny group:clients -> origin:22/tcp"] + extra
    return "\n".join(lines) + "\n"
open(out + "/good-a.yaml", "w").write(policy([]))
open(out + "/good-b.yaml", "w").write(policy(["  - name: web", "    rule: allow group:clients -> origin:8080/tcp"]))
open(out + "/broken.yaml", "w").write(policy(["  - name: web", "    rule: allow group:clients -> origin:8080/tcp if ((tag:managed"]))
