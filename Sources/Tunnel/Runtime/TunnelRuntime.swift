// TunnelRuntime's state and lifecycle: the stored properties every part shares, init, start
// and stop with the three threads, and the small helpers (drop counting, logging).

import Foundation

/// The running WireGuard interface: ties the handshake ``Device``, a ``TunDevice`` and
/// a ``UDPSocket`` together with three threads.
///
/// - The TUN thread drains up to a batch of packets the kernel routes into the
///   interface (``TunBatchReader``: on an offloading TUN, TCP/UDP super-packets cut into
///   MTU-sized packets first), picks each one's peer by destination (allowed-IPs longest-prefix match)
///   and takes a counter on its current keypair under the lock, then seals them in place
///   outside the lock and sends them with one `sendmmsg`, equal-size ciphertexts to one
///   endpoint as one `UDP_SEGMENT` message (GSO). Without a usable session a
///   packet is staged and a handshake starts.
/// - The UDP thread receives up to `batchSize` messages per `recvmmsg` (each a run of
///   datagrams of one flow with `UDP_GRO`) and handles their datagrams in chunks. Under the lock it
///   answers handshake messages through the ``Device`` (behind the DoS gate: MAC1, and
///   under load MAC2 / cookie replies and a per-address rate limit) and finds each
///   transport message's keypair; it decrypts outside the lock; under the lock again it
///   applies the replay window, drops packets whose inner source is not allowed for the
///   peer, runs the packet filter and updates counters; then it writes the packets to TUN
///   (``TunBatchWriter``: on an offloading TUN, runs of TCP segments of one flow merged
///   into one write). ``DataPathOffloads`` chooses the offloading or the plain path.
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
///
/// This file holds the type's state and lifecycle; each concern lives in an extension
/// beside it: `+Peers` (the peer table), `+Apply` (UAPI transactions), `+Send` and
/// `+Receive` (the two directions of the data path), `+Handshake` (the handshake driver),
/// `+Timers` (the paper's timers) and `+Hooks` (the callbacks and when they fire).
package final class TunnelRuntime: @unchecked Sendable {
    package enum Direction: Sendable { case inbound, outbound }
    package enum Verdict: Sendable { case pass, drop }
    package enum LogLevel: Sendable { case debug, info, warning, error }

    /// Largest IP packet handled (TUN reads are bounded by it).
    static let maximumPacketSize = 65535
    /// Room for a transport message around the largest packet.
    static let messageBufferSize = TransportHeader.byteCount + Keypair.paddedCount(for: maximumPacketSize)
        + ChaCha20Poly1305.tagByteCount
    static let timerInterval: Int32 = 100
    /// Packets moved per TUN read burst and per recvmmsg/sendmmsg.
    static let batchSize = 32
    /// On with more than one core, unless `ZTP_PARALLEL_CRYPTO=0` (for A/B benchmarks).
    package static var defaultParallelCrypto: Bool {
        ProcessInfo.processInfo.activeProcessorCount > 1 && ProcessInfo.processInfo.environment["ZTP_PARALLEL_CRYPTO"] != "0"
    }
    /// Packets per send batch when the TUN hands over super-packets.
    static let offloadBatchSize = 128
    /// Default for `underLoadThreshold`: handshake messages per second before cookies
    /// are demanded. Each costs two X25519 operations (~0.1 ms), so this caps the
    /// handshake CPU a flood can claim at about a tenth of a core.
    package static let defaultUnderLoadThreshold = 1000

    let tun: TunDevice
    /// The UDP socket. Its descriptor stays the same for the runtime's life, but a
    /// `listen_port` change rebinds it: ``listenPort`` is the port bound now.
    let socket: UDPSocket
    let hooks: Hooks
    /// The data path chosen at init (see ``DataPathOffloads``).
    package let dataPath: DataPathOffloads
    /// Whether each I/O thread has a ``CryptoWorker`` to seal or open half of every large
    /// batch on the other core.
    package let parallelCrypto: Bool

    let lock = NSLock()
    var device: Device
    /// False until a private key is set: `device` then holds a random stand-in key that is
    /// never used (no handshake is sent or answered) and never shown.
    var hasPrivateKey: Bool
    /// The port `socket` is bound to now; under `lock`.
    var boundPort: UInt16
    /// `SO_MARK` on `socket` (0: none); under `lock`.
    var socketMark: UInt32 = 0
    var peers: [PublicKey: PeerState] = [:]
    var allowedIPs = AllowedIPs<PublicKey>()
    var running = false
    private var closed = false
    var events: [(established: Bool, key: PublicKey, endpoint: Endpoint?)] = []
    /// closeSession calls made from inside a hook under `lock`, applied by fireEvents.
    var deferredCloses: [PublicKey] = []
    var counters = TunnelCounters()
    var load: LoadMonitor
    var ratelimiter = Ratelimiter()
    var coalescer: HandshakeCoalescer
    /// Persistent keepalive for peers that set none.
    let defaultPersistentKeepalive: UInt16?
    /// Handshake messages made under `lock`, sent by ``fireEvents()`` once
    /// `receiverIndicesChanged` has seen the index they carry.
    var outgoingHandshakes: [(bytes: [UInt8], endpoint: Endpoint)] = []
    /// `device.indexGeneration` when `receiverIndicesChanged` was last called.
    var publishedIndexGeneration: UInt64 = 0
    /// Call `receiverIndicesChanged` at the next ``fireEvents()`` even if nothing changed.
    var republishIndices = false
    /// Serialises the publishing half of ``fireEvents()`` (index hook, then handshake
    /// sends), so that hook calls happen in the order of the sets they carry. Taken before
    /// `lock`, never after.
    let publishLock = NSLock()
    /// Serialises batch applies (``apply(_:)``), which release `lock` between chunks.
    /// Taken before `lock` and `publishLock`, never after.
    let batchLock = NSLock()
    /// Work units (a peer added, changed or removed, or one prefix) a batch apply does per
    /// hold of `lock`: a fraction of a millisecond, so the data path never waits longer.
    static let batchChunkSize = 256
    /// Scratch for keepalives and staged packets; used only under `lock`.
    let scratch: UnsafeMutableRawBufferPointer
    private let threadsDone = DispatchGroup()
    /// Rounds of the TUN, UDP and timer loops, counted under `lock` where each checks `running`.
    private var rounds: [UInt64] = [0, 0, 0]

    /// Takes ownership of `tun` and `socket` (closed by ``stop()``).
    ///
    /// Besides keys and peers, `configuration` gives the handshake coalescing settings
    /// and the default persistent keepalive.
    ///
    /// - Parameters:
    ///   - underLoadThreshold: handshake messages per second above which the
    ///     responder is under load: it then answers handshake messages that lack a valid
    ///     MAC2 with cookie replies and rate-limits the rest per source address.
    ///   - offloads: ``DataPathOffloads/all`` turns on the socket's UDP coalescing and
    ///     keeps its segmentation; ``DataPathOffloads/plain`` turns both off. TUN offloads
    ///     follow `tun` (open it with ``DataPathOffloads/opensTunWithOffloads``). Each
    ///     offload the kernel refused is logged once through `hooks.log`.
    ///   - parallelCrypto: a helper thread per direction for the crypto of large batches
    ///     (see ``CryptoWorker``); the default is on when the machine has more than one core.
    package init(configuration: TunnelConfiguration, tun: TunDevice, socket: UDPSocket, hooks: Hooks = Hooks(),
                underLoadThreshold: Int = TunnelRuntime.defaultUnderLoadThreshold,
                offloads: DataPathOffloads = .all, parallelCrypto: Bool = TunnelRuntime.defaultParallelCrypto) throws {
        load = LoadMonitor(threshold: underLoadThreshold)
        coalescer = HandshakeCoalescer(settings: configuration.handshakeCoalescing)
        defaultPersistentKeepalive = configuration.defaultPersistentKeepalive
        self.tun = tun
        self.socket = socket
        self.hooks = hooks
        dataPath = offloads
        self.parallelCrypto = parallelCrypto
        device = Device(privateKey: configuration.privateKey ?? PrivateKey())
        hasPrivateKey = configuration.privateKey != nil
        boundPort = socket.port
        scratch = .allocate(byteCount: Self.messageBufferSize, alignment: 16)
        try tun.setNonBlocking()
        for peer in configuration.peers { try addPeerLocked(peer) }
        configureOffloads()
    }

    /// Turns the socket's offloads on or off for ``dataPath`` and logs, once, what the
    /// kernel refused.
    private func configureOffloads() {
        if let refusal = tun.offloadRefusal {
            log(.warning, "TUN offloads refused by the kernel (\(refusal)); reading and writing one packet at a time")
        } else if tun.hasVirtioHeaders {
            log(.info, "TUN offloads on: \(tun.offloads)")
        }
        switch dataPath {
        case .plain:
            socket.offloads.disableSegmentation()
            log(.info, "offloads off: plain data path, one packet per system call")
        case .all:
            do {
                try socket.enableCoalescing()
            } catch {
                log(.warning, "UDP receive coalescing refused by the kernel (\(error)); receiving one datagram per message")
            }
            if !socket.offloads.segmentationSupported {
                log(.warning, "UDP segmentation offload unknown to the kernel; sending one datagram per message")
            }
        }
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

    // MARK: Counters

    /// Counts a drop, globally and for `key` when the packet is attributable. Under `lock`.
    func drop(_ reason: DropReason, _ key: PublicKey?) {
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
    func nextRound(_ index: Int) -> Bool {
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

    func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        hooks.log?(level, message())
    }

    /// Runs `body` over `0..<count`, split across `worker` and this thread when there is one.
    func crypto(_ worker: CryptoWorker?, _ count: Int, _ body: (Int) -> Void) {
        guard let worker else {
            for index in 0..<count { body(index) }
            return
        }
        worker.forEach(count, body)
    }

    func short(_ key: PublicKey) -> String { "peer(\(key.base64.prefix(8))…)" }
}
