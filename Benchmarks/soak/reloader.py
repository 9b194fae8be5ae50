# A policy reload every PERIOD seconds for DURATION seconds, alternating a good edit (good-a and
# good-b in turn) and a broken one, each written as an editor would: a new file renamed over
# the old. After each write, `ztpc status --json` is polled until the edge has applied it (the
# generation went up) or refused it (reload_failures went up and last_reload_error names
# soak.yaml:LINE:COL). One line a reload on stdout: "applied", "refused ERROR" or "NEITHER ...";
# the soak fails on any NEITHER.
import json, os, re, subprocess, sys, time
ztpc, sock, variants, target, period, duration = sys.argv[1:7]
period, duration = float(period), float(duration)
def status():
    r = subprocess.run([ztpc, "status", "--socket", sock, "--json"], capture_output=True, text=True, timeout=10)
    return json.loads(r.stdout)["policy"] if r.returncode == 0 else None
start = time.time(); n = 0
while time.time() - start < duration - period:
    tick = start + n * period
    time.sleep(max(0, tick - time.time()))
    broken = n % 2 == 1
    source = "broken.yaml" if broken else ("good-b.yaml" if n % 4 == 0 else "good-a.yaml")
    before = None
    for _ in range(20):
        before = status()
        if before: break
        time.sleep(0.05)
    tmp = os.path.join(variants, ".next")
    with open(os.path.join(variants, source)) as f, open(tmp, "w") as g: g.write(f.read())
    os.rename(tmp, target)
    outcome = "NEITHER (no status)" if before is None else "NEITHER (nothing changed in 1.8 s)"
    deadline = time.time() + 1.8
    while before is not None and time.time() < deadline:
        now = status()
        if now and now["generation"] > before["generation"]:
            outcome = "applied" if not broken else "NEITHER (broken edit applied)"; break
        if now and now["reload_failures"] > before["reload_failures"]:
            err = now.get("last_reload_error") or ""
            ok = broken and re.search(r"soak\.yaml:\d+:\d+", err)
            outcome = ("refused " if ok else "NEITHER (refused: ") + err.replace("\n", " ")[:200] + ("" if ok else ")"); break
        time.sleep(0.05)
    print("%.3f %s %s" % (time.time(), source, outcome), flush=True)
    n += 1
