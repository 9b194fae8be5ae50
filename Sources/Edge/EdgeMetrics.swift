import CoreMetrics
import Enforcer
import Foundation
import Prometheus
import Tunnel

/// The daemon's Prometheus metrics, kept with swift-metrics over swift-prometheus.
///
/// The data path keeps plain counters (an atomic or lock per packet per metric would cost more
/// than the decision); `sample` turns their growth into swift-metrics increments before each
/// scrape and once a second.
package final class EdgeMetrics: @unchecked Sendable {
    package let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let lock = NSLock()
    private var last: [String: UInt64] = [:]
    private var counters: [String: CoreMetrics.Counter] = [:]
    private let sessions: CoreMetrics.Gauge
    private let generation: CoreMetrics.Gauge
    private let cachedFlows: CoreMetrics.Gauge
    private let policyLoaded: CoreMetrics.Gauge
    private let reloadFailing: CoreMetrics.Gauge

    package init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        sessions = CoreMetrics.Gauge(label: "ztp_sessions", dimensions: [], factory: factory)
        generation = CoreMetrics.Gauge(label: "ztp_policy_generation", dimensions: [], factory: factory)
        cachedFlows = CoreMetrics.Gauge(label: "ztp_cached_flows", dimensions: [], factory: factory)
        policyLoaded = CoreMetrics.Gauge(label: "ztp_policy_loaded_timestamp_seconds", dimensions: [], factory: factory)
        reloadFailing = CoreMetrics.Gauge(label: "ztp_policy_reload_failing", dimensions: [], factory: factory)
        // The usual Prometheus info metric: always 1, the facts are in the labels, so that a
        // dashboard or an alert can join on them (`* on(instance) group_left(version)`).
        CoreMetrics.Gauge(
            label: "ztp_build_info", dimensions: [("version", BuildInfo.version), ("commit", BuildInfo.commit)],
            factory: factory
        ).record(1)
    }

    /// Adds the growth of a monotonic count since the last sample.
    private func advance(_ label: String, _ dimensions: [(String, String)], to value: UInt64) {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        let previous = last[key] ?? 0
        let counter: CoreMetrics.Counter
        if let c = counters[key] {
            counter = c
        } else {
            counter = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
            counters[key] = counter
        }
        if value > previous { counter.increment(by: Int64(value - previous)) }
        last[key] = max(previous, value)
    }

    /// Records a monotonic count kept elsewhere (the XDP program's per-reason counters).
    package func record(counter label: String, dimensions: [(String, String)], total: UInt64) {
        lock.lock()
        advance(label, dimensions, to: total)
        lock.unlock()
    }

    /// Records the enforcer's and tunnel's counters and the reload state.
    package func sample(
        enforcer: Enforcer.Statistics, tunnel: TunnelStatistics?, sessions liveSessions: Int, cached: Int,
        generation g: UInt64, reloads: UInt64, reloadFailures: UInt64,
        policyLoadedAt: Date? = nil, lastReloadFailed: Bool = false
    ) {
        lock.lock()
        defer { lock.unlock() }
        advance("ztp_decisions_total", [("verdict", "allow")], to: enforcer.decisionsAllowed)
        advance("ztp_decisions_total", [("verdict", "deny")], to: enforcer.decisionsDenied)
        advance("ztp_packets_total", [("verdict", "pass")], to: enforcer.allowed)
        advance("ztp_packets_total", [("verdict", "drop")], to: enforcer.dropped.values.reduce(0, +))
        for reason in Enforcer.DropReason.allCases {
            advance("ztp_enforcer_drops_total", [("reason", reason.rawValue)], to: enforcer.dropped[reason] ?? 0)
        }
        advance("ztp_rate_limited_drops_total", [("limit", "evaluations")], to: enforcer.dropped[.evaluationRateLimited] ?? 0)
        advance("ztp_rate_limited_drops_total", [("limit", "flows")], to: enforcer.dropped[.flowRateLimited] ?? 0)
        advance("ztp_decision_cache_hits_total", [], to: enforcer.cacheHits)
        advance("ztp_decision_cache_misses_total", [], to: enforcer.cacheMisses)
        advance("ztp_shared_verdicts_total", [], to: enforcer.sharedVerdicts)
        for (rule, n) in enforcer.byRule {
            advance("ztp_decisions_by_rule_total", [("rule", rule)], to: n)
        }
        if let t = tunnel {
            advance("ztp_handshakes_total", [], to: t.global.handshakes)
            advance("ztp_rx_bytes_total", [], to: t.global.receivedBytes)
            advance("ztp_tx_bytes_total", [], to: t.global.sentBytes)
            for reason in DropReason.allCases {
                advance("ztp_tunnel_drops_total", [("reason", reason.rawValue)], to: t.global.drops[reason])
            }
        }
        advance("ztp_policy_reloads_total", [], to: reloads)
        advance("ztp_policy_reload_failures_total", [], to: reloadFailures)
        sessions.record(Int64(liveSessions))
        generation.record(Int64(g))
        cachedFlows.record(Int64(cached))
        if let policyLoadedAt { policyLoaded.record(policyLoadedAt.timeIntervalSince1970) }
        reloadFailing.record(lastReloadFailed ? 1 : 0)
    }

    /// The Prometheus text exposition.
    package func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
