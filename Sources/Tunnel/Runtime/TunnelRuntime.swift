import Foundation

/// The running WireGuard interface: ties the handshake ``Device``, a ``TunDevice`` and
/// a ``UDPSocket`` together with three threads.
///
/// - The TUN thread reads packets the kernel routes into the interface, picks the peer
///   by destination (allowed-IPs longest-prefix match), and seals them in place into
///   transport messages; without a usable session the packet is staged and a handshake
///   starts.
/// - The UDP thread answers handshake messages through the ``Device`` and opens
///   transport messages, drops any whose inner source address is not allowed for the
///   peer it came from, and writes the rest to the TUN device. A peer's endpoint follows
///   the source of its latest authenticated packet (roaming).
/// - The timer thread runs the paper's timers (section 6): handshake retransmission
///   after REKEY_TIMEOUT plus jitter up to REKEY_ATTEMPT_TIME, rekeying after
///   REKEY_AFTER_TIME / REKEY_AFTER_MESSAGES, keypair expiry at REJECT_AFTER_TIME,
///   passive keepalives after KEEPALIVE_TIMEOUT, a new handshake when sent data is not
///   answered within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, and persistent keepalives.
///
/// All protocol state sits behind one lock; the threads hold it only for the protocol
/// step, never while blocked in I/O waits. Each thread owns preallocated buffers, so the
/// data path allocates nothing (staging a packet, off the fast path, copies it).
public final class TunnelRuntime: @unchecked Sendable {
    public enum Direction: Sendable { case inbound, outbound }
    public enum Verdict: Sendable { case pass, drop }
    public enum LogLevel: Sendable { case debug, info, warning, error }

    /// Callbacks for whoever embeds the tunnel (the policy enforcer, the daemon's log).
    /// Fixed at init, so the threads read them without synchronisation.
    public struct Hooks: Sendable {
        /// A peer got its first usable session (after a handshake), with its endpoint.
        public var sessionEstablished: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// A peer's last keypair expired (or the tunnel stopped).
        public var sessionEnded: (@Sendable (PublicKey, Endpoint?) -> Void)?
        /// Sees every data packet (inner IP packet) after routing / source validation.
        /// Runs under the tunnel's lock: it must be quick and must not call the tunnel.
        public var packetFilter: (@Sendable (Direction, PublicKey, UnsafeRawBufferPointer) -> Verdict)?
        /// Diagnostics; never given key material.
        public var log: (@Sendable (LogLevel, String) -> Void)?

        public init(sessionEstablished: (@Sendable (PublicKey, Endpoint?) -> Void)? = nil,
                    sessionEnded: (@Sendable (PublicKey, Endpoint?) -> Void)? = nil,
                    packetFilter: (@Sendable (Direction, PublicKey, UnsafeRawBufferPointer) -> Verdict)? = nil,
                    log: (@Sendable (LogLevel, String) -> Void)? = nil) {
            self.sessionEstablished = sessionEstablished
            self.sessionEnded = sessionEnded
            self.packetFilter = packetFilter
            self.log = log
        }
    }

    /// Largest IP packet handled (TUN reads are bounded by it).
    static let maximumPacketSize = 65535
    /// Room for a transport message around the largest packet.
    static let messageBufferSize = TransportHeader.byteCount + Keypair.paddedCount(for: maximumPacketSize)
        + ChaCha20Poly1305.tagByteCount
    static let timerInterval: Int32 = 100

    public let tun: TunDevice
    public let socket: UDPSocket
    private let hooks: Hooks

    fileprivate let lock = NSLock()
    fileprivate var device: Device
    private var peers: [PublicKey: PeerState] = [:]
    private var allowedIPs = AllowedIPs<PublicKey>()
    private var running = false
    private var closed = false
    private var events: [(established: Bool, key: PublicKey, endpoint: Endpoint?)] = []
    /// Scratch for keepalives and staged packets; used only under `lock`.
    private let scratch: UnsafeMutableRawBufferPointer
    private let threadsDone = DispatchGroup()

