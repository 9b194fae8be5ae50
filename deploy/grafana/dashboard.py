#!/usr/bin/env python3
# Writes deploy/grafana/ztp.json, the Grafana dashboard over ztpd's metrics:
#   python3 deploy/grafana/dashboard.py > deploy/grafana/ztp.json
# Edit the panels here, not in the JSON; MonitoringTests checks that the two agree.
import json
ds = {"type": "prometheus", "uid": "${datasource}"}
sel = 'instance=~"$instance"'
panels = []
y = 0
def panel(title, desc, targets, unit="short", kind="timeseries", w=12, h=8, x=0, stack=False, extra=None):
    global y
    p = {
        "type": kind, "title": title, "description": desc, "datasource": ds,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"datasource": ds, "refId": chr(65 + i), "expr": e, "legendFormat": l} for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal" if stack else "none"}, "fillOpacity": 10}
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}, "tooltip": {"mode": "multi"}}
    if extra: p.update(extra)
    panels.append(p)
    return p
def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
    y += 1

row("Overview")
stat_opts = {"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value", "graphMode": "area"}}
panel("Sessions", "Peers with a live WireGuard session the policy knows (ztp_sessions).",
      [(f'sum(ztp_sessions{{{sel}}})', "sessions")], kind="stat", w=4, h=4, x=0, extra=stat_opts)
panel("Policy generation", "The generation in force on each edge; it grows by one with every accepted reload.",
      [(f'ztp_policy_generation{{{sel}}}', "{{instance}}")], kind="stat", w=4, h=4, x=4, extra=stat_opts)
panel("Policy age", "Time since the generation in force was loaded.",
      [(f'time() - ztp_policy_loaded_timestamp_seconds{{{sel}}}', "{{instance}}")], unit="s", kind="stat", w=4, h=4, x=8, extra=stat_opts)
