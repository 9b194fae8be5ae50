// The handshake driver of TunnelRuntime (wireguard-go's noise-protocol.go glue): sending
// initiations, the DoS gate (MAC1, MAC2 and cookie replies under load, rate limit), handling
// initiations, responses and cookie replies, installing the new keypair and marking the
// session established.

import Foundation

extension TunnelRuntime {
    /// Sends a handshake initiation unless one went out less than REKEY_TIMEOUT ago
    /// (`force` skips that check for retransmissions). Under `lock`.
    func initiateHandshake(_ key: PublicKey, now: ContinuousClock.Instant, force: Bool = false) {
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

    func handleHandshake(_ bytes: [UInt8], type: MessageType, from source: Endpoint, now: ContinuousClock.Instant) {
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
    func follow(_ key: PublicKey, to source: Endpoint) {
        let peer = peers[key]!
        guard peer.endpoint != source else { return }
        if peer.endpoint != nil { log(.info, "\(short(key)) roamed to \(source)") }
        peer.endpoint = source
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

    func markEstablished(_ key: PublicKey) {
        guard !peers[key]!.sessionUp else { return }
        peers[key]!.sessionUp = true
        events.append((true, key, peers[key]!.endpoint))
    }
}

extension Endpoint {
    /// The bytes a cookie is bound to (address and port), paper 5.4.7's `Am`.
    fileprivate var cookieSource: [UInt8] { addressBytes + [UInt8(port >> 8), UInt8(port & 0xFF)] }
}
