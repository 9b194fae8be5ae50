import CSodium

extension Keypair {
    /// Payloads are zero-padded to a multiple of 16 bytes (paper 5.4.6) so that the
    /// ciphertext length leaks less about the packet inside.
    public static let paddingMultiple = 16

    /// Size of the padded plaintext for a payload of `payloadCount` bytes.
    public static func paddedCount(for payloadCount: Int) -> Int {
        (payloadCount + paddingMultiple - 1) / paddingMultiple * paddingMultiple
    }

    /// Size of the transport message carrying `payloadCount` bytes.
    public static func messageCount(for payloadCount: Int) -> Int {
        TransportHeader.byteCount + paddedCount(for: payloadCount) + ChaCha20Poly1305.tagByteCount
    }

    /// Encrypts `payload` (an IP packet, or nothing for a keepalive) into a transport
    /// message in `message`, which must hold ``messageCount(for:)`` bytes; returns the
    /// number of bytes written. Allocates nothing: the payload is copied after the
    /// header, padded, and encrypted in place.
    ///
    /// The counter is consumed even if the caller then drops the message; counters only
    /// need to be unique, not gap-free.
    public mutating func seal(
        payload: UnsafeRawBufferPointer, into message: UnsafeMutableRawBufferPointer,
        now: ContinuousClock.Instant = .now
    ) throws -> Int {
        let padded = Self.paddedCount(for: payload.count)
        let total = Self.messageCount(for: payload.count)
        guard message.count >= total else { throw TransportError.bufferTooSmall(needed: total, available: message.count) }
        guard !isExpired(now: now) else { throw TransportError.keypairExpired }
        guard sendCounter < WG.REJECT_AFTER_MESSAGES else { throw TransportError.counterExhausted }
        let counter = sendCounter
        sendCounter += 1

        TransportHeader(receiverIndex: remoteIndex, counter: counter).write(into: message)
        let body = UnsafeMutableRawBufferPointer(rebasing: message[TransportHeader.byteCount..<total])
        if let source = payload.baseAddress {
            // memmove semantics: the payload may already sit inside `message`.
            body.baseAddress!.copyMemory(from: source, byteCount: payload.count)
        }
        for i in payload.count..<padded { body[i] = 0 }
        let plaintext = UnsafeRawBufferPointer(rebasing: body[..<padded])
        try ChaCha20Poly1305.withNonce(counter: counter) { nonce in
            try ChaCha20Poly1305.seal(
                key: sendKey, nonce: nonce, plaintext: plaintext,
                additionalData: UnsafeRawBufferPointer(start: nil, count: 0), into: body)
        }
        return total
    }

    /// Authenticates and decrypts a transport message into `payload` (which must not
    /// overlap `message`); returns the padded plaintext length. The inner IP header says
    /// how much of it is packet; the rest is padding.
    ///
    /// The replay filter is updated only after the tag verifies, so forged counters
    /// cannot move the window.
    public mutating func open(
        packet message: UnsafeRawBufferPointer, into payload: UnsafeMutableRawBufferPointer,
        now: ContinuousClock.Instant = .now
    ) throws -> Int {
        guard let header = try? TransportHeader(packet: message) else { throw TransportError.malformed }
        guard header.receiverIndex == localIndex else { throw TransportError.wrongReceiver(header.receiverIndex) }
        guard !isExpired(now: now) else { throw TransportError.keypairExpired }
        guard header.counter < WG.REJECT_AFTER_MESSAGES else { throw TransportError.replayed(counter: header.counter) }
        let ciphertext = UnsafeRawBufferPointer(rebasing: message[TransportHeader.byteCount...])
        let plainCount = ciphertext.count - ChaCha20Poly1305.tagByteCount
        guard payload.count >= plainCount else { throw TransportError.bufferTooSmall(needed: plainCount, available: payload.count) }
        do {
            try ChaCha20Poly1305.withNonce(counter: header.counter) { nonce in
                try ChaCha20Poly1305.open(
                    key: receiveKey, nonce: nonce, ciphertext: ciphertext,
                    additionalData: UnsafeRawBufferPointer(start: nil, count: 0), into: payload)
            }
        } catch {
            throw TransportError.authenticationFailed
        }
        guard replayFilter.accept(header.counter) else {
            // Do not hand out a replayed plaintext, even though it authenticated.
            if let base = payload.baseAddress { sodium_memzero(base, plainCount) }
            throw TransportError.replayed(counter: header.counter)
        }
        return plainCount
    }

    /// Array convenience around ``seal(payload:into:now:)``; `message` is resized.
    public mutating func seal(_ payload: [UInt8], into message: inout [UInt8], now: ContinuousClock.Instant = .now) throws {
        let total = Self.messageCount(for: payload.count)
        if message.count != total { message = [UInt8](repeating: 0, count: total) }
        _ = try payload.withUnsafeBytes { p in
            try message.withUnsafeMutableBytes { try seal(payload: p, into: $0, now: now) }
        }
    }

    /// Array convenience around ``open(packet:into:now:)``; returns the padded plaintext.
    public mutating func open(_ message: [UInt8], now: ContinuousClock.Instant = .now) throws -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: max(0, message.count - TransportHeader.minimumMessageByteCount))
        let count = try message.withUnsafeBytes { m in
            try payload.withUnsafeMutableBytes { try open(packet: m, into: $0, now: now) }
        }
        return Array(payload.prefix(count))
    }
}
