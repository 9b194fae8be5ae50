// The UAPI transaction of TunnelRuntime: `apply(_:)` for `set=1` (peer changes in chunks of
// the lock, listen_port and fwmark, a new private key and the rekeying it forces) and the
// `get=1` snapshot.

import CSodium
import Foundation

extension TunnelRuntime {
    /// Applies a parsed `set=1` request as one transaction: all of it, or (when it throws)
    /// nothing. Everything that can fail is done first: every peer the request creates or
    /// gives a new preshared key (a low-order public key is
    /// ``UAPIError/Reason/unusablePublicKey(_:)``) gets its static-static DH, the costly
    /// part of adding one (tens of microseconds), outside the lock; then the socket: a new
    /// `listen_port` binds a new socket before it replaces the old one, a new `fwmark` is
    /// set on it (a failure of either is ``UAPIError/Reason/socketSetting(key:errno:)``
    /// with the system's errno, the old socket untouched). ``Hooks/listenPortChanged``
    /// then learns the new port.
    ///
    /// A new `private_key` (all zeros: none) works as in wireguard-go: every session and
    /// handshake is dropped and its keys wiped, every peer's static-static DH is computed
    /// again for the new key (outside the lock, with the others), a peer whose public key is
    /// our new one is removed, and the peers that had a session or a persistent keepalive
    /// handshake again at once (when the runtime runs).
    ///
    /// The changes then apply in request order, as wireguard-go applies its lines (a peer
    /// with our own public key is ignored; `update_only` skips absent peers). The lock is
    /// held for at most ``batchChunkSize`` peers or prefixes at a time and released
    /// between chunks, so traffic keeps flowing during a large request and sees it take
    /// effect progressively. Cost: O(peers + prefixes) for the request, plus O(its
    /// prefixes) for each peer removed or whose allowed IPs are replaced.
    ///
    /// A changed preshared key keeps the peer's sessions (wireguard-go does the same):
    /// it is used from the next handshake on.
    package func apply(_ change: InterfaceChange) throws(UAPIError) {
        batchLock.lock()
        defer { batchLock.unlock() }

        lock.lock()
        let currentPrivateKey: PrivateKey? = hasPrivateKey ? device.privateKey : nil
        let currentDeviceKey = device.privateKey
        let existing = device.peers.mapValues(\.presharedKey)
        let currentPort = boundPort, currentMark = socketMark
        lock.unlock()

        var rekeying = false
        var nextPrivateKey = currentPrivateKey
        if let requested = change.privateKey {
            let key: PrivateKey? = requested.isAllZeros ? nil : requested
            if key != currentPrivateKey {
                rekeying = true
                nextPrivateKey = key
            }
        }
        // Without a key the device holds a stand-in that nobody can address.
        let localPrivateKey = rekeying ? (nextPrivateKey ?? PrivateKey()) : currentDeviceKey
        let localKey = nextPrivateKey?.publicKey
        // Every peer that stays needs its static-static DH again under a new key.
        var rekeyed: [PublicKey: Peer] = [:]
        if rekeying {
            for (key, psk) in existing where key != localKey {
                rekeyed[key] = try? Peer(publicKey: key, presharedKey: psk, localPrivateKey: localPrivateKey)
            }
        }
        var known = change.replacePeers ? [:] : existing

        // Walk the request against the peer set as it will be, to find the handshake state
        // to build: peers it creates and preshared keys it changes.
        var prepared: [Int: Peer] = [:]
        for (index, peer) in change.peers.enumerated() where peer.publicKey != localKey {
            let key = peer.publicKey
            if peer.remove { known[key] = nil; continue }
            let current = known[key]
            if current == nil && peer.updateOnly { continue }
            let psk = peer.presharedKey ?? current ?? .zero
            if let current, current == psk { continue }
            do {
                prepared[index] = try Peer(publicKey: key, presharedKey: psk, localPrivateKey: localPrivateKey)
            } catch {
                throw UAPIError(.unusablePublicKey(key))
            }
            known[key] = psk
        }

        let newPort = try applySocketSettings(change, port: currentPort, mark: currentMark)

        var work = 0
        lock.lock()
        if let newPort { boundPort = newPort }
        if let mark = change.fwmark { socketMark = mark }
        var handshakeAgain: [PublicKey] = []
        if rekeying { handshakeAgain = rekeyLocked(localPrivateKey, hasKey: nextPrivateKey != nil, handshakes: rekeyed) }
        /// Lets the data path in between chunks.
        func pause() {
            guard work >= Self.batchChunkSize else { return }
            lock.unlock()
            fireEvents()
            work = 0
            lock.lock()
        }
        if change.replacePeers {
            for key in Array(peers.keys) {
                work += 1 + allowedIPs.count(of: key)
                removePeerLocked(key)
                pause()
            }
        }
        for (index, peer) in change.peers.enumerated() where peer.publicKey != localKey {
            let key = peer.publicKey
            work += 1
            if peer.remove {
                work += allowedIPs.count(of: key)
                removePeerLocked(key)
                pause()
                continue
            }
            if peers[key] == nil {
                if peer.updateOnly { continue }
                // Prepared above, unless another caller removed the peer since.
                guard let handshake = prepared[index] ?? rebuiltHandshake(key, peer.presharedKey) else { continue }
                device.peers[key] = handshake
                let keepalive = peer.persistentKeepaliveInterval ?? defaultPersistentKeepalive
                peers[key] = PeerState(publicKey: key, endpoint: peer.endpoint,
                                       persistentKeepalive: keepalive.flatMap { $0 == 0 ? nil : .seconds(Int($0)) })
            } else {
                if let psk = peer.presharedKey, psk != device.peers[key]?.presharedKey,
                   let handshake = prepared[index] ?? rebuiltHandshake(key, psk) {
                    replaceHandshakeLocked(of: key, with: handshake)
                }
                if let endpoint = peer.endpoint { peers[key]!.endpoint = endpoint }
                if let seconds = peer.persistentKeepaliveInterval {
                    peers[key]!.persistentKeepalive = seconds == 0 ? nil : .seconds(Int(seconds))
                }
                if peer.replaceAllowedIPs {
                    work += allowedIPs.count(of: key)
                    allowedIPs.removeAll(key)
                }
                for prefix in peer.removedAllowedIPs { allowedIPs.remove(prefix, key) }
                work += peer.removedAllowedIPs.count
            }
            var next = 0
            while next < peer.allowedIPs.count {
                pause()
                guard peers[key] != nil else { break }  // removed by another caller meanwhile
                let end = min(peer.allowedIPs.count, next + max(1, Self.batchChunkSize - work))
                for prefix in peer.allowedIPs[next..<end] { allowedIPs.insert(prefix, key) }
                work += end - next
                next = end
            }
            pause()
        }
        if running {
            let now = ContinuousClock.now
            for key in handshakeAgain where peers[key] != nil { initiateHandshake(key, now: now) }
        }
        lock.unlock()
        fireEvents()
    }

