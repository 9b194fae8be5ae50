import Edge
import Foundation
import Logging
import PolicyCompiler
import XDP

extension EdgeDaemon {
    /// Attaches the XDP guard to the underlay interface when configured: handshake rate from the
    /// daemon config, deny list from the policy's `block:` (again on every reload), counters in
    /// the metrics and in `ztpc status`.
    func attachXDP(port: UInt16, edge: EdgeService?) throws -> XDPGuard? {
        guard let settings = settings.edge.xdp else { return nil }
        let log = logger
        let mode: AttachMode = settings.mode == "native" ? .native : (settings.mode == "generic" ? .generic : .automatic)
        let xdp: XDPGuard
        do {
            xdp = try XDPGuard.attach(
                interface: settings.interface, port: port, mode: mode, objectPath: settings.object,
                log: { log.notice("xdp: \($0)") })
        } catch {
            logger.critical("cannot attach the XDP program to \(settings.interface): \(error)")
            throw error
        }
        let rate = settings.handshakeRate.perSecond
        try xdp.setHandshakeRate(perSecond: UInt32(max(1, rate.rounded())), burst: UInt32(max(2, (2 * rate).rounded())))
        logger.info(
            "XDP guard on \(settings.interface) (\(xdp.attachment.map { "\($0.mode)" } ?? "?") mode) for UDP port \(port); handshakes \(settings.handshakeRate) per source; program \(xdp.objectPath)")
        if let edge {
            let apply: @Sendable (DecisionTables) -> Void = { tables in
                do {
                    try xdp.setBlocklist(tables.blockedSources)
                    log.info("XDP deny list: \(tables.blockedSources.count) prefixes")
                } catch {
                    log.error("cannot load the XDP deny list: \(error)")
                }
            }
            apply(edge.enforcer.store.generation.tables)
            edge.onPolicyInstalled = apply
            edge.xdpStatus = {
                let counts = (try? xdp.statistics()) ?? [:]
                for (reason, n) in counts {
                    edge.metrics.record(counter: "ztp_xdp_packets_total", dimensions: [("reason", reason.description)], total: n)
                }
                return EdgeStatus.XDP(
                    interface: settings.interface, mode: xdp.attachment.map { "\($0.mode)" } ?? "?",
                    counters: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.description, $0.value) }))
            }
        }
        return xdp
    }
}
