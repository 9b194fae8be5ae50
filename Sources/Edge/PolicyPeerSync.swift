import Foundation
import Logging
import PolicyCompiler
import Tunnel

/// Keeps the policy's identities that list `allowed_ips` as peers of the tunnel: adds new
/// ones, updates changed ones, and removes the peers it added whose identity left the policy.
/// Peers configured otherwise (a wg-style file, `wg set`) are left alone. Runs on the reload
/// worker and at attach, never on the packet path.
final class PolicyPeerSync: @unchecked Sendable {
    private let logger: Logger
    /// Guards `added`.
    private let lock = NSLock()
    /// The peers this sync added, with the allowed IPs it gave them.
    private var added: [PublicKey: [IPPrefix]] = [:]

    init(logger: Logger) {
        self.logger = logger
    }

    /// Brings `control`'s peers in line with `tables`: O(identities) tunnel calls at most,
    /// one per peer that changed.
    func sync(_ tables: DecisionTables, into control: any SessionControl) {
        var wanted: [PublicKey: [IPPrefix]] = [:]
        for identity in tables.identities where !identity.allowedIPs.isEmpty {
            wanted[identity.key] = identity.allowedIPs
        }
        lock.lock()
        let previous = added
        added = wanted
        lock.unlock()
        for (key, ips) in wanted where previous[key] != ips {
            do {
                // A peer the operator configured before the policy named it keeps its
                // sessions: only its allowed IPs become the policy's.
                if previous[key] != nil || control.hasPeer(key) {
                    try control.updatePeer(.init(publicKey: key, allowedIPs: ips), replaceAllowedIPs: true)
                } else {
                    try control.addPeer(.init(publicKey: key, allowedIPs: ips))
                }
            } catch {
                logger.error("cannot add peer \(key.base64) from the policy: \(error)")
            }
        }
        for key in previous.keys where wanted[key] == nil {
            control.removePeer(key)
            logger.info("peer \(key.base64) removed: its identity left the policy")
        }
    }
}
