# The soak's verdict: reads the files the run left in WORK and prints one line per assertion,
# PASS or FAIL, then exits 1 if any failed. Arguments: WORK, DURATION, SLACK (seconds after a
# roam or restart during which that client's lost pings are forgiven).
import json, re, sys
work, duration, slack = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
failed = []
def check(ok, line):
    print(("PASS  " if ok else "FAIL  ") + line)
    if not ok: failed.append(line)

# 1. ztpd never crashed or restarted: the sampler saw the same pid alive at every sample.
samples = [l.split() for l in open(work + "/samples.txt") if l.strip()]
dead = [s for s in samples if s[1] == "dead"]
pids = {s[1] for s in samples if s[1] != "dead"}
check(not dead and len(pids) == 1 and len(samples) >= 3,
      "edge ztpd alive at all %d samples (every 5 s), one pid %s" % (len(samples), ",".join(sorted(pids)) or "-"))

# 2. RSS and fds flat after warm-up: mean of the first quarter after the first 20 % of samples
# against the mean of the last quarter.
live = [s for s in samples if s[1] != "dead"]
after = live[int(len(live) * 0.2):]
q = max(1, len(after) // 4)
for col, name, unit in ((2, "RSS", "KiB"), (3, "open fds", "")):
    early = sum(float(s[col]) for s in after[:q]) / q if after else 0
    late = sum(float(s[col]) for s in after[-q:]) / q if after else 0
    growth = (late - early) / early * 100 if early else 100
    peak = max(float(s[col]) for s in live) if live else 0
    check(after and growth < 10, "%s after warm-up: %.0f -> %.0f %s (%+.1f %%, limit +10 %%), peak %.0f" % (name, early, late, unit, growth, peak))

# 3. No allowed ping lost outside its client's roam and restart windows.
windows = {}
for l in open(work + "/events.txt"):
    client, kind, t0, t1 = l.split()
    windows.setdefault(client, []).append((kind, float(t0), float(t1)))
pings = json.load(open(work + "/pings.json"))
sent = sum(p["sent"] for p in pings.values())
lost_in, lost_out, where = 0, 0, []
for client, p in pings.items():
    for t in p["lost"]:
        if any(t0 - 1 <= t <= t1 + slack for _, t0, t1 in windows.get(client, [])): lost_in += 1
        else: lost_out += 1; where.append("%s@%.1f" % (client, t))
roams = sum(1 for w in windows.values() for k, _, _ in w if k == "roam")
restarts = sum(1 for w in windows.values() for k, _, _ in w if k == "restart")
check(sent > 0 and lost_out == 0,
      "pings: %d sent from %d clients, %d lost outside roam/restart windows%s, %d inside (%d roams, %d restarts, %.0f s slack)"
      % (sent, len(pings), lost_out, (" (" + " ".join(where[:10]) + ")") if where else "", lost_in, roams, restarts, slack))

# 4. Every reload applied (good) or refused with file:line:col (broken).
reloads = [l.rstrip("\n").split(" ", 2) for l in open(work + "/reloads.txt") if l.strip()]
applied = sum(1 for r in reloads if r[2] == "applied")
refused = sum(1 for r in reloads if r[2].startswith("refused "))
bad = [r for r in reloads if r[2].startswith("NEITHER")]
example = next((r[2][8:] for r in reloads if r[2].startswith("refused ")), "-")
check(reloads and not bad and applied > 0 and refused > 0,
      "reloads: %d written, %d applied, %d refused with file:line:col, %d neither%s" % (len(reloads), applied, refused, len(bad), (": " + bad[0][2]) if bad else ""))
print("      e.g. " + example[:160])

# 5. Denied traffic never delivered: no probe of the denied port connected, the origin never
# accepted on it; and the allowed port answered the same probes (the probe itself works).
probes = [l.split() for l in open(work + "/probes.txt") if l.strip()]
denied = [p for p in probes if p[1] == "22"]
allowed = [p for p in probes if p[1] == "5432"]
leaked = [p for p in denied if p[2] == "connected"]
origin22 = sum(1 for l in open(work + "/origin.log") if l.startswith("accept 22 "))
ok_allowed = sum(1 for p in allowed if p[2] == "connected")
check(denied and not leaked and origin22 == 0 and ok_allowed > 0,
      "denied port 22: %d probes, %d connected, origin accepted %d; allowed port 5432: %d of %d connected"
      % (len(denied), len(leaked), origin22, ok_allowed, len(allowed)))

# 6. The rest ran: iperf3 to the end, flood sent, polls answered.
iperf = open(work + "/iperf.txt").read()
m = re.findall(r"([0-9.]+) ([MG])bits/sec.*receiver", iperf)
rate = (float(m[-1][0]) * (1000 if m[-1][1] == "G" else 1)) if m else 0
check(bool(m), "iperf3 through the tunnel for the whole run: %s" % (("%.0f Mbit/s received" % rate) if m else "no receiver summary"))
flood = open(work + "/flood.txt").read().strip()
check(flood.startswith("flood:"), flood or "flood: no report")
polls = [l.split() for l in open(work + "/polls.txt") if l.strip()]
pfail = [p for p in polls if p[1] != "0" or p[2] != "0"]
check(polls and not pfail, "wg show / ztpc status polled %d times, %d failed" % (len(polls), len(pfail)))

print("soak: %s (%.0f s)" % ("FAILED: %d assertion(s)" % len(failed) if failed else "all assertions passed", duration))
sys.exit(1 if failed else 0)
