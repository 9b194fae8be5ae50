// The peer table of TunnelRuntime: adding, changing and removing one peer at a time, status
// and statistics, and closing a peer's session (the policy enforcer's lever).

import Foundation

extension TunnelRuntime {
    /// Adds or replaces a peer (also while running).
    package func addPeer(_ peer: TunnelConfiguration.PeerConfiguration) throws {
        defer { fireEvents() }  // a replaced peer's session end and freed indices
        lock.lock()
        defer { lock.unlock() }
        try addPeerLocked(peer)
    }

    func addPeerLocked(_ peer: TunnelConfiguration.PeerConfiguration) throws {
        removePeerLocked(peer.publicKey)
        try device.addPeer(peer.publicKey, presharedKey: peer.presharedKey)
        let keepalive = peer.persistentKeepalive ?? defaultPersistentKeepalive
        peers[peer.publicKey] = PeerState(
            publicKey: peer.publicKey, endpoint: peer.endpoint,
            persistentKeepalive: keepalive.flatMap { $0 == 0 ? nil : .seconds(Int($0)) })
        for prefix in peer.allowedIPs { allowedIPs.insert(prefix, peer.publicKey) }
    }

    /// Changes a peer without touching its sessions when it exists with the same
    /// preshared key (endpoint and persistent keepalive when given, allowed IPs added
    /// or replaced); otherwise adds it. For `wg set` through the UAPI.
    package func updatePeer(_ peer: TunnelConfiguration.PeerConfiguration, replaceAllowedIPs: Bool) throws {
        defer { fireEvents() }
        lock.lock()
        defer { lock.unlock() }
        let key = peer.publicKey
        guard peers[key] != nil, let existing = device.peers[key],
              existing.presharedKey == (peer.presharedKey ?? existing.presharedKey) else {
            try addPeerLocked(peer)
            return
        }
        if let endpoint = peer.endpoint { peers[key]!.endpoint = endpoint }
        if let seconds = peer.persistentKeepalive {
            peers[key]!.persistentKeepalive = seconds == 0 ? nil : .seconds(Int(seconds))
        }
        if replaceAllowedIPs { allowedIPs.removeAll(key) }
        for prefix in peer.allowedIPs { allowedIPs.insert(prefix, key) }
    }

    /// Removes a peer, ending its session.
    package func removePeer(_ key: PublicKey) {
        lock.lock()
        removePeerLocked(key)
        lock.unlock()
        fireEvents()
    }

    func removePeerLocked(_ key: PublicKey) {
        guard let state = peers.removeValue(forKey: key) else { return }
        if state.sessionUp { events.append((false, key, state.endpoint)) }
        device.removePeer(key)  // frees handshake and keypair indices
        allowedIPs.removeAll(key)
        coalescer.forget(key)
    }

    /// Status of every peer.
    package func status() -> [PeerStatus] {
        lock.lock()
        defer { lock.unlock() }
        return peers.values.map { state in
            PeerStatus(publicKey: state.publicKey, endpoint: state.endpoint,
                       allowedIPs: allowedIPs.prefixes(of: state.publicKey),
                       persistentKeepalive: state.persistentKeepalive,
                       lastHandshake: state.lastHandshakeWallTime,
                       receivedBytes: state.counters.receivedBytes, sentBytes: state.counters.sentBytes,
                       hasSession: state.current != nil,
                       hasPresharedKey: device.peers[state.publicKey].map { $0.presharedKey != .zero } ?? false)
        }
    }

    /// The number of configured peers.
    package var peerCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return peers.count
    }

    /// Whether `key` is a configured peer: one lookup, where ``status()`` copies every peer.
    package func hasPeer(_ key: PublicKey) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return peers[key] != nil
    }

    /// A snapshot of the interface's counters, globally and per peer.
    package func statistics() -> TunnelStatistics {
        lock.lock()
        defer { lock.unlock() }
        return TunnelStatistics(global: counters, peers: peers.mapValues(\.counters),
                                underLoad: load.isUnderLoad(now: .now))
    }

    /// Ends the session with `key` at once, for the policy enforcer: every keypair
    /// (current, previous, next) and any handshake in progress are dropped and their
    /// key material wiped, staged packets are discarded and `sessionEnded` fires if a
    /// session was up. Packets still arriving under the old keys are dropped as
    /// ``DropReason/unknownReceiver``; no traffic flows until a new handshake completes
    /// (the peer's own timers start one; outbound traffic from us does too).
    ///
    /// Safe from any thread. From inside ``Hooks/packetFilter`` it is deferred until
    /// the filter's current packet is done (the filter runs under the lock this call
    /// needs). Other hooks that run under the lock (``Hooks/log``) must not call it.
    package func closeSession(of key: PublicKey) {
        if HookScope.isInside(self) {
            // This thread already holds `lock` (we are inside packetFilter).
            deferredCloses.append(key)
            return
        }
        lock.lock()
        closeSessionLocked(key)
        lock.unlock()
        fireEvents()
    }

    func closeSessionLocked(_ key: PublicKey, reason: String = "on request") {
        guard let state = peers[key] else { return }
        for index in state.keypairIndices { device.releaseIndex(index) }
        state.current = nil
        state.previous = nil
        state.next = nil
        state.staged.removeAll()
        state.handshakeStartedAt = nil
        state.lastInitiationSentAt = nil
        state.retransmitAt = nil
        state.keepaliveAt = nil
        state.newHandshakeAt = nil
        if state.sessionUp {
            state.sessionUp = false
            events.append((false, key, state.endpoint))
        }
        device.clearHandshake(of: key)
        coalescer.forget(key)
        log(.info, "\(short(key)): session closed \(reason)")
    }

    /// A peer's preshared key, if one is configured (for the root-only UAPI socket).
    func presharedKey(of key: PublicKey) -> SymmetricKey? {
        lock.lock()
        defer { lock.unlock() }
        guard let psk = device.peers[key]?.presharedKey, psk != .zero else { return nil }
        return psk
    }
}
