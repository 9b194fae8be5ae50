import XCTest
@testable import Tunnel

final class MessageDecoderTests: XCTestCase {
    /// Deterministic generator so a failing input can be reproduced.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func validMessages() throws -> [[UInt8]] {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        let initiation = try alice.createInitiation(to: bob.publicKey)
        _ = try bob.consumeInitiation(initiation)
        let response = try bob.createResponse(to: alice.publicKey)
        let cookie = try bob.makeCookieReply(to: initiation.bytes, source: [127, 0, 0, 1, 0, 1])
        _ = try alice.consumeResponse(response)
        var keys = try alice.beginSession(with: bob.publicKey)
        var transport: [UInt8] = []
        try keys.seal(Array("data".utf8), into: &transport)
        return [initiation.bytes, response.bytes, cookie.bytes, transport]
    }

    func testMessagesHaveTheirWireSizes() throws {
        let messages = try validMessages()
        XCTAssertEqual(messages.map(\.count), [148, 92, 64, 48])
        for bytes in messages {
            let decoded = try Message.decode(bytes)
            switch decoded {
            case .initiation(let m): XCTAssertEqual(m.bytes, bytes)
            case .response(let m): XCTAssertEqual(m.bytes, bytes)
            case .cookieReply(let m): XCTAssertEqual(m.bytes, bytes)
            case .transport(let h): XCTAssertEqual(h.counter, 0)
            }
        }
    }

    func testRandomTruncatedAndOversizedInputsNeverCrash() throws {
        var rng = SplitMix64(state: 0x5EED)
        var inputs: [[UInt8]] = [[], [1], [1, 0, 0], [4, 0, 0, 0], [5, 0, 0, 0], [1, 0, 0, 1]]
        for message in try validMessages() {
            for length in 0...(message.count + 40) {
                // Truncations, and valid prefixes padded with random bytes.
                let prefix = Array(message.prefix(length))
                inputs.append(prefix + (0..<max(0, length - message.count)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            inputs.append(message + [0])
            inputs.append(message + [UInt8](repeating: 0xFF, count: 4096))
        }
        for _ in 0..<2000 {
            let length = Int.random(in: 0...300, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Bias towards valid type fields, so the per-type decoders get exercised.
            if length >= 4, Bool.random(using: &rng) {
                bytes[0] = UInt8.random(in: 1...4, using: &rng)
                bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
            }
            inputs.append(bytes)
        }
        var decoded = 0
        for bytes in inputs {
            if (try? Message.decode(bytes)) != nil { decoded += 1 }
        }
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertThrowsError(try Message.decode([9, 0, 0, 0])) {
            XCTAssertEqual($0 as? MessageError, .unknownType(9))
        }
        XCTAssertThrowsError(try Message.decode([1, 0, 0, 0] + [UInt8](repeating: 0, count: 100))) {
            XCTAssertEqual($0 as? MessageError, .wrongLength(type: .initiation, actual: 104))
        }
    }

    /// Property: whatever random bytes arrive, the device rejects them without trapping
    /// and without changing its handshake state in a way that breaks a later handshake.
    func testRandomHandshakeLikeDatagramsAreRejectedByTheDevice() throws {
        var rng = SplitMix64(state: 0xC0FFEE)
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        for _ in 0..<300 {
            let type = UInt8.random(in: 1...3, using: &rng)
            let size = [0, MessageInitiation.byteCount, MessageResponse.byteCount, MessageCookieReply.byteCount][Int(type)]
            var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[0] = type; bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
            switch try Message.decode(bytes) {
            case .initiation(let m): XCTAssertThrowsError(try bob.consumeInitiation(m))
            case .response(let m): XCTAssertThrowsError(try alice.consumeResponse(m))
            case .cookieReply(let m): XCTAssertThrowsError(try alice.consumeCookieReply(m))
            case .transport: XCTFail("unexpected transport")
            }
        }
        _ = try bob.consumeInitiation(alice.createInitiation(to: bob.publicKey))
        _ = try alice.consumeResponse(bob.createResponse(to: alice.publicKey))
    }

    /// Mutated transport messages (bit flips anywhere, truncations, extensions, a changed
    /// counter) never open, never trap, and never move the replay window: the genuine
    /// message still opens afterwards, exactly once.
    func testMutatedTransportMessagesNeverOpen() throws {
        var rng = SplitMix64(state: 0xF1A5)
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        _ = try bob.consumeInitiation(alice.createInitiation(to: bob.publicKey))
        _ = try alice.consumeResponse(bob.createResponse(to: alice.publicKey))
        var sender = try alice.beginSession(with: bob.publicKey)
        var receiver = try bob.beginSession(with: alice.publicKey)
        var message: [UInt8] = []
        try sender.seal(Array(repeating: 0x45, count: 100), into: &message)

        var rejected = 0
        for round in 0..<3000 {
            var mutated = message
            switch round % 4 {
            case 0:
                let bit = Int.random(in: 0..<(mutated.count * 8), using: &rng)
                mutated[bit / 8] ^= 1 << UInt8(bit % 8)
            case 1:
                mutated = Array(mutated.prefix(Int.random(in: 0..<mutated.count, using: &rng)))
            case 2:
                mutated += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:
                mutated.replaceSubrange(8..<16, with: (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            if mutated == message { continue }
            XCTAssertThrowsError(try receiver.open(mutated), "round \(round) opened a mutated message")
            rejected += 1
        }
        XCTAssertGreaterThan(rejected, 2900)
        XCTAssertEqual(try receiver.open(message).prefix(100), ArraySlice(repeating: 0x45, count: 100))
        XCTAssertThrowsError(try receiver.open(message)) { XCTAssertEqual($0 as? TransportError, .replayed(counter: 0)) }
    }
}
