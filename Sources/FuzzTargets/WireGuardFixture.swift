import Tunnel

/// Two devices with fixed static keys part-way through a handshake, and the real messages
/// between them: the state the WireGuard target feeds its input to, and the source of its seed
/// corpus.
///
/// Built once per process from ``DeterministicRandom``'s stream, so that its ephemeral keys,
/// indices and hence messages are the same in every process: a response or cookie reply saved in
/// the corpus stays valid.
struct WireGuardFixture: Sendable {
    /// The monotonic instant every call of the target passes as `now` (cookie and key freshness).
    let epoch: ContinuousClock.Instant
    let initiatorKey: PublicKey
    let responderKey: PublicKey
    /// The responder with the initiator as its peer and nothing in flight: what a fuzzed
    /// initiation goes to.
    let responder: Device
    /// The initiator after sending ``initiation``: what a fuzzed response or cookie reply goes to.
    let waitingInitiator: Device
    /// The responder's keypair after the handshake: what a fuzzed transport message goes to.
    let responderKeys: Keypair
    let initiation: MessageInitiation
    let response: MessageResponse
    let cookieReply: MessageCookieReply
    /// A transport message from the initiator, counter 0, carrying ``payload``.
    let transport: [UInt8]
    let payload: [UInt8]

    static let shared: WireGuardFixture = DeterministicRandom.withInstalled(from: 0) {
        do {
            return try WireGuardFixture()
        } catch {
            preconditionFailure("the WireGuard fixture's own handshake failed: \(error)")
        }
    }

    /// Builds the fixture from whatever random source is installed; ``shared`` installs the fixed one.
    init() throws {
        epoch = .now
        let initiatorPrivate = try PrivateKey(rawBytes: [UInt8](repeating: 0x11, count: 32))
        let responderPrivate = try PrivateKey(rawBytes: [UInt8](repeating: 0x22, count: 32))
        initiatorKey = initiatorPrivate.publicKey
        responderKey = responderPrivate.publicKey
        var initiator = Device(privateKey: initiatorPrivate, now: epoch)
        var responder = Device(privateKey: responderPrivate, now: epoch)
        try initiator.addPeer(responderKey)
        try responder.addPeer(initiatorKey)
        self.responder = responder

        initiation = try initiator.createInitiation(
            to: responderKey, timestamp: TAI64N(unixSeconds: 1_795_424_400, nanoseconds: 0), now: epoch)
        waitingInitiator = initiator
        cookieReply = try responder.makeCookieReply(to: initiation.bytes, source: [192, 0, 2, 1, 0xCA, 0x6C], now: epoch)
        _ = try responder.consumeInitiation(initiation, now: epoch)
        response = try responder.createResponse(to: initiatorKey, now: epoch)
        _ = try initiator.consumeResponse(response)

        var initiatorKeys = try initiator.beginSession(with: responderKey, now: epoch)
        responderKeys = try responder.beginSession(with: initiatorKey, now: epoch)
        payload = Array(0..<100)
        var transport: [UInt8] = []
        try initiatorKeys.seal(payload, into: &transport, now: epoch)
        self.transport = transport
    }

    /// Overwrites MAC1 of an initiation or response with the right one for its receiver, so that
    /// mutations get past the MAC1 check to the handshake itself. Other datagrams are left alone.
    func restampMAC1(_ datagram: inout [UInt8]) {
        let receiver: PublicKey
        let mac1Offset: Int
        switch datagram.first {
        case 1 where datagram.count == MessageInitiation.byteCount:
            (receiver, mac1Offset) = (responderKey, MessageInitiation.mac1Offset)
        case 2 where datagram.count == MessageResponse.byteCount:
            (receiver, mac1Offset) = (initiatorKey, MessageResponse.mac1Offset)
        default:
            return
        }
        // MAC1 = MAC(HASH(LABEL_MAC1 || S_pub_receiver), msg[0..<mac1Offset]) (paper 5.4.4).
        let key = BLAKE2s.hash(Array(WG.LABEL_MAC1.utf8), receiver.bytes)
        let mac1 = BLAKE2s.mac(key: key, Array(datagram[0..<mac1Offset]))
        datagram.replaceSubrange(mac1Offset..<(mac1Offset + 16), with: mac1.prefix(16))
    }

    /// The seed corpus of the WireGuard target: each real message with MAC1 as sent (mode 0) and
    /// with the restamping mode (1), keyed by file name.
    var seeds: [String: [UInt8]] {
        [
            "initiation": [0] + initiation.bytes, "initiation-restamped": [1] + initiation.bytes,
            "response": [0] + response.bytes, "response-restamped": [1] + response.bytes,
            "cookie-reply": [0] + cookieReply.bytes, "transport": [0] + transport,
        ]
    }
}
