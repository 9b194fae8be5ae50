import CSodium
import Foundation

/// The running WireGuard interface: ties the handshake ``Device``, a ``TunDevice`` and
/// a ``UDPSocket`` together with three threads.
///
/// - The TUN thread drains up to `batchSize` packets the kernel routes into the
///   interface, picks each one's peer by destination (allowed-IPs longest-prefix match)
///   and takes a counter on its current keypair under the lock, then seals them in place
///   outside the lock and sends them with one `sendmmsg`. Without a usable session a
///   packet is staged and a handshake starts.
/// - The UDP thread receives up to `batchSize` datagrams per `recvmmsg`. Under the lock it
///   answers handshake messages through the ``Device`` (behind the DoS gate: MAC1, and
///   under load MAC2 / cookie replies and a per-address rate limit) and finds each
///   transport message's keypair; it decrypts outside the lock; under the lock again it
///   applies the replay window, drops packets whose inner source is not allowed for the
///   peer, runs the packet filter and updates counters; then it writes the packets to TUN.
///   A peer's endpoint follows the source of its latest authenticated packet (roaming).
///   Initiations pass the ``HandshakeCoalescer`` first: a roaming client's repeated or
///   superseded initiations are answered from its cache or dropped, never delayed.
/// - Handshake messages we make (initiations, responses) are queued under the lock and
///   sent right after it is released, once ``Hooks/receiverIndicesChanged`` has seen the
///   index they carry.
/// - The timer thread runs the paper's timers (section 6): handshake retransmission
///   after REKEY_TIMEOUT plus jitter up to REKEY_ATTEMPT_TIME, rekeying after
///   REKEY_AFTER_TIME / REKEY_AFTER_MESSAGES, keypair expiry at REJECT_AFTER_TIME,
///   passive keepalives after KEEPALIVE_TIMEOUT, a new handshake when sent data is not
///   answered within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, and persistent keepalives.
///
/// All protocol state sits behind one lock, taken once or twice per batch and never held
/// across I/O waits or bulk encryption. Each thread owns preallocated batches, so the data
/// path allocates nothing (staging a packet, off the fast path, copies it).
package final class TunnelRuntime: @unchecked Sendable {
    package enum Direction: Sendable { case inbound, outbound }
    package enum Verdict: Sendable { case pass, drop }
    package enum LogLevel: Sendable { case debug, info, warning, error }

    /// Callbacks for whoever embeds the tunnel (the policy enforcer, the daemon's log).
    /// Fixed at init, so the threads read them without synchronisation.
    package struct Hooks: Sendable {
        /// A peer got its first usable session (after a handshake), with its endpoint.
        package var sessionEstablished: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// A peer's last keypair expired (or the tunnel stopped).
        package var sessionEnded: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// Sees every data packet (inner IP packet) after routing / source validation.
        /// Runs under the tunnel's lock on the I/O threads, once per packet: it must be
        /// quick, must not block, and must not call the tunnel, with one exception:
        /// ``TunnelRuntime/closeSession(of:)`` may be called from inside it and takes
        /// effect right after the current packet. The call itself costs the runtime no
        /// allocation or copy: the buffer is the packet in the I/O thread's own buffer,
        /// valid only during the call.
        package var packetFilter: (@Sendable (Direction, PublicKey, UnsafeRawBufferPointer) -> Verdict)?
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
                    log: (@Sendable (LogLevel, String) -> Void)? = nil,
                    receiverIndicesChanged: (@Sendable (Set<UInt32>) -> Void)? = nil,
                    listenPortChanged: (@Sendable (UInt16) -> Void)? = nil) {
            self.sessionEstablished = sessionEstablished
            self.sessionEnded = sessionEnded
            self.packetFilter = packetFilter
            self.log = log
            self.receiverIndicesChanged = receiverIndicesChanged
            self.listenPortChanged = listenPortChanged
        }
    }

    /// Largest IP packet handled (TUN reads are bounded by it).
    static let maximumPacketSize = 65535
    /// Room for a transport message around the largest packet.
    static let messageBufferSize = TransportHeader.byteCount + Keypair.paddedCount(for: maximumPacketSize)
        + ChaCha20Poly1305.tagByteCount
    static let timerInterval: Int32 = 100
    /// Packets moved per TUN read burst and per recvmmsg/sendmmsg.
    static let batchSize = 32
    /// Default for `underLoadThreshold`: handshake messages per second before cookies
    /// are demanded. Each costs two X25519 operations (~0.1 ms), so this caps the
    /// handshake CPU a flood can claim at about a tenth of a core.
    package static let defaultUnderLoadThreshold = 1000

    let tun: TunDevice
    /// The UDP socket. Its descriptor stays the same for the runtime's life, but a
    /// `listen_port` change rebinds it: ``listenPort`` is the port bound now.
    let socket: UDPSocket
    private let hooks: Hooks

    fileprivate let lock = NSLock()
    fileprivate var device: Device
    /// False until a private key is set: `device` then holds a random stand-in key that is
    /// never used (no handshake is sent or answered) and never shown.
    private var hasPrivateKey: Bool
    /// The port `socket` is bound to now; under `lock`.
    private var boundPort: UInt16
    /// `SO_MARK` on `socket` (0: none); under `lock`.
    private var socketMark: UInt32 = 0
    private var peers: [PublicKey: PeerState] = [:]
    private var allowedIPs = AllowedIPs<PublicKey>()
    private var running = false
    private var closed = false
    private var events: [(established: Bool, key: PublicKey, endpoint: Endpoint?)] = []
    /// closeSession calls made from inside a hook under `lock`, applied by fireEvents.
    private var deferredCloses: [PublicKey] = []
    private var counters = TunnelCounters()
    private var load: LoadMonitor
    private var ratelimiter = Ratelimiter()
    private var coalescer: HandshakeCoalescer
    /// Persistent keepalive for peers that set none.
    private let defaultPersistentKeepalive: UInt16?
    /// Handshake messages made under `lock`, sent by ``fireEvents()`` once
    /// `receiverIndicesChanged` has seen the index they carry.
    private var outgoingHandshakes: [(bytes: [UInt8], endpoint: Endpoint)] = []
    /// `device.indexGeneration` when `receiverIndicesChanged` was last called.
    private var publishedIndexGeneration: UInt64 = 0
    /// Call `receiverIndicesChanged` at the next ``fireEvents()`` even if nothing changed.
    private var republishIndices = false
    /// Serialises the publishing half of ``fireEvents()`` (index hook, then handshake
    /// sends), so that hook calls happen in the order of the sets they carry. Taken before
    /// `lock`, never after.
    private let publishLock = NSLock()
    /// Serialises batch applies (``apply(_:)``), which release `lock` between chunks.
    /// Taken before `lock` and `publishLock`, never after.
    private let batchLock = NSLock()
    /// Work units (a peer added, changed or removed, or one prefix) a batch apply does per
    /// hold of `lock`: a fraction of a millisecond, so the data path never waits longer.
    static let batchChunkSize = 256
    /// Scratch for keepalives and staged packets; used only under `lock`.
    private let scratch: UnsafeMutableRawBufferPointer
    private let threadsDone = DispatchGroup()
    /// Rounds of the TUN, UDP and timer loops, counted under `lock` where each checks `running`.
    private var rounds: [UInt64] = [0, 0, 0]

    /// Takes ownership of `tun` and `socket` (closed by ``stop()``).
    ///
    /// Besides keys and peers, `configuration` gives the handshake coalescing settings
    /// and the default persistent keepalive.
    ///
    /// - Parameter underLoadThreshold: handshake messages per second above which the
    ///   responder is under load: it then answers handshake messages that lack a valid
    ///   MAC2 with cookie replies and rate-limits the rest per source address.
    package init(configuration: TunnelConfiguration, tun: TunDevice, socket: UDPSocket, hooks: Hooks = Hooks(),
                underLoadThreshold: Int = TunnelRuntime.defaultUnderLoadThreshold) throws {
        load = LoadMonitor(threshold: underLoadThreshold)
        coalescer = HandshakeCoalescer(settings: configuration.handshakeCoalescing)
        defaultPersistentKeepalive = configuration.defaultPersistentKeepalive
        self.tun = tun
        self.socket = socket
        self.hooks = hooks
        device = Device(privateKey: configuration.privateKey ?? PrivateKey())
        hasPrivateKey = configuration.privateKey != nil
        boundPort = socket.port
        scratch = .allocate(byteCount: Self.messageBufferSize, alignment: 16)
        try tun.setNonBlocking()
        for peer in configuration.peers { try addPeerLocked(peer) }
    }

    deinit { scratch.deallocate() }

    /// Our public key; nil while the interface has no private key.
    package var publicKey: PublicKey? {
        lock.lock()
        defer { lock.unlock() }
        return hasPrivateKey ? device.publicKey : nil
    }

    /// The UDP port the socket is bound to now.
    package var listenPort: UInt16 {
        lock.lock()
        defer { lock.unlock() }
        return boundPort
    }

    /// Adds or replaces a peer (also while running).
    package func addPeer(_ peer: TunnelConfiguration.PeerConfiguration) throws {
        defer { fireEvents() }  // a replaced peer's session end and freed indices
        lock.lock()
        defer { lock.unlock() }
        try addPeerLocked(peer)
    }

    private func addPeerLocked(_ peer: TunnelConfiguration.PeerConfiguration) throws {
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

    private func removePeerLocked(_ key: PublicKey) {
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

    // MARK: Batch configuration (UAPI set=1)

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

    private func closeSessionLocked(_ key: PublicKey, reason: String = "on request") {
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

    // MARK: Counters

    /// Counts a drop, globally and for `key` when the packet is attributable. Under `lock`.
    private func drop(_ reason: DropReason, _ key: PublicKey?) {
        counters.drops[reason] &+= 1
        if let key, peers[key] != nil { peers[key]!.counters.drops[reason] &+= 1 }
    }

    // MARK: Lifecycle

    /// Starts the threads; peers with a persistent keepalive and an endpoint handshake at once.
    package func start() {
        lock.lock()
        guard !running, !closed else { lock.unlock(); return }
        running = true
        let now = ContinuousClock.now
        for (key, state) in peers where state.persistentKeepalive != nil && state.endpoint != nil {
            sendKeepalive(key, now: now)
        }
        lock.unlock()
        fireEvents()
        spawn("ztp-tun") { $0.tunLoop() }
        spawn("ztp-udp") { $0.udpLoop() }
        spawn("ztp-timers") { $0.timerLoop() }
    }

    /// Stops the threads, waits for them, ends every session and closes TUN and socket.
    package func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        let wasClosed = closed
        closed = true
        lock.unlock()
        guard !wasClosed else { return }
        if wasRunning { threadsDone.wait() }
        lock.lock()
        for key in Array(peers.keys) where peers[key]!.sessionUp {
            peers[key]!.sessionUp = false
            events.append((false, key, peers[key]!.endpoint))
        }
        lock.unlock()
        fireEvents()
        tun.close()
        socket.close()
    }

    /// Whether the threads should go on; counts a round of loop `index` of ``loopRounds()`` in
    /// the same lock acquisition.
    private func nextRound(_ index: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        rounds[index] &+= 1
        return running
    }

    /// How many rounds the TUN, UDP and timer threads have made. Each goes round at least every
    /// 200 ms while it runs, idle or not, so a count that stops growing is a stuck or dead
    /// thread: ztpd feeds systemd's watchdog only while all three grow.
    package func loopRounds() -> [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return rounds
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable (TunnelRuntime) -> Void) {
        threadsDone.enter()
        let thread = Thread { [self] in
            body(self)
            threadsDone.leave()
        }
        thread.name = name
        thread.start()
    }

    private func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        hooks.log?(level, message())
    }

    private func short(_ key: PublicKey) -> String { "peer(\(key.base64.prefix(8))…)" }

    /// Runs what was left for outside the lock: deferred closeSession calls, the
    /// receiver-index hook, then the handshake messages (whose indices the hook has now
    /// seen), then the session events. After every batch, so the common case (nothing to
    /// do) is one lock round trip.
    private func fireEvents() {
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

    // MARK: Loops

    /// Reads up to `batchSize` packets from TUN (non-blocking, waiting only when none is
    /// ready), routes and seals them with one lock acquisition, encrypts outside the lock
    /// and sends them with one `sendmmsg`.
    private func tunLoop() {
        let batch = DatagramBatch(capacity: Self.batchSize, stride: Self.messageBufferSize)
        var jobs: [SendJob] = []
        jobs.reserveCapacity(Self.batchSize)
        while nextRound(0) {
            var count = 0
            while count < batch.capacity {
                // Packets are read right behind the header's room, then sealed in place.
                let area = UnsafeMutableRawBufferPointer(
                    rebasing: batch.buffer(count)[TransportHeader.byteCount..<TransportHeader.byteCount + Self.maximumPacketSize])
                do {
                    let n = try tun.read(into: area)
                    guard n > 0 else { break }
                    batch.lengths[count] = n
                    count += 1
                } catch {
                    if error.code == EAGAIN || error.code == EWOULDBLOCK { break }
                    log(.error, "TUN read failed: \(error)")
                    // EBADFD: the link was deleted under us (wg-quick down); the daemon notices and stops.
                    if error.code == EBADF || error.code == EFAULT || error.code == EBADFD { return }
                    usleep(10_000)
                    break
                }
            }
            if count == 0 {
                _ = try? tun.waitReadable(timeoutMilliseconds: 200)
                continue
            }
            outbound(batch, count: count, jobs: &jobs)
        }
    }

    /// Receives up to `batchSize` datagrams per `recvmmsg`, handles them under one lock
    /// acquisition, then writes the decrypted packets to TUN outside the lock.
    private func udpLoop() {
        let batch = DatagramBatch(capacity: Self.batchSize, stride: Self.messageBufferSize)
        let plain = DatagramBatch(capacity: Self.batchSize, stride: Self.messageBufferSize)
        var jobs = [ReceiveJob?](repeating: nil, count: Self.batchSize)
        while nextRound(1) {
            do {
                let count = try socket.receive(into: batch)
                if count == 0 {
                    _ = try socket.waitReadable(timeoutMilliseconds: 200)
                    continue
                }
                inbound(batch, count: count, plain: plain, jobs: &jobs)
            } catch {
                log(.error, "UDP receive failed: \(error)")
                if error.code == EBADF { return }
                usleep(10_000)
            }
        }
    }

    private func timerLoop() {
        while nextRound(2) {
            _ = poll(nil, 0, Self.timerInterval)
            runTimers(now: .now)
        }
    }

    /// One pass of the timers as of `now` (tests pass a later instant to expire keypairs).
    func runTimers(now: ContinuousClock.Instant) {
        lock.lock()
        tick(now: now)
        lock.unlock()
        fireEvents()
    }

    // MARK: Outbound

    /// A sealed-to-be transport message: the counter is taken under the lock, the
    /// encryption happens after it is released.
    private struct SendJob {
        let slot: Int
        let key: SymmetricKey
        let remoteIndex: UInt32
        let counter: UInt64
        let payloadCount: Int
        let endpoint: Endpoint
    }

    private func outbound(_ batch: DatagramBatch, count: Int, jobs: inout [SendJob]) {
        let now = ContinuousClock.now
        jobs.removeAll(keepingCapacity: true)
        lock.lock()
        for slot in 0..<count {
            let buffer = batch.buffer(slot)
            let packetCount = batch.lengths[slot]
            let packet = UnsafeRawBufferPointer(
                rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + packetCount])
            guard let destination = IPPacket.destination(of: packet) else { continue }
            guard let key = allowedIPs.lookup(destination) else {
                drop(.noRoute, nil)
                log(.debug, "no peer for destination \(destination), dropping")
                continue
            }
            if let filter = hooks.packetFilter, HookScope.run(self, { filter(.outbound, key, packet) }) == .drop {
                drop(.filtered, key)
                continue
            }
            if let job = prepareSend(key, buffer: buffer, slot: slot, payloadCount: packetCount, now: now) {
                jobs.append(job)
            }
        }
        lock.unlock()
        fireEvents()

        // Encrypt outside the lock; entry j of the send batch is job j (j <= its slot, whose
        // read length was consumed above, so overwriting lengths[j] is safe).
        var ready = 0
        for job in jobs {
            let buffer = batch.buffer(job.slot)
            guard let total = try? Keypair.seal(inPlace: buffer, payloadCount: job.payloadCount, key: job.key,
                                                remoteIndex: job.remoteIndex, counter: job.counter) else { continue }
            batch.pointers[ready] = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            batch.lengths[ready] = total
            batch.addresses[ready] = job.endpoint.socketAddress
            ready += 1
        }
        guard ready > 0 else { return }
        var sent = 0
        do {
            sent = try socket.send(batch, count: ready)
        } catch {
            log(.debug, "sendmmsg failed: \(error)")
        }
        if sent < ready {
            lock.lock()
            for _ in sent..<ready { drop(.ioError, nil) }
            lock.unlock()
        }
    }

    /// Whether the current keypair may send.
    private func canSend(_ key: PublicKey, now: ContinuousClock.Instant) -> Bool {
        guard let keypair = peers[key]?.current, peers[key]?.endpoint != nil else { return false }
        return !keypair.isExpired(now: now) && keypair.sendCounter < WG.REJECT_AFTER_MESSAGES
    }

    /// Seals the payload at `buffer[16..<16+payloadCount]` in place and sends it, or
    /// stages a copy and starts a handshake. Under `lock` (keepalives and staged packets;
    /// the TUN path batches through ``prepareSend``).
    private func sendData(_ key: PublicKey, buffer: UnsafeMutableRawBufferPointer, payloadCount: Int,
                          now: ContinuousClock.Instant) {
        guard let job = prepareSend(key, buffer: buffer, slot: 0, payloadCount: payloadCount, now: now) else { return }
        do {
            let total = try Keypair.seal(inPlace: buffer, payloadCount: payloadCount, key: job.key,
                                         remoteIndex: job.remoteIndex, counter: job.counter)
            try socket.send(UnsafeRawBufferPointer(rebasing: buffer[..<total]), to: job.endpoint)
        } catch {
            drop(.ioError, key)
            log(.debug, "send to \(job.endpoint) failed: \(error)")
        }
    }

    /// Takes a counter on the current keypair for the payload at
    /// `buffer[16..<16+payloadCount]` and does the bookkeeping of a send (counters,
    /// timers, rekeying); without a usable keypair stages a copy and starts a handshake
    /// and returns nil. Under `lock`.
    private func prepareSend(_ key: PublicKey, buffer: UnsafeMutableRawBufferPointer, slot: Int, payloadCount: Int,
                             now: ContinuousClock.Instant) -> SendJob? {
        guard peers[key] != nil else { return nil }
        let payload = UnsafeRawBufferPointer(
            rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + payloadCount])
        guard canSend(key, now: now), let endpoint = peers[key]!.endpoint,
              let counter = try? peers[key]!.current!.reserveSendCounter(now: now) else {
            stage(key, payload)
            initiateHandshake(key, now: now)
            return nil
        }
        let current = peers[key]!.current!
        let total = UInt64(Keypair.messageCount(for: payloadCount))
        peers[key]!.counters.sentBytes &+= total
        peers[key]!.counters.sentPackets &+= 1
        counters.sentBytes &+= total
        counters.sentPackets &+= 1
        peers[key]!.lastSentAt = now
        peers[key]!.keepaliveAt = nil
        if payloadCount > 0, peers[key]!.newHandshakeAt == nil {
            peers[key]!.newHandshakeAt = now + WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT
        }
        // Keep the key fresh: the initiator rekeys by age, anyone by message count.
        if current.sendCounter >= WG.REKEY_AFTER_MESSAGES
            || (current.isInitiator && now - current.createdAt >= WG.REKEY_AFTER_TIME) {
            initiateHandshake(key, now: now)
        }
        return SendJob(slot: slot, key: current.sendKey, remoteIndex: current.remoteIndex, counter: counter,
                       payloadCount: payloadCount, endpoint: endpoint)
    }

    private func stage(_ key: PublicKey, _ payload: UnsafeRawBufferPointer) {
        if peers[key]!.staged.count >= PeerState.maximumStaged {
            peers[key]!.staged.removeFirst()
            drop(.stagedOverflow, key)
        }
        peers[key]!.staged.append(Array(payload))
    }

    private func sendKeepalive(_ key: PublicKey, now: ContinuousClock.Instant) {
        sendData(key, buffer: scratch, payloadCount: 0, now: now)
    }

    /// Sends what was staged; with nothing staged and `keepaliveIfEmpty`, a keepalive.
    private func sendStaged(_ key: PublicKey, now: ContinuousClock.Instant, keepaliveIfEmpty: Bool) {
        guard canSend(key, now: now) else { return }
        let staged = peers[key]!.staged
        peers[key]!.staged.removeAll()
        if staged.isEmpty {
            if keepaliveIfEmpty { sendKeepalive(key, now: now) }
            return
        }
        for packet in staged {
            packet.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    scratch.baseAddress!.advanced(by: TransportHeader.byteCount).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            sendData(key, buffer: scratch, payloadCount: packet.count, now: now)
        }
    }

    /// Sends a handshake initiation unless one went out less than REKEY_TIMEOUT ago
    /// (`force` skips that check for retransmissions). Under `lock`.
    private func initiateHandshake(_ key: PublicKey, now: ContinuousClock.Instant, force: Bool = false) {
        guard hasPrivateKey else { return }
        guard let endpoint = peers[key]?.endpoint else {
            log(.debug, "\(short(key)) has no endpoint yet: cannot initiate a handshake")
            return
        }
        if !force, let last = peers[key]!.lastInitiationSentAt, now - last < WG.REKEY_TIMEOUT { return }
        let dhBefore = device.dhOperations
        defer { countDH(since: dhBefore, key) }
        do {
            let message = try device.createInitiation(to: key, now: now)
            outgoingHandshakes.append((message.bytes, endpoint))
            counters.handshakeInitiationsSent &+= 1
            peers[key]!.counters.handshakeInitiationsSent &+= 1
            log(.debug, "\(short(key)): sending handshake initiation to \(endpoint)")
        } catch {
            log(.warning, "\(short(key)): handshake initiation to \(endpoint) failed: \(error)")
        }
        peers[key]!.lastInitiationSentAt = now
        peers[key]!.lastSentAt = now
        if peers[key]!.handshakeStartedAt == nil { peers[key]!.handshakeStartedAt = now }
        peers[key]!.retransmitAt = now + WG.REKEY_TIMEOUT + WG.REKEY_TIMEOUT_JITTER_MAX * Double.random(in: 0..<1)
    }

    // MARK: Inbound

    /// Handles a received batch: handshake messages and the lookup of each transport
    /// message's keypair under the lock; decryption outside it; then, under the lock
    /// again, replay check and bookkeeping. Decrypted packets land in `plain`'s entries
    /// (length 0: nothing to write) and go to TUN after the last unlock.
    private func inbound(_ batch: DatagramBatch, count: Int, plain: DatagramBatch, jobs: inout [ReceiveJob?]) {
        let now = ContinuousClock.now
        lock.lock()
        for i in 0..<count {
            jobs[i] = nil
            plain.lengths[i] = 0
            let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
            guard datagram.count >= 4, let source = Endpoint(storage: UnsafeRawPointer(batch.addresses + i)) else {
                drop(.malformedMessage, nil)
                continue
            }
            let type = UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            switch MessageType(rawValue: type) {
            case .transport?:
                jobs[i] = lookupTransport(datagram, now: now)
            case let handshake?:
                handleHandshake(Array(datagram), type: handshake, from: source, now: now)
            case nil:
                drop(.malformedMessage, nil)
            }
        }
        let answering = !outgoingHandshakes.isEmpty
        lock.unlock()
        // Handshake answers go out now, not after this batch's decryption.
        if answering { fireEvents() }

        var decrypted = 0
        for i in 0..<count {
            guard let job = jobs[i] else { continue }
            let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
            if let length = try? Keypair.open(datagram, into: plain.buffer(i), key: job.key, counter: job.counter) {
                plain.lengths[i] = length
                decrypted += 1
            } else {
                plain.lengths[i] = -1
            }
        }

        if decrypted < count {
            lock.lock()
            for i in 0..<count where jobs[i] != nil && plain.lengths[i] < 0 {
                drop(.authenticationFailed, jobs[i]!.peer)
                // Forget it entirely: an unauthenticated message must not reach the
                // bookkeeping below (replay window, roaming).
                jobs[i] = nil
                plain.lengths[i] = 0
            }
            lock.unlock()
        }
        if decrypted > 0 {
            lock.lock()
            for i in 0..<count where plain.lengths[i] >= 0 {
                guard let job = jobs[i] else { continue }
                let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
                let source = Endpoint(storage: UnsafeRawPointer(batch.addresses + i))!
                plain.lengths[i] = completeTransport(job, datagram, from: source, plain: plain.buffer(i),
                                                     count: plain.lengths[i], now: now) ?? 0
            }
            lock.unlock()
        }
        for i in 0..<count { jobs[i] = nil }
        fireEvents()
        var failed = 0
        for i in 0..<count where plain.lengths[i] > 0 {
            do {
                try tun.write(UnsafeRawBufferPointer(rebasing: plain.buffer(i)[..<plain.lengths[i]]))
            } catch {
                failed += 1
                log(.debug, "TUN write failed: \(error)")
            }
        }
        if failed > 0 {
            lock.lock()
            for _ in 0..<failed { drop(.ioError, nil) }
            lock.unlock()
        }
    }

    /// The DoS gate in front of the handshake (paper 5.4.7, wireguard-go's
    /// `RoutineHandshake`): MAC1 always; under load also MAC2 (else a cookie reply) and
    /// the per-address rate limit. True if the message may be processed. Under `lock`.
    private func admitHandshake(_ bytes: [UInt8], type: MessageType, from source: Endpoint, now: ContinuousClock.Instant) -> Bool {
        let expected = type == .initiation ? MessageInitiation.byteCount : MessageResponse.byteCount
        guard bytes.count == expected else { drop(.malformedMessage, nil); return false }
        guard device.verifyMAC1(of: bytes) else { drop(.invalidMAC1, nil); return false }
        guard load.record(now: now) else { return true }
        let sourceBytes = source.cookieSource
        guard device.verifyMAC2(of: bytes, source: sourceBytes, now: now) else {
            do {
                let reply = try device.makeCookieReply(to: bytes, source: sourceBytes, now: now)
                try socket.send(reply.bytes, to: source)
                counters.cookieRepliesSent &+= 1
            } catch {
                log(.debug, "cookie reply to \(source) failed: \(error)")
            }
            drop(.cookieRequired, nil)
            return false
        }
        guard ratelimiter.allow(source, now: now) else { drop(.rateLimited, nil); return false }
        return true
    }

    private func handleHandshake(_ bytes: [UInt8], type: MessageType, from source: Endpoint, now: ContinuousClock.Instant) {
        // Without a key there is no identity to answer as, as in wireguard-go.
        guard hasPrivateKey else { drop(.handshakeRejected, nil); return }
        if type == .initiation || type == .response {
            guard admitHandshake(bytes, type: type, from: source, now: now) else { return }
        }
        let dhBefore = device.dhOperations
        var sender: PublicKey?
        defer { countDH(since: dhBefore, sender) }
        do {
            switch type {
            case .initiation:
                let message = try MessageInitiation(bytes: bytes)
                let identity = HandshakeCoalescer.identity(of: bytes)
                switch coalescer.checkRepeat(identity, from: source, now: now) {
                case .unknown:
                    break
                case .drop(let key):
                    drop(.handshakeCoalesced, key)
                    log(.debug, "\(short(key)): initiation from \(source) repeats one answered, dropped")
                    return
                case .resend(let key, let response, let localIndex):
                    // Only while the keypair of that answer lives (not after closeSession or
                    // a rotation); the endpoint stays: a copied initiation proves nothing new.
                    guard peers[key]?.keypairIndices.contains(localIndex) == true else {
                        coalescer.forget(key)
                        drop(.handshakeRejected, key)
                        return
                    }
                    outgoingHandshakes.append((response, source))
                    log(.debug, "\(short(key)): initiation repeated from \(source), sent the same response there")
                    return
                }
                let opened = try device.openInitiation(message)
                let key = opened.initiator
                sender = key
                guard peers[key] != nil else { return }
                guard coalescer.admits(key, timestamp: opened.timestamp, now: now) else {
                    drop(.handshakeCoalesced, key)
                    log(.debug, "\(short(key)): initiation from \(source) coalesced (older than the one answered, or over the allowance)")
                    return
                }
                _ = try device.acceptInitiation(opened, now: now)
                let response = try device.createResponse(to: key, now: now)
                let keypair = try device.beginSession(with: key, now: now)
                install(keypair, for: key)
                follow(key, to: source)
                outgoingHandshakes.append((response.bytes, source))
                coalescer.answered(key, timestamp: opened.timestamp, identity: identity, response: response.bytes,
                                   localIndex: response.senderIndex, to: source, now: now)
                log(.debug, "\(short(key)): received handshake initiation from \(source), sent response")
                handshakeCompleted(key, now: now)
                peers[key]!.lastSentAt = now
            case .response:
                let key = try device.consumeResponse(try MessageResponse(bytes: bytes))
                sender = key
                guard peers[key] != nil else { return }
                let keypair = try device.beginSession(with: key, now: now)
                install(keypair, for: key)
                follow(key, to: source)
                peers[key]!.handshakeStartedAt = nil
                peers[key]!.retransmitAt = nil
                log(.debug, "\(short(key)): received handshake response from \(source), session established")
                handshakeCompleted(key, now: now)
                markEstablished(key)
                // Key confirmation for the responder: data, or at least a keepalive.
                sendStaged(key, now: now, keepaliveIfEmpty: true)
            case .cookieReply:
                try device.consumeCookieReply(try MessageCookieReply(bytes: bytes), now: now)
                log(.debug, "received cookie reply from \(source)")
            case .transport:
                return
            }
        } catch {
            switch error {
            case is MessageError: drop(.malformedMessage, nil)
            case HandshakeError.invalidMAC1: drop(.invalidMAC1, nil)
            default: drop(.handshakeRejected, nil)
            }
            log(.debug, "dropping \(type) message from \(source): \(error)")
        }
    }

    /// Adds the DH operations done since `before` to the counters (the peer's too when known).
    private func countDH(since before: UInt64, _ key: PublicKey?) {
        let done = device.dhOperations &- before
        guard done > 0 else { return }
        counters.dhOperations &+= done
        if let key, peers[key] != nil { peers[key]!.counters.dhOperations &+= done }
    }

    /// Roaming: the endpoint follows the source of the latest authenticated packet.
    private func follow(_ key: PublicKey, to source: Endpoint) {
        guard peers[key]!.endpoint != source else { return }
        if peers[key]!.endpoint != nil { log(.info, "\(short(key)) roamed to \(source)") }
        peers[key]!.endpoint = source
    }

    private func handshakeCompleted(_ key: PublicKey, now: ContinuousClock.Instant) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        peers[key]!.lastHandshakeWallTime = (Int(time.tv_sec), Int(time.tv_nsec))
        peers[key]!.counters.handshakes &+= 1
        counters.handshakes &+= 1
        peers[key]!.newHandshakeAt = nil
    }

    /// Rotates a new keypair into place, as wireguard-go does: the initiator uses it at
    /// once, the responder parks it in `next` until confirmed.
    private func install(_ keypair: Keypair, for key: PublicKey) {
        let state = peers[key]!
        if keypair.isInitiator {
            if let next = state.next {
                state.next = nil
                if let previous = state.previous { device.releaseIndex(previous.localIndex) }
                state.previous = next
                if let current = state.current { device.releaseIndex(current.localIndex) }
            } else {
                if let previous = state.previous { device.releaseIndex(previous.localIndex) }
                state.previous = state.current
            }
            state.current = keypair
        } else {
            if let next = state.next { device.releaseIndex(next.localIndex) }
            state.next = keypair
            if let previous = state.previous { device.releaseIndex(previous.localIndex) }
            state.previous = nil
        }
    }

    private func markEstablished(_ key: PublicKey) {
        guard !peers[key]!.sessionUp else { return }
        peers[key]!.sessionUp = true
        events.append((true, key, peers[key]!.endpoint))
    }

    private enum Slot { case current, previous, next }

    /// A transport message to decrypt outside the lock: which keypair (by local index)
    /// and its receive key, found under the lock.
    struct ReceiveJob {
        let peer: PublicKey
        let localIndex: UInt32
        let key: SymmetricKey
        let counter: UInt64
    }

    /// First half of receiving a transport message, under `lock`: the keypair it is for,
    /// or nil (counted) if none can take it.
    private func lookupTransport(_ datagram: UnsafeRawBufferPointer, now: ContinuousClock.Instant) -> ReceiveJob? {
        guard let header = try? TransportHeader(packet: datagram) else { drop(.malformedMessage, nil); return nil }
        let index = header.receiverIndex
        guard let key = device.peer(forIndex: index) else { drop(.unknownReceiver, nil); return nil }
        // Field by field: copying the peer's state or a keypair costs more than the lookup.
        let found: (receiveKey: SymmetricKey, expired: Bool)?
        if peers[key]?.current?.localIndex == index {
            found = (peers[key]!.current!.receiveKey, peers[key]!.current!.isExpired(now: now))
        } else if peers[key]?.next?.localIndex == index {
            found = (peers[key]!.next!.receiveKey, peers[key]!.next!.isExpired(now: now))
        } else if peers[key]?.previous?.localIndex == index {
            found = (peers[key]!.previous!.receiveKey, peers[key]!.previous!.isExpired(now: now))
        } else {
            found = nil
        }
        guard let found else { drop(.unknownReceiver, nil); return nil }
        guard !found.expired else { drop(.expiredKeypair, key); return nil }
        return ReceiveJob(peer: key, localIndex: index, key: found.receiveKey, counter: header.counter)
    }

    /// Second half, under `lock`, after the message at `datagram` authenticated and
    /// decrypted into `plain` (`count` bytes): replay check, key confirmation, roaming,
    /// counters, cryptokey routing and the packet filter. Returns the inner packet's
    /// length if it is to be written to TUN.
    private func completeTransport(_ job: ReceiveJob, _ datagram: UnsafeRawBufferPointer, from source: Endpoint,
                                   plain: UnsafeMutableRawBufferPointer, count: Int, now: ContinuousClock.Instant) -> Int? {
        let key = job.peer
        guard peers[key] != nil else { drop(.unknownReceiver, nil); return nil }
        // The keypair may have rotated while the lock was released: find it again.
        let slot: Slot
        let accepted: Bool
        if peers[key]!.current?.localIndex == job.localIndex {
            slot = .current
            accepted = peers[key]!.current!.acceptCounter(job.counter)
        } else if peers[key]!.next?.localIndex == job.localIndex {
            slot = .next
            accepted = peers[key]!.next!.acceptCounter(job.counter)
        } else if peers[key]!.previous?.localIndex == job.localIndex {
            slot = .previous
            accepted = peers[key]!.previous!.acceptCounter(job.counter)
        } else {
            drop(.unknownReceiver, nil)
            return nil
        }
        guard accepted else {
            // Do not hand out a replayed plaintext, even though it authenticated.
            if let base = plain.baseAddress { sodium_memzero(base, count) }
            drop(.replayed, key)
            log(.debug, "\(short(key)): dropping replayed transport message (counter \(job.counter))")
            return nil
        }

        if slot == .next {
            // Key confirmation: the initiator uses the new keypair, so we do too.
            if let previous = peers[key]!.previous { device.releaseIndex(previous.localIndex) }
            peers[key]!.previous = peers[key]!.current
            peers[key]!.current = peers[key]!.next
            peers[key]!.next = nil
            peers[key]!.handshakeStartedAt = nil
            peers[key]!.retransmitAt = nil
            markEstablished(key)
            sendStaged(key, now: now, keepaliveIfEmpty: false)
        }
        follow(key, to: source)
        peers[key]!.newHandshakeAt = nil
        peers[key]!.counters.receivedBytes &+= UInt64(datagram.count)
        peers[key]!.counters.receivedPackets &+= 1
        counters.receivedBytes &+= UInt64(datagram.count)
        counters.receivedPackets &+= 1

        // Keep the key fresh (receiving side): an initiator whose keypair nears
        // REJECT_AFTER_TIME starts a new handshake before it must stop sending.
        if let current = peers[key]!.current, current.isInitiator, peers[key]!.handshakeStartedAt == nil,
           now - current.createdAt >= WG.REJECT_AFTER_TIME - WG.KEEPALIVE_TIMEOUT - WG.REKEY_TIMEOUT {
            initiateHandshake(key, now: now)
        }

        if count == 0 {
            log(.debug, "\(short(key)): received keepalive")
            return nil
        }
        let packet = UnsafeRawBufferPointer(rebasing: plain[..<count])
        guard let length = IPPacket.declaredLength(of: packet), let inner = IPPacket.source(of: packet) else {
            drop(.malformedPacket, key)
            log(.debug, "\(short(key)): dropping malformed inner packet")
            return nil
        }
        guard allowedIPs.lookup(inner) == key else {
            drop(.disallowedSource, key)
            log(.debug, "\(short(key)): dropping packet from disallowed source \(inner)")
            return nil
        }
        if let filter = hooks.packetFilter,
           HookScope.run(self, { filter(.inbound, key, UnsafeRawBufferPointer(rebasing: plain[..<length])) }) == .drop {
            drop(.filtered, key)
            return nil
        }
        if peers[key]!.keepaliveAt == nil { peers[key]!.keepaliveAt = now + WG.KEEPALIVE_TIMEOUT }
        return length
    }

    // MARK: Timers

    /// One pass over the peers, under `lock`. Each peer's state is read through its object,
    /// not looked up by key. A peer without an endpoint is skipped at once: it has had no
    /// handshake and no session (both set the endpoint, which is never cleared), so none of
    /// its timers can be set, and its deadlines are not even read (each read of an
    /// optional `ContinuousClock.Instant` is a generic copy, and 10,000 peers' worth held
    /// the lock for milliseconds).
    private func tick(now: ContinuousClock.Instant) {
        for state in Array(peers.values) {
            guard state.endpoint != nil else { continue }
            let key = state.publicKey
            if let at = state.retransmitAt, now >= at {
                state.retransmitAt = nil
                if let started = state.handshakeStartedAt, now - started >= WG.REKEY_ATTEMPT_TIME {
                    log(.info, "\(short(key)): handshake did not complete after \(WG.REKEY_ATTEMPT_TIME), giving up")
                    state.handshakeStartedAt = nil
                    state.staged.removeAll()
                } else {
                    log(.debug, "\(short(key)): handshake did not complete after \(WG.REKEY_TIMEOUT), retrying")
                    initiateHandshake(key, now: now, force: true)
                }
            }
            if let at = state.keepaliveAt, now >= at {
                state.keepaliveAt = nil
                if canSend(key, now: now) { sendKeepalive(key, now: now) }
            }
            if let at = state.newHandshakeAt, now >= at {
                state.newHandshakeAt = nil
                log(.debug, "\(short(key)): no reply for \(WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT), new handshake")
                initiateHandshake(key, now: now)
            }
            if let interval = state.persistentKeepalive, state.endpoint != nil,
               state.lastSentAt.map({ now - $0 >= interval }) ?? true {
                sendKeepalive(key, now: now)
            }
            if state.current != nil || state.previous != nil || state.next != nil || state.sessionUp {
                expireKeypairs(key, now: now)
            }
        }
        coalescer.expire(now: now)
    }

    private func expireKeypairs(_ key: PublicKey, now: ContinuousClock.Instant) {
        if let k = peers[key]!.previous, k.isExpired(now: now) { device.releaseIndex(k.localIndex); peers[key]!.previous = nil }
        if let k = peers[key]!.next, k.isExpired(now: now) { device.releaseIndex(k.localIndex); peers[key]!.next = nil }
        if let k = peers[key]!.current, k.isExpired(now: now) {
            device.releaseIndex(k.localIndex)
            peers[key]!.current = nil
            log(.info, "\(short(key)): session expired after \(WG.REJECT_AFTER_TIME)")
        }
        if peers[key]!.sessionUp, peers[key]!.current == nil, peers[key]!.next == nil {
            peers[key]!.sessionUp = false
            events.append((false, key, peers[key]!.endpoint))
        }
    }
}

extension PrivateKey {
    /// All 32 bytes zero: the UAPI's way to say "no key".
    fileprivate var isAllZeros: Bool { withUnsafeBytes { sodium_is_zero($0.baseAddress!, $0.count) == 1 } }
}

extension TunnelRuntime {
    /// A peer's preshared key, if one is configured (for the root-only UAPI socket).
    func presharedKey(of key: PublicKey) -> SymmetricKey? {
        lock.lock()
        defer { lock.unlock() }
        guard let psk = device.peers[key]?.presharedKey, psk != .zero else { return nil }
        return psk
    }
}

extension Endpoint {
    /// The bytes a cookie is bound to (address and port), paper 5.4.7's `Am`.
    fileprivate var cookieSource: [UInt8] { addressBytes + [UInt8(port >> 8), UInt8(port & 0xFF)] }
}

/// Marks, per thread, that a runtime's hook is running under that runtime's lock, so
/// that ``TunnelRuntime/closeSession(of:)`` called from the hook defers instead of
/// deadlocking. A pthread key: two calls per filtered packet, no allocation.
private enum HookScope {
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
