import Foundation
import Logging
import XDP

/// Holds the XDP guard for the receiver-index hook, which is created before the guard.
final class XDPBox: @unchecked Sendable {
    private let lock = NSLock()
    private var guardRef: XDPGuard?

    func set(_ g: XDPGuard) {
        lock.lock()
        guardRef = g
        lock.unlock()
    }

    /// Called by the tunnel when its socket was rebound (`wg set listen-port`).
    func setPort(_ port: UInt16, log: Logger) {
        lock.lock()
        defer { lock.unlock() }
        guard let g = guardRef else { return }
        do {
            try g.setTunnelPort(port)
            log.info("XDP guard follows the tunnel to UDP port \(port)")
        } catch {
            log.error("cannot move the XDP guard to UDP port \(port): \(error)")
        }
    }

    /// Called by the tunnel, in order, whenever the set of indices peers may address changes.
    func update(_ indices: Set<UInt32>, log: Logger) {
        lock.lock()
        defer { lock.unlock() }
        guard let g = guardRef else { return }
        do {
            try g.updateSessions(receiverIndices: indices)
        } catch {
            log.error("cannot update the XDP session map: \(error)")
        }
    }
}