    /// The socket half of ``apply(_:)``, outside the lock (the data path goes on): rebinds
    /// for a new `listen_port` (the new socket carrying the mark to be), or sets a new
    /// `fwmark`, and tells ``Hooks/listenPortChanged``. Returns the new port, if any.
    private func applySocketSettings(_ change: InterfaceChange, port: UInt16, mark: UInt32) throws(UAPIError) -> UInt16? {
        let wantedMark = change.fwmark ?? mark
        if let wanted = change.listenPort, wanted != port {
            let bound: UInt16
            do {
                bound = try socket.rebind(to: wanted, mark: wantedMark)
            } catch {
                throw UAPIError(.socketSetting(key: "listen_port", errno: error.code))
            }
            log(.info, "listening on UDP port \(bound) (was \(port))")
            hooks.listenPortChanged?(bound)
            return bound
        }
        if wantedMark != mark {
            do {
                try socket.setMark(wantedMark)
            } catch {
                throw UAPIError(.socketSetting(key: "fwmark", errno: error.code))
            }
        }
        return nil
    }

    /// Gives the interface a new static key (`hasKey` false: none, `key` a stand-in), as
    /// wireguard-go's `SetPrivateKey` does: every session and handshake is dropped (the
    /// keypairs, ephemeral secrets and old key are wiped as their storage goes), each peer
    /// gets handshake state for the new key (`handshakes`, computed outside the lock), and a
    /// peer whose public key is our new one is removed. Returns the peers to handshake with
    /// again: those that had a session or keep one alive. Under `lock`.
    private func rekeyLocked(_ key: PrivateKey, hasKey: Bool, handshakes: [PublicKey: Peer]) -> [PublicKey] {
        var again: [PublicKey] = []
        for (peerKey, state) in peers {
            if state.sessionUp || state.persistentKeepalive != nil { again.append(peerKey) }
            closeSessionLocked(peerKey, reason: "the private key changed")
        }
        let old = device
        device = Device(privateKey: key)
        hasPrivateKey = hasKey
        // A new device counts its index generations from zero: publish whatever it is.
        republishIndices = true
        for (peerKey, peer) in old.peers {
            guard var handshake = handshakes[peerKey] ?? rebuiltHandshake(peerKey, peer.presharedKey) else {
                removePeerLocked(peerKey)
                continue
            }
            handshake.lastInitiationTimestamp = peer.lastInitiationTimestamp
            handshake.lastInitiationConsumedAt = peer.lastInitiationConsumedAt
            device.peers[peerKey] = handshake
        }
        if hasKey { removePeerLocked(device.publicKey) }
        log(.info, hasKey ? "private key changed: sessions dropped, handshaking again" : "private key removed: sessions dropped")
        return again
    }