    /// Takes ownership of `tun` and `socket` (closed by ``stop()``).
    public init(configuration: TunnelConfiguration, tun: TunDevice, socket: UDPSocket, hooks: Hooks = Hooks()) throws {
        self.tun = tun
        self.socket = socket
        self.hooks = hooks
        device = Device(privateKey: configuration.privateKey)
        scratch = .allocate(byteCount: Self.messageBufferSize, alignment: 16)
        for peer in configuration.peers { try addPeerLocked(peer) }
    }

    deinit { scratch.deallocate() }

    /// Our public key.
    public var publicKey: PublicKey { device.publicKey }

    /// Adds or replaces a peer (also while running).
    public func addPeer(_ peer: TunnelConfiguration.PeerConfiguration) throws {
        lock.lock()
        defer { lock.unlock() }
        try addPeerLocked(peer)
    }

    private func addPeerLocked(_ peer: TunnelConfiguration.PeerConfiguration) throws {
        removePeerLocked(peer.publicKey)
        try device.addPeer(peer.publicKey, presharedKey: peer.presharedKey)
        peers[peer.publicKey] = PeerState(
            publicKey: peer.publicKey, endpoint: peer.endpoint,
            persistentKeepalive: peer.persistentKeepalive.flatMap { $0 == 0 ? nil : .seconds(Int($0)) })
        for prefix in peer.allowedIPs { allowedIPs.insert(prefix, peer.publicKey) }
    }

