import Foundation
@testable import PolicyCompiler
import Tunnel
import XCTest
@testable import FuzzTargets

/// The regression test of the fuzz campaign: every seed-corpus file and every input a fuzzer
/// ever crashed on (`Fuzz/corpus/TARGET/`, `Fuzz/regressions/TARGET/`) goes through the same
/// target function libFuzzer calls. A violated invariant traps, which fails the run.
final class FuzzTargetsTests: XCTestCase {
    static let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The files of `Fuzz/KIND/TARGET`, sorted; none if the directory does not exist.
    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let directory = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    func testEveryTargetHasASeedCorpus() {
        for name in FuzzTargets.byName.keys.sorted() {
            XCTAssertFalse(Self.inputs("corpus", name).isEmpty, "Fuzz/corpus/\(name) is empty")
        }
    }

    func testSeedCorpusAndSavedCrashInputsReplayWithoutFindings() throws {
        var replayed = 0
        for (name, target) in FuzzTargets.byName.sorted(by: { $0.key < $1.key }) {
            for file in Self.inputs("corpus", name) + Self.inputs("regressions", name) {
                target(Array(try Data(contentsOf: file)))
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 30)
    }

    /// The WireGuard seeds are the fixture's real messages; if the fixture's stream or the
    /// handshake changed they would silently stop reaching the consumers, so they are compared
    /// byte for byte. `ZTP_FUZZ_WRITE_SEEDS=1` rewrites them (and the bundle seeds).
    func testWireGuardSeedsAreTheFixturesRealMessages() throws {
        let seeds = WireGuardFixture.shared.seeds
        if ProcessInfo.processInfo.environment["ZTP_FUZZ_WRITE_SEEDS"] == "1" {
            try write(seeds, to: "wireguard")
            try write(bundleSeeds(), to: "bundle")
        }
        for (name, bytes) in seeds {
            let file = Self.fuzzRoot.appendingPathComponent("corpus/wireguard/\(name)")
            XCTAssertEqual(Array(try Data(contentsOf: file)), bytes, "Fuzz/corpus/wireguard/\(name) is stale")
        }
        XCTAssertEqual(seeds["initiation"]?.count, 1 + 148)
        XCTAssertEqual(seeds["transport"]?.count, 1 + 16 + 112 + 16)
    }

    func testTheFixtureIsAFunctionOfTheStreamAlone() throws {
        // What a fresh process would build: the same messages, although the clock moved on.
        let again = try DeterministicRandom.withInstalled(from: 0) { try WireGuardFixture() }
        XCTAssertEqual(again.seeds, WireGuardFixture.shared.seeds)
        // And outside the fixture libsodium is random again.
        XCTAssertNotEqual(Tunnel.PrivateKey().publicKey, Tunnel.PrivateKey().publicKey)
    }

    /// The states the target feeds its input to accept the seed messages, so that the seeds reach
    /// past every check to the end of each consumer.
    func testTheSeedMessagesAreAcceptedByTheFixturesDevices() throws {
        let f = WireGuardFixture.shared
        var responder = f.responder
        XCTAssertEqual(try responder.consumeInitiation(f.initiation, now: f.epoch), f.initiatorKey)
        var initiator = f.waitingInitiator
        XCTAssertEqual(try initiator.consumeResponse(f.response), f.responderKey)
        initiator = f.waitingInitiator
        XCTAssertNoThrow(try initiator.consumeCookieReply(f.cookieReply, now: f.epoch))
        var keys = f.responderKeys
        XCTAssertEqual(try keys.open(f.transport, now: f.epoch).prefix(f.payload.count), f.payload[...])
        // With a MAC1 the fuzzer broke, mode 1 repairs it and mode 0 does not.
        var broken = f.initiation.bytes
        broken[MessageInitiation.mac1Offset] ^= 1
        XCTAssertFalse(f.responder.verifyMAC1(of: broken))
        f.restampMAC1(&broken)
        XCTAssertTrue(f.responder.verifyMAC1(of: broken))
    }

    func testBundleRepairMakesTheChecksumValid() throws {
        let bundle = try XCTUnwrap(bundleSeeds()["policies"])
        let headerAndBody = Array(bundle.dropFirst().dropLast(32))
        XCTAssertEqual(FuzzTargets.withRepairedChecksum(headerAndBody), Array(bundle.dropFirst()))
        XCTAssertNoThrow(try PolicyBundle.decode(FuzzTargets.withRepairedChecksum(headerAndBody)))
    }

    /// The signed seed must verify under the target's fixed key, or the signed path would only
    /// ever see refusals.
    func testTheSignedBundleSeedOpensUnderTheTargetsTrustedKey() throws {
        let file = Self.fuzzRoot.appendingPathComponent("corpus/bundle/policies-signed")
        let bytes = Array(try Data(contentsOf: file))
        XCTAssertEqual(bytes.first, 3)
        let opened = try SignedBundle.open(Array(bytes.dropFirst()), trusted: [FuzzTargets.trustedPublisher.publicKey])
        XCTAssertEqual(opened.signer, FuzzTargets.trustedPublisher.publicKey)
        // The seed was compiled in another checkout, so its rules carry other file paths: compare
        // what does not depend on where the repository lies.
        let fresh = try PolicyBundle.decode(Array(try XCTUnwrap(bundleSeeds()["policies"]).dropFirst()))
        XCTAssertEqual(opened.tables.rules.map(\.id), fresh.rules.map(\.id))
        XCTAssertEqual(opened.tables.identities, fresh.identities)
        XCTAssertEqual(opened.tables.policyNames, fresh.policyNames)
    }

    /// The first fuzz finding (Fuzz/regressions/bundle/crash-b38cc2ec...): the decoder built the
    /// tables' derived indexes before validating the indexes they read, so a bundle whose class
    /// map was short trapped instead of being refused. That input trapped only for some hash
    /// seeds (a Set's order); this one always did.
    func testBundleWithAShortClassMapIsRefusedNotTrapped() throws {
        var tables = try XCTUnwrap(PolicyBundle.decode(Array(try XCTUnwrap(bundleSeeds()["policies"]).dropFirst())))
        XCTAssertGreaterThan(tables.classCount, 0)
        tables.classWide = []
        XCTAssertThrowsError(try PolicyBundle.decode(PolicyBundle.encode(tables))) {
            XCTAssertEqual($0 as? PolicyBundle.LoadError, .inconsistent("class table map size"))
        }
    }

    /// Bundles compiled from the repository's policies (the whole set, and each file that
    /// compiles on its own): mode 1 (as is) and mode 0 (checksum dropped, the target repairs it).
    private func bundleSeeds() throws -> [String: [UInt8]] {
        let policies = Self.fuzzRoot.deletingLastPathComponent().appendingPathComponent("policies")
        var options = PolicyCompiler.Options()
        options.now = FuzzTargets.policyTestInstant
        var seeds: [String: [UInt8]] = [:]
        func add(_ name: String, _ tables: DecisionTables) {
            let bundle = PolicyBundle.encode(tables)
            seeds[name] = [1] + bundle
            seeds["\(name)-repaired"] = [0] + bundle.dropLast(32)
        }
        add("policies", try XCTUnwrap(PolicyCompiler.compile(paths: [policies.path], options: options).tables))
        // The signed path (mode bit 1): a whole signed file (3), and header and body to repair and sign (2).
        let bundle = PolicyBundle.encode(try XCTUnwrap(PolicyCompiler.compile(paths: [policies.path], options: options).tables))
        seeds["policies-signed"] = [3] + (try SignedBundle.sign(bundle, with: FuzzTargets.trustedPublisher))
        seeds["policies-signed-repaired"] = [2] + bundle.dropLast(32)
        for file in try FileManager.default.contentsOfDirectory(atPath: policies.path).sorted() {
            let path = policies.appendingPathComponent(file).path
            if let tables = PolicyCompiler.compile(paths: [path], options: options).tables {
                add((file as NSString).deletingPathExtension, tables)
            }
        }
        return seeds
    }

    private func write(_ seeds: [String: [UInt8]], to target: String) throws {
        let directory = Self.fuzzRoot.appendingPathComponent("corpus/\(target)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, bytes) in seeds {
            try Data(bytes).write(to: directory.appendingPathComponent(name))
        }
    }
}
