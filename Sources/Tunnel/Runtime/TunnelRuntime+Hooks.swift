// The embedder's side of TunnelRuntime: the callbacks it is given (`Hooks`), how they are
// called outside the lock once per batch (`fireEvents`: deferred closeSession calls, the
// receiver-index hook, our handshake messages, then session events), the index publishing
// calls, and the per-thread marker that lets the packet filter call closeSession.

import Foundation

extension TunnelRuntime {
    /// Callbacks for whoever embeds the tunnel (the policy enforcer, the daemon's log).
    /// Fixed at init, so the threads read them without synchronisation.
    package struct Hooks: Sendable {
        /// A peer got its first usable session (after a handshake), with its endpoint.
        package var sessionEstablished: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// A peer's last keypair expired (or the tunnel stopped).
        package var sessionEnded: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// Decides the data packets (inner IP packets) after routing / source validation.
        /// Called once per run of packets of one flow (see ``FilterRun``): the segments of
        /// one TSO/USO super-packet, or consecutive packets of one peer in a batch whose
        /// addresses, protocol, ports and ICMP kind are equal, take the verdict given to the
        /// first of them; a packet whose flow differs is always given to the filter.
        /// ``packetFilterRepeated`` hears how many packets a verdict was applied to without
        /// a call. Runs under the tunnel's lock on the I/O threads: it must be
        /// quick, must not block, and must not call the tunnel, with one exception:
        /// ``TunnelRuntime/closeSession(of:)`` may be called from inside it and takes
        /// effect right after the current packet. The call itself costs the runtime no
        /// allocation or copy: the buffer is the packet in the I/O thread's own buffer,
        /// valid only during the call.
        package var packetFilter: (@Sendable (Direction, PublicKey, UnsafeRawBufferPointer) -> Verdict)?
        /// The verdict ``packetFilter`` last returned for this peer and direction was applied
        /// to this many more packets of the same flow without calling it (for counters that
        /// count packets). Called under the tunnel's lock before the filter is called again
        /// and before the lock is released; the same rules as for the filter apply.
        package var packetFilterRepeated: (@Sendable (Direction, PublicKey, Verdict, Int) -> Void)?
        /// Diagnostics; never given key material. May run under the tunnel's lock: it must
        /// not call the tunnel.
        package var log: (@Sendable (LogLevel, String) -> Void)?
        /// The set of local indices peers may address messages to changed (see
        /// ``TunnelRuntime/liveReceiverIndices()``); it gets the whole new set. For a filter
        /// in front of the socket (the XDP session map) that drops transport messages to
        /// unknown indices.
        ///
        /// Called before any handshake message carrying a new index leaves (our initiation
        /// or response: the peer's transport messages will carry that index), so a filter
        /// updated here never drops the peer's first transport message; an index leaves
        /// the set once its keypair is discarded (rotation, expiry, closeSession,
        /// removePeer). Runs on whichever thread made the change, outside the tunnel's
        /// lock, one call at a time and in order (the last call has the current set);
        /// meanwhile that thread's handshake messages wait, and other threads' data goes on
        /// unless they too have a handshake message to send. So it may make a few system
        /// calls (map updates), but should take microseconds, not milliseconds. It may read
        /// the tunnel (``TunnelRuntime/liveReceiverIndices()``, ``TunnelRuntime/statistics()``,
        /// ``TunnelRuntime/status()``) but must not change it: closeSession, addPeer,
        /// updatePeer, removePeer and stop publish too and would deadlock on this call.
        package var receiverIndicesChanged: (@Sendable (Set<UInt32>) -> Void)?
        /// The UDP socket was rebound to this port (`listen_port` through the UAPI), for a
        /// filter in front of it that must follow (the XDP guard's port). Called once the
        /// new socket receives, outside the tunnel's lock; it may read the tunnel but must
        /// not change it.
        package var listenPortChanged: (@Sendable (UInt16) -> Void)?

        package init(sessionEstablished: (@Sendable (PublicKey, Endpoint?) -> Void)? = nil,
                    sessionEnded: (@Sendable (PublicKey, Endpoint?) -> Void)? = nil,
                    packetFilter: (@Sendable (Direction, PublicKey, UnsafeRawBufferPointer) -> Verdict)? = nil,
                    packetFilterRepeated: (@Sendable (Direction, PublicKey, Verdict, Int) -> Void)? = nil,
                    log: (@Sendable (LogLevel, String) -> Void)? = nil,
                    receiverIndicesChanged: (@Sendable (Set<UInt32>) -> Void)? = nil,
                    listenPortChanged: (@Sendable (UInt16) -> Void)? = nil) {
            self.sessionEstablished = sessionEstablished
            self.sessionEnded = sessionEnded
            self.packetFilter = packetFilter
            self.packetFilterRepeated = packetFilterRepeated
            self.log = log
            self.receiverIndicesChanged = receiverIndicesChanged
            self.listenPortChanged = listenPortChanged
        }
    }