    /// Changes a peer without touching its sessions when it exists with the same
    /// preshared key (endpoint and persistent keepalive when given, allowed IPs added
    /// or replaced); otherwise adds it. For `wg set` through the UAPI.
    public func updatePeer(_ peer: TunnelConfiguration.PeerConfiguration, replaceAllowedIPs: Bool) throws {
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
    public func removePeer(_ key: PublicKey) {
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
    }

    /// Status of every peer.
    public func status() -> [PeerStatus] {
        lock.lock()
        defer { lock.unlock() }
        return peers.values.map { state in
            PeerStatus(publicKey: state.publicKey, endpoint: state.endpoint,
                       allowedIPs: allowedIPs.prefixes(of: state.publicKey),
                       persistentKeepalive: state.persistentKeepalive,
                       lastHandshake: state.lastHandshakeWallTime,
                       receivedBytes: state.receivedBytes, sentBytes: state.sentBytes,
                       hasSession: state.current != nil,
                       hasPresharedKey: device.peers[state.publicKey].map { $0.presharedKey != .zero } ?? false)
        }
    }

    // MARK: Lifecycle

    /// Starts the threads; peers with a persistent keepalive and an endpoint handshake at once.
    public func start() {
        lock.lock()
        guard !running, !closed else { lock.unlock(); return }
        running = true
        let now = ContinuousClock.now
        for (key, state) in peers where state.persistentKeepalive != nil && state.endpoint != nil {
            sendKeepalive(key, now: now)
        }
        lock.unlock()
        spawn("ztp-tun") { $0.tunLoop() }
        spawn("ztp-udp") { $0.udpLoop() }
        spawn("ztp-timers") { $0.timerLoop() }
    }

    /// Stops the threads, waits for them, ends every session and closes TUN and socket.
    public func stop() {
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

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
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

    private func fireEvents() {
        lock.lock()
        let pending = events
        events.removeAll()
        lock.unlock()
        for event in pending {
            if event.established { hooks.sessionEstablished?(event.key, event.endpoint) }
            else { hooks.sessionEnded?(event.key, event.endpoint) }
        }
    }

    // MARK: Loops

    private func tunLoop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.messageBufferSize, alignment: 16)
        defer { buffer.deallocate() }
        // Packets are read right behind the header's room, then sealed in place.
        let packetArea = UnsafeMutableRawBufferPointer(
            rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + Self.maximumPacketSize])
        while isRunning {
            do {
                guard try tun.waitReadable(timeoutMilliseconds: 200) else { continue }
                let count = try tun.read(into: packetArea)
                outbound(buffer: buffer, packetCount: count)
            } catch {
                log(.error, "TUN read failed: \(error)")
                if error.code == EBADF || error.code == EFAULT { return }
                usleep(10_000)
            }
        }
    }

    private func udpLoop() {
        let datagram = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.messageBufferSize, alignment: 16)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.messageBufferSize, alignment: 16)
        defer { datagram.deallocate(); plain.deallocate() }
        while isRunning {
            do {
                guard try socket.waitReadable(timeoutMilliseconds: 200) else { continue }
                let (count, source) = try socket.receive(into: datagram)
                guard let source else { continue }
                inbound(UnsafeRawBufferPointer(rebasing: datagram[..<count]), from: source, plain: plain)
            } catch {
                log(.error, "UDP receive failed: \(error)")
                if error.code == EBADF { return }
                usleep(10_000)
            }
        }
    }

    private func timerLoop() {
        while isRunning {
            _ = poll(nil, 0, Self.timerInterval)
            lock.lock()
            tick(now: .now)
            lock.unlock()
            fireEvents()
        }
    }

    // MARK: Outbound

    private func outbound(buffer: UnsafeMutableRawBufferPointer, packetCount: Int) {
        let packet = UnsafeRawBufferPointer(
            rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + packetCount])
        guard let destination = IPPacket.destination(of: packet) else { return }
        lock.lock()
        defer { lock.unlock(); fireEvents() }
        guard let key = allowedIPs.lookup(destination) else {
            log(.debug, "no peer for destination \(destination), dropping")
            return
        }
        if let filter = hooks.packetFilter, filter(.outbound, key, packet) == .drop { return }
        sendData(key, buffer: buffer, payloadCount: packetCount, now: .now)
    }

    /// Whether the current keypair may send.
    private func canSend(_ key: PublicKey, now: ContinuousClock.Instant) -> Bool {
        guard let keypair = peers[key]?.current, peers[key]?.endpoint != nil else { return false }
        return !keypair.isExpired(now: now) && keypair.sendCounter < WG.REJECT_AFTER_MESSAGES
    }

    /// Seals the payload at `buffer[16..<16+payloadCount]` in place and sends it, or
    /// stages a copy and starts a handshake. Under `lock`.
    private func sendData(_ key: PublicKey, buffer: UnsafeMutableRawBufferPointer, payloadCount: Int,
                          now: ContinuousClock.Instant) {
        guard peers[key] != nil else { return }
        let payload = UnsafeRawBufferPointer(
            rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + payloadCount])
        guard canSend(key, now: now), let endpoint = peers[key]!.endpoint else {
            stage(key, payload)
            initiateHandshake(key, now: now)
            return
        }
        let total: Int
        do {
            total = try peers[key]!.current!.seal(payload: payload, into: buffer, now: now)
        } catch {
            stage(key, payload)
            initiateHandshake(key, now: now)
            return
        }
        do {
            try socket.send(UnsafeRawBufferPointer(rebasing: buffer[..<total]), to: endpoint)
        } catch {
            log(.debug, "send to \(endpoint) failed: \(error)")
            return
        }
        peers[key]!.sentBytes += UInt64(total)
        peers[key]!.lastSentAt = now
        peers[key]!.keepaliveAt = nil
        if payloadCount > 0, peers[key]!.newHandshakeAt == nil {
            peers[key]!.newHandshakeAt = now + WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT
        }
        // Keep the key fresh: the initiator rekeys by age, anyone by message count.
        let current = peers[key]!.current!
        if current.sendCounter >= WG.REKEY_AFTER_MESSAGES
            || (current.isInitiator && now - current.createdAt >= WG.REKEY_AFTER_TIME) {
            initiateHandshake(key, now: now)
        }
    }

    private func stage(_ key: PublicKey, _ payload: UnsafeRawBufferPointer) {
        if peers[key]!.staged.count >= PeerState.maximumStaged { peers[key]!.staged.removeFirst() }
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
        guard let endpoint = peers[key]?.endpoint else {
            log(.debug, "\(short(key)) has no endpoint yet: cannot initiate a handshake")
            return
        }
        if !force, let last = peers[key]!.lastInitiationSentAt, now - last < WG.REKEY_TIMEOUT { return }
        do {
            let message = try device.createInitiation(to: key, now: now)
            try socket.send(message.bytes, to: endpoint)
            log(.debug, "\(short(key)): sending handshake initiation to \(endpoint)")
        } catch {
            log(.warning, "\(short(key)): handshake initiation to \(endpoint) failed: \(error)")
        }
        peers[key]!.lastInitiationSentAt = now
        peers[key]!.lastSentAt = now
        if peers[key]!.handshakeStartedAt == nil { peers[key]!.handshakeStartedAt = now }
        peers[key]!.retransmitAt = now + WG.REKEY_TIMEOUT + .milliseconds(Int.random(in: 0..<334))
    }

    // MARK: Inbound

    private func inbound(_ datagram: UnsafeRawBufferPointer, from source: Endpoint, plain: UnsafeMutableRawBufferPointer) {
        guard datagram.count >= 4 else { return }
        let type = UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let now = ContinuousClock.now
        switch MessageType(rawValue: type) {
        case .initiation?, .response?, .cookieReply?:
            let bytes = Array(datagram)
            lock.lock()
            handleHandshake(bytes, type: MessageType(rawValue: type)!, from: source, now: now)
            lock.unlock()
            fireEvents()
        case .transport?:
            lock.lock()
            let length = handleTransport(datagram, from: source, plain: plain, now: now)
            lock.unlock()
            fireEvents()
            if let length {
                do {
                    try tun.write(UnsafeRawBufferPointer(rebasing: plain[..<length]))
                } catch {
                    log(.debug, "TUN write failed: \(error)")
                }
            }
        case nil:
            return
        }
    }

    private func handleHandshake(_ bytes: [UInt8], type: MessageType, from source: Endpoint, now: ContinuousClock.Instant) {
        do {
            switch type {
            case .initiation:
                let key = try device.consumeInitiation(try MessageInitiation(bytes: bytes))
                guard peers[key] != nil else { return }
                let response = try device.createResponse(to: key, now: now)
                let keypair = try device.beginSession(with: key, now: now)
                install(keypair, for: key)
                peers[key]!.endpoint = source
                try socket.send(response.bytes, to: source)
                log(.debug, "\(short(key)): received handshake initiation from \(source), sent response")
                handshakeCompleted(key, now: now)
                peers[key]!.lastSentAt = now
            case .response:
                let key = try device.consumeResponse(try MessageResponse(bytes: bytes))
                guard peers[key] != nil else { return }
                let keypair = try device.beginSession(with: key, now: now)
                install(keypair, for: key)
                peers[key]!.endpoint = source
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
            log(.debug, "dropping \(type) message from \(source): \(error)")
        }
    }

    private func handshakeCompleted(_ key: PublicKey, now: ContinuousClock.Instant) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        peers[key]!.lastHandshakeWallTime = (Int(time.tv_sec), Int(time.tv_nsec))
        peers[key]!.newHandshakeAt = nil
    }

    /// Rotates a new keypair into place, as wireguard-go does: the initiator uses it at
    /// once, the responder parks it in `next` until confirmed.
    private func install(_ keypair: Keypair, for key: PublicKey) {
        var state = peers.removeValue(forKey: key)!
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
        peers[key] = state
    }

    private func markEstablished(_ key: PublicKey) {
        guard !peers[key]!.sessionUp else { return }
        peers[key]!.sessionUp = true
        events.append((true, key, peers[key]!.endpoint))
    }

    private enum Slot { case current, previous, next }

    /// Opens a transport message into `plain`; returns the inner packet's length if it
    /// is to be written to TUN. Under `lock`.
    private func handleTransport(_ datagram: UnsafeRawBufferPointer, from source: Endpoint,
                                 plain: UnsafeMutableRawBufferPointer, now: ContinuousClock.Instant) -> Int? {
        guard let header = try? TransportHeader(packet: datagram),
              let key = device.peer(forIndex: header.receiverIndex), peers[key] != nil else { return nil }
        let index = header.receiverIndex
        let slot: Slot
        if peers[key]!.current?.localIndex == index { slot = .current }
        else if peers[key]!.next?.localIndex == index { slot = .next }
        else if peers[key]!.previous?.localIndex == index { slot = .previous }
        else { return nil }

        let count: Int
        do {
            switch slot {
            case .current: count = try peers[key]!.current!.open(packet: datagram, into: plain, now: now)
            case .next: count = try peers[key]!.next!.open(packet: datagram, into: plain, now: now)
            case .previous: count = try peers[key]!.previous!.open(packet: datagram, into: plain, now: now)
            }
        } catch {
            log(.debug, "\(short(key)): dropping transport message: \(error)")
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
        if peers[key]!.endpoint != source {
            log(.info, "\(short(key)) roamed to \(source)")
            peers[key]!.endpoint = source
        }
        peers[key]!.newHandshakeAt = nil
        peers[key]!.receivedBytes += UInt64(datagram.count)

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
            log(.debug, "\(short(key)): dropping malformed inner packet")
            return nil
        }
        guard allowedIPs.lookup(inner) == key else {
            log(.debug, "\(short(key)): dropping packet from disallowed source \(inner)")
            return nil
        }
        if let filter = hooks.packetFilter,
           filter(.inbound, key, UnsafeRawBufferPointer(rebasing: plain[..<length])) == .drop { return nil }
        if peers[key]!.keepaliveAt == nil { peers[key]!.keepaliveAt = now + WG.KEEPALIVE_TIMEOUT }
        return length
    }

    // MARK: Timers

    private func tick(now: ContinuousClock.Instant) {
        for key in Array(peers.keys) {
            if let at = peers[key]!.retransmitAt, now >= at {
                peers[key]!.retransmitAt = nil
                if let started = peers[key]!.handshakeStartedAt, now - started >= WG.REKEY_ATTEMPT_TIME {
                    log(.info, "\(short(key)): handshake did not complete after \(WG.REKEY_ATTEMPT_TIME), giving up")
                    peers[key]!.handshakeStartedAt = nil
                    peers[key]!.staged.removeAll()
                } else {
                    log(.debug, "\(short(key)): handshake did not complete after \(WG.REKEY_TIMEOUT), retrying")
                    initiateHandshake(key, now: now, force: true)
                }
            }
            if let at = peers[key]!.keepaliveAt, now >= at {
                peers[key]!.keepaliveAt = nil
                if canSend(key, now: now) { sendKeepalive(key, now: now) }
            }
            if let at = peers[key]!.newHandshakeAt, now >= at {
                peers[key]!.newHandshakeAt = nil
                log(.debug, "\(short(key)): no reply for \(WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT), new handshake")
                initiateHandshake(key, now: now)
            }
            if let interval = peers[key]!.persistentKeepalive, peers[key]!.endpoint != nil,
               peers[key]!.lastSentAt.map({ now - $0 >= interval }) ?? true {
                sendKeepalive(key, now: now)
            }
            expireKeypairs(key, now: now)
        }
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

extension TunnelRuntime {
    /// A peer's preshared key, if one is configured (for the root-only UAPI socket).
    public func presharedKey(of key: PublicKey) -> SymmetricKey? {
        lock.lock()
        defer { lock.unlock() }
        guard let psk = device.peers[key]?.presharedKey, psk != .zero else { return nil }
        return psk
    }
}
