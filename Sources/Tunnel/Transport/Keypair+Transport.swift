import CSodium

extension Keypair {
    /// Payloads are zero-padded to a multiple of 16 bytes (paper 5.4.6) so that the
    /// ciphertext length leaks less about the packet inside.
    static let paddingMultiple = 16

    /// Size of the padded plaintext for a payload of `payloadCount` bytes.
    static func paddedCount(for payloadCount: Int) -> Int {
        (payloadCount + paddingMultiple - 1) / paddingMultiple * paddingMultiple
    }

    /// Size of the transport message carrying `payloadCount` bytes.
    static func messageCount(for payloadCount: Int) -> Int {
        TransportHeader.byteCount + paddedCount(for: payloadCount) + ChaCha20Poly1305.tagByteCount
    }

    /// Encrypts `payload` (an IP packet, or nothing for a keepalive) into a transport
    /// message in `message`, which must hold ``messageCount(for:)`` bytes; returns the
    /// number of bytes written. Allocates nothing: the payload is copied after the
    /// header, padded, and encrypted in place.
    ///
    /// The counter is consumed even if the caller then drops the message; counters only
    /// need to be unique, not gap-free.
    package mutating func seal(
        payload: UnsafeRawBufferPointer, into message: UnsafeMutableRawBufferPointer,
        now: ContinuousClock.Instant = .now
    ) throws -> Int {
        let total = Self.messageCount(for: payload.count)
        guard message.count >= total else { throw TransportError.bufferTooSmall(needed: total, available: message.count) }
        let counter = try reserveSendCounter(now: now)
        if let source = payload.baseAddress {
            // memmove semantics: the payload may already sit inside `message`.
            message.baseAddress!.advanced(by: TransportHeader.byteCount).copyMemory(from: source, byteCount: payload.count)
        }
        return try Self.seal(inPlace: message, payloadCount: payload.count, key: sendKey, remoteIndex: remoteIndex,
                             counter: counter)
    }

    /// Takes the counter (nonce) of the next message, refusing once the keypair is too
    /// old or used up. With ``seal(inPlace:payloadCount:key:remoteIndex:counter:)`` this
    /// splits sealing so that only this cheap step needs the caller's lock.
    mutating func reserveSendCounter(now: ContinuousClock.Instant = .now) throws -> UInt64 {
        guard !isExpired(now: now) else { throw TransportError.keypairExpired }
        guard sendCounter < WG.REJECT_AFTER_MESSAGES else { throw TransportError.counterExhausted }
        defer { sendCounter += 1 }
        return sendCounter
    }

    /// Seals the payload at `message[16..<16 + payloadCount]` in place into a complete
    /// transport message (header, padded ciphertext, tag) under `key` and `counter`
    /// (reserved with ``reserveSendCounter(now:)``); returns its length.
    static func seal(
        inPlace message: UnsafeMutableRawBufferPointer, payloadCount: Int, key: SymmetricKey, remoteIndex: UInt32,
        counter: UInt64
    ) throws -> Int {
        let padded = paddedCount(for: payloadCount)
        let total = messageCount(for: payloadCount)
        guard message.count >= total else { throw TransportError.bufferTooSmall(needed: total, available: message.count) }
        TransportHeader(receiverIndex: remoteIndex, counter: counter).write(into: message)
        let body = UnsafeMutableRawBufferPointer(rebasing: message[TransportHeader.byteCount..<total])
        if padded > payloadCount { (body.baseAddress! + payloadCount).initializeMemory(as: UInt8.self, repeating: 0, count: padded - payloadCount) }
        let plaintext = UnsafeRawBufferPointer(rebasing: body[..<padded])
        try ChaCha20Poly1305.withNonce(counter: counter) { nonce in
            try ChaCha20Poly1305.seal(
                key: key, nonce: nonce, plaintext: plaintext,
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
    package mutating func open(
        packet message: UnsafeRawBufferPointer, into payload: UnsafeMutableRawBufferPointer,
        now: ContinuousClock.Instant = .now
    ) throws -> Int {
        guard let header = try? TransportHeader(packet: message) else { throw TransportError.malformed }
        guard header.receiverIndex == localIndex else { throw TransportError.wrongReceiver(header.receiverIndex) }
        guard !isExpired(now: now) else { throw TransportError.keypairExpired }
        let plainCount = try Self.open(message, into: payload, key: receiveKey, counter: header.counter)
        guard acceptCounter(header.counter) else {
            // Do not hand out a replayed plaintext, even though it authenticated.
            if let base = payload.baseAddress { sodium_memzero(base, plainCount) }
            throw TransportError.replayed(counter: header.counter)
        }
        return plainCount
    }

    /// Authenticates and decrypts `message` (whose header carries `counter`) into
    /// `payload` under `key`, without touching any keypair state: the half of ``open(packet:into:now:)``
    /// that can run outside the caller's lock. The caller must then pass the counter
    /// through ``acceptCounter(_:)`` before using the plaintext.
    static func open(
        _ message: UnsafeRawBufferPointer, into payload: UnsafeMutableRawBufferPointer, key: SymmetricKey, counter: UInt64
    ) throws -> Int {
        guard message.count >= TransportHeader.minimumMessageByteCount else { throw TransportError.malformed }
        guard counter < WG.REJECT_AFTER_MESSAGES else { throw TransportError.replayed(counter: counter) }
        let ciphertext = UnsafeRawBufferPointer(rebasing: message[TransportHeader.byteCount...])
        let plainCount = ciphertext.count - ChaCha20Poly1305.tagByteCount
        guard payload.count >= plainCount else { throw TransportError.bufferTooSmall(needed: plainCount, available: payload.count) }
        do {
            try ChaCha20Poly1305.withNonce(counter: counter) { nonce in
                try ChaCha20Poly1305.open(
                    key: key, nonce: nonce, ciphertext: ciphertext,
                    additionalData: UnsafeRawBufferPointer(start: nil, count: 0), into: payload)
            }
        } catch {
            throw TransportError.authenticationFailed
        }
        return plainCount
    }

    /// Records an authenticated counter in the replay window; false if it was already
    /// seen or is too old (the message must then be dropped).
    mutating func acceptCounter(_ counter: UInt64) -> Bool {
        replayFilter.accept(counter)
    }

    /// Array convenience around ``seal(payload:into:now:)``; `message` is resized.
    package mutating func seal(_ payload: [UInt8], into message: inout [UInt8], now: ContinuousClock.Instant = .now) throws {
        let total = Self.messageCount(for: payload.count)
        if message.count != total { message = [UInt8](repeating: 0, count: total) }
        _ = try payload.withUnsafeBytes { p in
            try message.withUnsafeMutableBytes { try seal(payload: p, into: $0, now: now) }
        }
    }

    /// Array convenience around ``open(packet:into:now:)``; returns the padded plaintext.
    package mutating func open(_ message: [UInt8], now: ContinuousClock.Instant = .now) throws -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: max(0, message.count - TransportHeader.minimumMessageByteCount))
        let count = try message.withUnsafeBytes { m in
            try payload.withUnsafeMutableBytes { try open(packet: m, into: $0, now: now) }
        }
        return Array(payload.prefix(count))
    }
}
