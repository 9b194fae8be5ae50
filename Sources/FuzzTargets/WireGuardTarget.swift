import Tunnel

extension FuzzTargets {
    /// The WireGuard message decoder and the handshake and transport consumers, fed to devices
    /// with fixed keys part-way through a real handshake (``WireGuardFixture``).
    ///
    /// The first byte is a mode: with its low bit set, MAC1 of an initiation or response is
    /// recomputed before decoding, so that mutations reach the handshake. The rest is the datagram.
    ///
    /// Invariants: a decoded message re-serialises to its bytes; a consumer accepts a message only
    /// if it is the fixture's real one (the authenticated fields, not the fuzzer, decide); after an
    /// accepted initiation the responder can answer, after an accepted response the initiator can
    /// start its session.
    public static func wireGuard(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let fixture = WireGuardFixture.shared
        var datagram = Array(bytes.dropFirst())
        if mode & 1 == 1 { fixture.restampMAC1(&datagram) }
        // Per-input randomness (the responder's answer) comes from a fixed stream too, so that a
        // saved input replays exactly.
        DeterministicRandom.withInstalled(from: 1 << 32) {
            guard let message = try? Message.decode(datagram) else { return }
            switch message {
            case .initiation(let m):
                precondition(m.bytes == datagram, "initiation does not re-serialise to its bytes")
                consume(m, datagram, fixture)
            case .response(let m):
                precondition(m.bytes == datagram, "response does not re-serialise to its bytes")
                consume(m, datagram, fixture)
            case .cookieReply(let m):
                precondition(m.bytes == datagram, "cookie reply does not re-serialise to its bytes")
                var initiator = fixture.waitingInitiator
                if (try? initiator.consumeCookieReply(m, now: fixture.epoch)) != nil {
                    precondition(m == fixture.cookieReply, "accepted a cookie reply the responder never sent")
                }
            case .transport(let header):
                var written = [UInt8](repeating: 0, count: TransportHeader.byteCount)
                written.withUnsafeMutableBytes { header.write(into: $0) }
                precondition(written[...] == datagram.prefix(TransportHeader.byteCount), "transport header does not re-serialise")
                var keys = fixture.responderKeys
                if let plaintext = try? keys.open(datagram, now: fixture.epoch) {
                    precondition(datagram == fixture.transport, "opened a transport message nobody sealed")
                    precondition(plaintext.prefix(fixture.payload.count).elementsEqual(fixture.payload), "opened to the wrong payload")
                }
            }
        }
    }

    private static func consume(_ m: MessageInitiation, _ datagram: [UInt8], _ fixture: WireGuardFixture) {
        var responder = fixture.responder
        if responder.verifyMAC1(of: datagram) {
            let reply = try? responder.makeCookieReply(to: datagram, source: [198, 51, 100, 7, 0, 53], now: fixture.epoch)
            precondition(reply?.receiverIndex == m.senderIndex, "cookie reply to a valid MAC1 not addressed to its sender")
            _ = responder.verifyMAC2(of: datagram, source: [198, 51, 100, 7, 0, 53], now: fixture.epoch)
        }
        guard let initiator = try? responder.consumeInitiation(m, now: fixture.epoch) else { return }
        let real = fixture.initiation
        precondition(
            initiator == fixture.initiatorKey && m.ephemeral == real.ephemeral && m.encryptedStatic == real.encryptedStatic
                && m.encryptedTimestamp == real.encryptedTimestamp,
            "accepted an initiation the initiator never sent")
        precondition((try? responder.createResponse(to: initiator, now: fixture.epoch)) != nil, "cannot answer an accepted initiation")
    }

    private static func consume(_ m: MessageResponse, _ datagram: [UInt8], _ fixture: WireGuardFixture) {
        var initiator = fixture.waitingInitiator
        guard let responder = try? initiator.consumeResponse(m) else { return }
        let real = fixture.response
        precondition(
            responder == fixture.responderKey && m.receiverIndex == fixture.initiation.senderIndex
                && m.ephemeral == real.ephemeral && m.encryptedNothing == real.encryptedNothing,
            "accepted a response the responder never sent")
        precondition((try? initiator.beginSession(with: responder, now: fixture.epoch)) != nil, "no session after an accepted response")
    }
}
