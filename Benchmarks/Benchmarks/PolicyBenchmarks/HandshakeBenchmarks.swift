import Benchmark
import Tunnel

// Handshake capacity of a responder on one core, and the limit the X25519 operations set on it.
//
// - responder: what an edge does for every valid initiation: `Device.consumeInitiation` (MAC1,
//   DH(S_priv_r, E_pub_i), decrypt the initiator's static key, look the peer up, decrypt and check
//   the timestamp; DH(S_priv_r, S_pub_i) is precomputed per peer) and `Device.createResponse` (a
//   new ephemeral key, DH(E_priv_r, E_pub_i), DH(E_priv_r, S_pub_i), the PSK step, MAC1). 64
//   initiating peers; a ring of 2,048 initiations built before measuring, each peer's with
//   strictly increasing timestamps. The clock passed as `now` advances 1 s per handshake so that
//   the per-peer initiation rate limit never refuses one. When the ring is used up the responder
//   goes back to its state before the first handshake (outside the measurement; the copy-on-write
//   of its tables then lands in the next handshake, 1 in 2,048).
// - x25519 DH: one `X25519.sharedSecret` (libsodium crypto_scalarmult_curve25519).
// - x25519 keygen: one `PrivateKey()` and its public key (crypto_scalarmult_curve25519_base).
// - x25519 responder set: exactly the responder's share of X25519 work for one handshake (a key
//   pair and three shared secrets), measured as one unit: its throughput is the ceiling that the
//   DH operations put on handshakes per second, with nothing else done.

/// Devices and precomputed initiations, built once per process outside any measurement.
final class HandshakeFixtures: @unchecked Sendable {
    static let shared = HandshakeFixtures()
    static let peerCount = 64
    static let ringSize = 2_048

    /// The responder before any handshake.
    let responder: Device
    let initiations: [MessageInitiation]
    /// A responder key, a peer's static public key and an ephemeral public key, for the X25519 benchmarks.
    let responderKey: PrivateKey
    let initiatorStatic: PublicKey
    let initiatorEphemeral: PublicKey

    private init() {
        do {
            let responderKey = PrivateKey()
            var responder = Device(privateKey: responderKey)
            var initiators: [Device] = []
            for _ in 0..<Self.peerCount {
                var initiator = Device(privateKey: PrivateKey())
                try initiator.addPeer(responderKey.publicKey)
                try responder.addPeer(initiator.publicKey)
                initiators.append(initiator)
            }
            // 2026-11-23T09:00:00Z, then a second per initiation: each peer's timestamps increase.
            let base: UInt64 = 1_795_424_400
            var ring: [MessageInitiation] = []
            ring.reserveCapacity(Self.ringSize)
            for i in 0..<Self.ringSize {
                let timestamp = TAI64N(unixSeconds: base + UInt64(i), nanoseconds: 0)
                ring.append(try initiators[i % Self.peerCount].createInitiation(to: responderKey.publicKey, timestamp: timestamp))
            }
            self.responder = responder
            self.initiations = ring
            self.responderKey = responderKey
            self.initiatorStatic = initiators[0].publicKey
            self.initiatorEphemeral = PrivateKey().publicKey
        } catch {
            fatalError("handshake fixtures: \(error)")
        }
    }
}

func handshakeBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], timeUnits: .microseconds, warmupIterations: 20,
        maxDuration: .seconds(4), maxIterations: 50_000)

    var responder: Device? = nil
    var cursor = 0
    let origin = ContinuousClock.now
    Benchmark("handshake responder (consume initiation + create response)", configuration: configuration) { benchmark in
        let fixtures = HandshakeFixtures.shared
        if responder == nil || cursor == fixtures.initiations.count {
            responder = fixtures.responder
            cursor = 0
        }
        let message = fixtures.initiations[cursor]
        let now = origin + .seconds(cursor + 1)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            do {
                let peer = try responder!.consumeInitiation(message, now: now)
                blackHole(try responder!.createResponse(to: peer, now: now))
            } catch {
                fatalError("handshake \(cursor) refused: \(error)")
            }
        }
        benchmark.stopMeasurement()
        cursor += 1
    } setup: {
        _ = HandshakeFixtures.shared
    }

    Benchmark("handshake x25519 DH (one shared secret)", configuration: configuration) { benchmark in
        let fixtures = HandshakeFixtures.shared
        for _ in benchmark.scaledIterations {
            blackHole(try? X25519.sharedSecret(fixtures.responderKey, fixtures.initiatorEphemeral))
        }
    } setup: {
        _ = HandshakeFixtures.shared
    }

    Benchmark("handshake x25519 keygen (private key + fixed-base public key)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PrivateKey().publicKey)
        }
    }

    Benchmark("handshake x25519 responder set (keygen + 3 DH)", configuration: configuration) { benchmark in
        let fixtures = HandshakeFixtures.shared
        for _ in benchmark.scaledIterations {
            let ephemeral = PrivateKey()
            blackHole(ephemeral.publicKey)
            blackHole(try? X25519.sharedSecret(fixtures.responderKey, fixtures.initiatorEphemeral))
            blackHole(try? X25519.sharedSecret(ephemeral, fixtures.initiatorEphemeral))
            blackHole(try? X25519.sharedSecret(ephemeral, fixtures.initiatorStatic))
        }
    } setup: {
        _ = HandshakeFixtures.shared
    }
}
