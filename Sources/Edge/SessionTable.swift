import Enforcer
import Foundation
import Logging
import PolicyCompiler
import Tunnel

/// The sessions the edge enforces on: the enforcer's context for each peer with a session,
/// the per-packet verdict, and sessions opened or closed as the tunnel and the policy change.
///
/// Locking: the map and every call into the enforcer are serialised with the tunnel's packet
/// filter, which runs under the tunnel's data-path lock; everything else (session events,
/// reloads, status) enters through ``SessionControl/serializedWithDataPath(_:)``. So a packet
/// takes one lock, the tunnel's. Until a tunnel is attached (in tests, or before the runtime
/// starts) a lock of the table's own stands in for it.
final class SessionTable: @unchecked Sendable {
    let enforcer: Enforcer
    private let logger: Logger
    /// Only under the data-path lock.
    private var contexts: [PublicKey: Enforcer.PeerContext] = [:]
    /// Guards `control`; never taken on the packet path.
    private let controlLock = NSLock()
    private var control: (any SessionControl)?
    /// Serialises in place of the tunnel's lock while none is attached.
    private let standInLock = NSLock()

    init(enforcer: Enforcer, logger: Logger) {
        self.enforcer = enforcer
        self.logger = logger
    }

    /// Links the table to its tunnel; call before the tunnel starts moving packets.
    func attach(_ control: any SessionControl) {
        controlLock.lock()
        self.control = control
        controlLock.unlock()
    }

    var attached: (any SessionControl)? {
        controlLock.lock()
        defer { controlLock.unlock() }
        return control
    }

    private func serialized<T>(_ body: () throws -> T) rethrows -> T {
        if let control = attached { return try control.serializedWithDataPath(body) }
        standInLock.lock()
        defer { standInLock.unlock() }
        return try body()
    }

    // MARK: Events from the tunnel

    /// A peer's session is up: admitted if the policy allows its key something, else closed.
    func established(_ key: PublicKey, from endpoint: Endpoint?) {
        let outcome: (admitted: Bool, name: String?)? = serialized {
            guard contexts[key] == nil else { return nil }
            let context = enforcer.sessionEstablished(key)
            contexts[key] = context
            let tables = enforcer.store.generation.tables
            return (context != nil, tables.identity(forKey: key).map { tables.identities[$0].name })
        }
        guard let outcome else { return }
        let at = endpoint.map { " from \($0)" } ?? ""
        if outcome.admitted {
            logger.info("session established: \(outcome.name ?? "?") (\(key.base64))\(at)")
        } else {
            let why = outcome.name == nil ? "has no identity in the policy" : "is allowed nothing by the policy"
            logger.warning("session refused: peer \(key.base64)\(at) \(why); closing it")
            serialized { contexts[key] = nil }
            attached?.closeSession(of: key)
        }
    }

    func ended(_ key: PublicKey) {
        serialized {
            if let context = contexts.removeValue(forKey: key) { enforcer.sessionEnded(context) }
        }
    }

    /// The enforcer's last verdict, for the packets the tunnel gives it too without asking again
    /// (``repeated(_:_:_:_:)``); nil when the last packet had no session. Only under the
    /// data-path lock.
    private var lastVerdict: Enforcer.Verdict?

    /// The verdict on one packet (and the packets of its flow that follow it in the batch).
    /// Runs under the tunnel's data-path lock (the packet filter hook), so it takes no lock of
    /// its own.
    func verdict(_ direction: TunnelRuntime.Direction, _ key: PublicKey, _ packet: UnsafeRawBufferPointer)
        -> TunnelRuntime.Verdict
    {
        guard let context = contexts[key] else {
            lastVerdict = nil
            return .drop
        }
        let verdict = direction == .inbound ? enforcer.inbound(context, packet) : enforcer.outbound(context, packet)
        lastVerdict = verdict
        return verdict == .pass ? .pass : .drop
    }

    /// The tunnel applied the last verdict to `count` more packets of the same flow: counted
    /// as the enforcer counts the packets it decides. Under the data-path lock, right after
    /// the ``verdict(_:_:_:)`` call it follows.
    func repeated(_ direction: TunnelRuntime.Direction, _ key: PublicKey, _ verdict: TunnelRuntime.Verdict, _ count: Int) {
        guard let lastVerdict else { return }
        enforcer.countRepeated(lastVerdict, count)
    }

    // MARK: After a reload

    /// Ends the sessions of peers the policy in force allows nothing any more.
    func closeSessionsNoLongerAllowed() {
        let gone: [PublicKey] = serialized {
            let gone = contexts.filter { !enforcer.stillAllowed($0.value) }.map(\.key)
            for key in gone { if let c = contexts.removeValue(forKey: key) { enforcer.sessionEnded(c) } }
            return gone
        }
        for key in gone {
            logger.warning("session closed: peer \(key.base64) is allowed nothing by the new policy")
            attached?.closeSession(of: key)
        }
    }

    // MARK: Reading

    /// The enforcer's counters and the sessions, read together.
    struct Snapshot {
        var statistics: Enforcer.Statistics
        var sessions: [(key: PublicKey, identity: String?)]
        var cachedFlows: Int
        var cacheCapacity: Int
    }

    func snapshot() -> Snapshot {
        serialized {
            let tables = enforcer.store.generation.tables
            return Snapshot(
                statistics: enforcer.snapshot(),
                sessions: contexts.map { (key, context) in
                    (key, tables.identity(forKey: context.key).map { tables.identities[$0].name })
                },
                cachedFlows: enforcer.cachedFlows, cacheCapacity: enforcer.cacheCapacity)
        }
    }
}