    /// The handshake state for `key` when ``apply(_:)`` did not prepare it because the peer
    /// set changed under it (another caller); under `lock`. Nil (logged) only for a key
    /// that was never accepted, which cannot happen: it was a peer's key before.
    private func rebuiltHandshake(_ key: PublicKey, _ psk: SymmetricKey?) -> Peer? {
        do {
            return try Peer(publicKey: key, presharedKey: psk ?? device.peers[key]?.presharedKey,
                            localPrivateKey: device.privateKey)
        } catch {
            log(.warning, "\(short(key)): no Diffie-Hellman possible with this key, change skipped")
            return nil
        }
    }

    /// Gives an existing peer new handshake state (a new preshared key), keeping its
    /// sessions and the initiation timestamps that guard against replayed initiations.
    /// Under `lock`.
    private func replaceHandshakeLocked(of key: PublicKey, with handshake: Peer) {
        device.clearHandshake(of: key)  // frees an in-flight handshake's index
        var fresh = handshake
        if let old = device.peers[key] {
            fresh.lastInitiationTimestamp = old.lastInitiationTimestamp
            fresh.lastInitiationConsumedAt = old.lastInitiationConsumedAt
        }
        device.peers[key] = fresh
        coalescer.forget(key)  // its cached responses were made under the old key
    }

    /// The interface and its peers for `get=1`, peers ordered by public key. One hold of
    /// the lock, O(peers + prefixes).
    package func uapiSnapshot() -> InterfaceSnapshot {
        lock.lock()
        var list: [PeerSnapshot] = []
        list.reserveCapacity(peers.count)
        for state in peers.values {
            let psk = device.peers[state.publicKey]?.presharedKey
            list.append(PeerSnapshot(
                publicKey: state.publicKey, presharedKey: psk == .zero ? nil : psk, endpoint: state.endpoint,
                lastHandshakeSeconds: state.lastHandshakeWallTime?.seconds ?? 0,
                lastHandshakeNanoseconds: state.lastHandshakeWallTime?.nanoseconds ?? 0,
                transmittedBytes: state.counters.sentBytes, receivedBytes: state.counters.receivedBytes,
                persistentKeepaliveInterval: UInt16(clamping: state.persistentKeepalive?.components.seconds ?? 0),
                allowedIPs: allowedIPs.prefixes(of: state.publicKey)))
        }
        let privateKey = hasPrivateKey ? device.privateKey : nil
        let port = boundPort, mark = socketMark
        lock.unlock()
        list.sort { $0.publicKey.bytes.lexicographicallyPrecedes($1.publicKey.bytes) }
        return InterfaceSnapshot(privateKey: privateKey, listenPort: port, fwmark: mark, peers: list)
    }
}

extension PrivateKey {
    /// All 32 bytes zero: the UAPI's way to say "no key".
    fileprivate var isAllZeros: Bool { withUnsafeBytes { sodium_is_zero($0.baseAddress!, $0.count) == 1 } }
}