    /// Runs `body` serialised with the packet filter: under the data path's lock, which the
    /// I/O threads hold while they call ``Hooks/packetFilter``. State that the filter uses
    /// (the policy enforcer's) can so be read and changed from other threads with no lock of
    /// its own, and each packet takes one lock. Keep `body` short (the data path waits for
    /// it) and do not call the tunnel from it; never call this from a hook that runs under the
    /// lock (``Hooks/packetFilter``, ``Hooks/log``): it would deadlock.
    package func serializedWithDataPath<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// The local indices peers may address messages to now: those of live keypairs
    /// (previous, current, next) and of handshakes we sent a message for. What
    /// ``Hooks/receiverIndicesChanged`` last reported, or newer.
    func liveReceiverIndices() -> Set<UInt32> {
        lock.lock()
        defer { lock.unlock() }
        return device.liveIndices
    }

    /// Calls ``Hooks/receiverIndicesChanged`` with the current set now, in order with the
    /// runtime's own calls: for a filter attached (or reloaded) while the tunnel runs, so
    /// that it starts from the live set without racing a concurrent change.
    package func publishReceiverIndices() {
        lock.lock()
        republishIndices = true
        lock.unlock()
        fireEvents()
    }

    /// Runs what was left for outside the lock: deferred closeSession calls, the
    /// receiver-index hook, then the handshake messages (whose indices the hook has now
    /// seen), then the session events. After every batch, so the common case (nothing to
    /// do) is one lock round trip.
    func fireEvents() {
        lock.lock()
        let idle = deferredCloses.isEmpty && events.isEmpty && outgoingHandshakes.isEmpty
            && (hooks.receiverIndicesChanged == nil || (device.indexGeneration == publishedIndexGeneration && !republishIndices))
        lock.unlock()
        if idle { return }

        publishLock.lock()
        lock.lock()
        if !deferredCloses.isEmpty {
            let closes = deferredCloses
            deferredCloses.removeAll()
            for key in closes { closeSessionLocked(key) }
        }
        let pending = events
        events.removeAll()
        let messages = outgoingHandshakes
        outgoingHandshakes.removeAll()
        var indices: Set<UInt32>?
        if hooks.receiverIndicesChanged != nil, device.indexGeneration != publishedIndexGeneration || republishIndices {
            publishedIndexGeneration = device.indexGeneration
            republishIndices = false
            indices = device.liveIndices
        }
        lock.unlock()
        if let indices { hooks.receiverIndicesChanged?(indices) }
        var failed = 0
        for message in messages {
            do {
                try socket.send(message.bytes, to: message.endpoint)
            } catch {
                failed += 1
                log(.debug, "sending a handshake message to \(message.endpoint) failed: \(error)")
            }
        }
        publishLock.unlock()
        if failed > 0 {
            lock.lock()
            for _ in 0..<failed { drop(.ioError, nil) }
            lock.unlock()
        }
        for event in pending {
            if event.established { hooks.sessionEstablished?(event.key, event.endpoint) }
            else { hooks.sessionEnded?(event.key, event.endpoint) }
        }
    }
}

/// Marks, per thread, that a runtime's hook is running under that runtime's lock, so
/// that ``TunnelRuntime/closeSession(of:)`` called from the hook defers instead of
/// deadlocking. A pthread key: two calls per filtered packet, no allocation.
enum HookScope {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static func run<R>(_ runtime: TunnelRuntime, _ body: () -> R) -> R {
        pthread_setspecific(key, Unmanaged.passUnretained(runtime).toOpaque())
        defer { pthread_setspecific(key, nil) }
        return body()
    }

    static func isInside(_ runtime: TunnelRuntime) -> Bool {
        pthread_getspecific(key) == Unmanaged.passUnretained(runtime).toOpaque()
    }
}