panel("Last reload refused", "1 while the last reload was refused and an older generation stays in force.",
      [(f'ztp_policy_reload_failing{{{sel}}}', "{{instance}}")], kind="stat", w=4, h=4, x=12,
      extra={"options": stat_opts["options"], "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}}, "overrides": []}})
panel("Decision cache hit ratio", "Share of packets decided from the flow cache rather than by evaluating the policy.",
      [(f'sum(rate(ztp_decision_cache_hits_total{{{sel}}}[$__rate_interval])) / clamp_min(sum(rate(ztp_decision_cache_hits_total{{{sel}}}[$__rate_interval])) + sum(rate(ztp_decision_cache_misses_total{{{sel}}}[$__rate_interval])), 1e-9)', "hit ratio")],
      unit="percentunit", kind="stat", w=4, h=4, x=16, extra=stat_opts)
panel("Build", "Version and commit of each edge (ztp_build_info).",
      [(f'ztp_build_info{{{sel}}}', "{{instance}} {{version}} {{commit}}")], kind="table", w=4, h=4, x=20,
      extra={"targets": [{"datasource": ds, "refId": "A", "expr": f'ztp_build_info{{{sel}}}', "format": "table", "instant": True}],
             "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}]})
y += 4

row("Decisions")
panel("Decisions by verdict", "New flows decided per second, allowed and denied (cache hits are not decisions).",
      [(f'sum by (verdict) (rate(ztp_decisions_total{{{sel}}}[$__rate_interval]))', "{{verdict}}")], unit="ops", stack=True)
panel("Decisions by rule (top 10)", "Which rules decide the traffic: flows per second per rule id.",
      [(f'topk(10, sum by (rule) (rate(ztp_decisions_by_rule_total{{{sel}}}[$__rate_interval])))', "{{rule}}")], unit="ops", x=12)
y += 8
panel("Packets passed and dropped by the enforcer", "Packets per second through the enforcer, by verdict.",
      [(f'sum by (verdict) (rate(ztp_packets_total{{{sel}}}[$__rate_interval]))', "{{verdict}}")], unit="pps", stack=True)
panel("Cached flows", "Flows held in the decision cache (ztp_cached_flows).",
      [(f'ztp_cached_flows{{{sel}}}', "{{instance}}")], x=12)
y += 8

row("Drops")
panel("Enforcer drops by reason", "Packets the policy refused: denied, no rule matched, unknown identity, unsolicited, over a rate, malformed.",
      [(f'sum by (reason) (rate(ztp_enforcer_drops_total{{{sel}}}[$__rate_interval]))', "{{reason}}")], unit="pps", stack=True)
panel("Tunnel drops by reason", "Datagrams the WireGuard layer dropped: bad MAC, cookie required, rate limited, replayed, coalesced handshakes, ...",
      [(f'sum by (reason) (rate(ztp_tunnel_drops_total{{{sel}}}[$__rate_interval]))', "{{reason}}")], unit="pps", stack=True, x=12)
y += 8
panel("Rate-limited drops", "Drops by the policy's evaluation and new-flow rate limits.",
      [(f'sum by (limit) (rate(ztp_rate_limited_drops_total{{{sel}}}[$__rate_interval]))', "{{limit}}")], unit="pps", stack=True)
panel("Drop ratio", "Dropped over all packets through the enforcer.",
      [(f'sum(rate(ztp_packets_total{{verdict="drop",{sel}}}[$__rate_interval])) / clamp_min(sum(rate(ztp_packets_total{{{sel}}}[$__rate_interval])), 1e-9)', "drop ratio")],
      unit="percentunit", x=12)
y += 8

row("Tunnel")
panel("Handshakes", "Completed WireGuard handshakes per second.",
      [(f'sum by (instance) (rate(ztp_handshakes_total{{{sel}}}[$__rate_interval]))', "{{instance}}")], unit="ops")
panel("Tunnel traffic", "Bytes per second received from and sent to peers (outer datagrams).",
      [(f'sum(rate(ztp_rx_bytes_total{{{sel}}}[$__rate_interval]))', "received"),
       (f'-sum(rate(ztp_tx_bytes_total{{{sel}}}[$__rate_interval]))', "sent")], unit="Bps", x=12)
y += 8

row("XDP guard")
panel("XDP verdicts", "Packets on the tunnel port per second by the XDP program's verdict (pass_* and drop_*).",
      [(f'sum by (reason) (rate(ztp_xdp_packets_total{{{sel}}}[$__rate_interval]))', "{{reason}}")], unit="pps", stack=True)
panel("XDP drops", "Only the drops: blocked sources, malformed messages, unknown sessions, initiations over the per-source rate.",
      [(f'sum by (reason) (rate(ztp_xdp_packets_total{{reason=~"drop_.*",{sel}}}[$__rate_interval]))', "{{reason}}")], unit="pps", stack=True, x=12)
y += 8

row("Policy reloads")
panel("Reloads and refusals", "Policy reloads accepted and refused per hour.",
      [(f'sum(increase(ztp_policy_reloads_total{{{sel}}}[1h]))', "accepted"),
       (f'sum(increase(ztp_policy_reload_failures_total{{{sel}}}[1h]))', "refused")], w=24)
y += 8

dashboard = {
    "title": "ztp edge", "uid": "ztp-edge", "tags": ["ztp", "wireguard"], "timezone": "browser",
    "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "description": "ztpd's metrics: decisions, cache, sessions, handshakes, drops, XDP, reloads, tunnel bytes.",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "instance", "type": "query", "datasource": ds, "label": "Edge", "multi": True, "includeAll": True,
         "query": {"query": "label_values(ztp_build_info, instance)", "refId": "instance"},
         "definition": "label_values(ztp_build_info, instance)", "refresh": 2, "allValue": ".*"},
    ]},
    "annotations": {"list": [
        {"name": "Policy reloads", "datasource": ds, "enable": True, "iconColor": "blue",
         "expr": f'changes(ztp_policy_generation{{{sel}}}[2m]) > 0', "titleFormat": "policy reloaded on {{instance}}"},
    ]},
    "panels": panels,
}
print(json.dumps(dashboard, indent=2))
