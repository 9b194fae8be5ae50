import Foundation
import Enforcer
import NetTestSupport
import PolicyCompiler
import XCTest
@testable import Edge

/// `EdgeService.installBundle`: a bundle from a remote source goes through the reload path. A
/// trusted one changes decisions and keeps sessions; an untrusted, unsigned or corrupt one is
/// refused and the policy in force stays; the last good one is cached and survives a restart.
final class BundleInstallTests: XCTestCase {
    let fixture = SignedPolicyFixture()
    let publisher = SigningKey()
    var trust: BundleTrust { .publishers([publisher.publicKey]) }

    override func tearDown() { fixture.remove() }

    func testATrustedBundleChangesDecisionsAndKeepsTheSession() async throws {
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        let s = try fixture.service(trust: trust)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .pass)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 22), .drop)
        XCTAssertEqual(s.statusDocument().sessions.count, 1)

        let bytes = try fixture.bundle(allowingPort: 22, signedBy: [publisher])
        let outcome = await s.installBundle(bytes, origin: "etcd:/ztp/bundles/test")
        XCTAssertEqual(outcome, .installed(generation: 2, hash: PolicyBundle.contentHash(bytes)))
        XCTAssertEqual(s.statusDocument().sessions.count, 1, "the session survives the swap")
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 22), .pass)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .drop)

        let policy = s.statusDocument().policy
        XCTAssertEqual(policy.generation, 2)
        XCTAssertEqual(policy.origin, "etcd:/ztp/bundles/test")
        XCTAssertEqual(policy.bundleHash, PolicyBundle.contentHash(bytes))
        XCTAssertEqual(policy.signer, publisher.publicKey.base64)
        XCTAssertEqual(policy.reloads, 1)
        let json = s.status()
        XCTAssertTrue(json.contains("\"bundle_hash\" : \"\(PolicyBundle.contentHash(bytes))\""), json)
        XCTAssertTrue(json.contains("\"last_reload_error_at\" : null"), json)
    }

    func testUntrustedUnsignedAndCorruptBundlesAreRefusedAndTheOldPolicyStays() async throws {
        let first = try fixture.bundle(allowingPort: 5432, signedBy: [publisher])
        fixture.install(first)
        let s = try fixture.service(trust: trust)
        let stranger = SigningKey()
        var corrupt = try fixture.bundle(allowingPort: 22, signedBy: [publisher])
        corrupt[60] ^= 0x10  // in the body, past the 48-byte header
        let cases: [([UInt8], String)] = [
            (try fixture.bundle(allowingPort: 22, signedBy: [stranger]), "signed only by untrusted keys: \(stranger.publicKey)"),
            (try fixture.bundle(allowingPort: 22, signedBy: []), "bundle is not signed"),
            (corrupt, "bundle is corrupt: checksum mismatch"),
            (Array("not a bundle".utf8), "not a ztp policy bundle"),
        ]
        for (n, (bytes, why)) in cases.enumerated() {
            let outcome = await s.installBundle(bytes, origin: "remote")
            guard case .refused(let hash, let reason) = outcome else { return XCTFail("\(why): \(outcome)") }
            XCTAssertEqual(hash, PolicyBundle.contentHash(bytes))
            XCTAssertTrue(reason.contains(why), reason)
            XCTAssertEqual(s.enforcer.store.generation.number, 1)
            XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .pass, "the old policy keeps enforcing")
            XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 22), .drop, why)
            let policy = s.statusDocument().policy
            XCTAssertEqual(policy.reloadFailures, UInt64(n + 1))
            XCTAssertEqual(policy.lastReloadError, reason)
            XCTAssertTrue(reason.hasPrefix("remote: "), "the refusal names the origin: \(reason)")
            XCTAssertNotNil(policy.lastReloadErrorAt)
            XCTAssertEqual(policy.bundleHash, PolicyBundle.contentHash(first), "status still names the bundle in force")
        }
    }

    func testTheBundleInForceIsNotInstalledTwice() async throws {
        let bytes = try fixture.bundle(allowingPort: 5432, signedBy: [publisher])
        fixture.install(bytes)
        let s = try fixture.service(trust: trust)
        let outcome = await s.installBundle(bytes, origin: "remote")
        XCTAssertEqual(outcome, .unchanged(generation: 1, hash: PolicyBundle.contentHash(bytes)))
        XCTAssertEqual(s.enforcer.store.generation.number, 1)
    }

    func testAnInstalledBundleIsCachedAndARestartWithNothingElseEnforcesIt() async throws {
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        var config = EdgeConfig()
        config.stateDirectory = "\(fixture.dir)/state"
        XCTAssertNil(config.startingPolicySource(followsRemote: true), "nothing cached yet")
        let cache = config.bundleCache
        let s = try fixture.service(trust: trust, cache: cache)

        let good = try fixture.bundle(allowingPort: 22, signedBy: [publisher])
        let installed = await s.installBundle(good, origin: "remote")
        XCTAssertTrue(installed.isInForce)
        XCTAssertEqual(FileManager.default.contents(atPath: cache.path).map { [UInt8]($0) }, good)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: cache.path)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: config.stateDirectory)[.posixPermissions] as? Int, 0o700)

        // A refused bundle does not replace the last good one.
        _ = await s.installBundle(try fixture.bundle(allowingPort: 80, signedBy: [SigningKey()]), origin: "remote")
        XCTAssertEqual(FileManager.default.contents(atPath: cache.path).map { [UInt8]($0) }, good)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: config.stateDirectory), ["last-good.ztpb"])

        // The restart: no policy configured, following a remote source that is not reachable.
        let source = try XCTUnwrap(config.startingPolicySource(followsRemote: true))
        XCTAssertNil(config.startingPolicySource(followsRemote: false), "a plain edge does not pick up a cache")
        let restarted = try fixture.service(trust: trust, source: source, cache: cache)
        XCTAssertEqual(try SignedPolicyFixture.verdict(restarted, port: 22), .pass)
        XCTAssertEqual(try SignedPolicyFixture.verdict(restarted, port: 5432), .drop)
        XCTAssertEqual(restarted.statusDocument().policy.bundleHash, PolicyBundle.contentHash(good))
    }

    func testACachedBundleIsVerifiedAgainAtStart() async throws {
        let cache = BundleCache(directory: "\(fixture.dir)/state")
        try cache.store(try fixture.bundle(allowingPort: 22, signedBy: [SigningKey()]))
        XCTAssertThrowsError(try fixture.service(trust: trust, source: cache.startingSource, cache: cache)) {
            XCTAssertTrue("\($0)".contains("untrusted keys"), "\($0)")
        }
    }

    func testALocalReloadAfterARemoteInstallGoesThroughTheSamePath() async throws {
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        let s = try fixture.service(trust: trust)
        _ = await s.installBundle(try fixture.bundle(allowingPort: 22, signedBy: [publisher]), origin: "remote")
        // SIGHUP: the configured bundle again, which is newest now.
        let done = expectation(description: "reload")
        s.reload(reason: "SIGHUP") { ok in
            XCTAssertTrue(ok)
            done.fulfill()
        }
        await fulfillment(of: [done], timeout: 10)
        XCTAssertEqual(s.enforcer.store.generation.number, 3)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .pass)
        XCTAssertEqual(s.statusDocument().policy.origin, "\(fixture.dir)/policy.ztpb")
    }
}

/// `ztpc status` shows what a follower reports: the bundle in force by hash and signer, and a
/// refusal with its time.
final class BundleInstallStatusTests: XCTestCase {
    func testZtpcStatusShowsTheBundleHashSignerAndTheLastRefusal() async throws {
        let fixture = SignedPolicyFixture()
        defer { fixture.remove() }
        let publisher = SigningKey()
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        let s = try fixture.service(trust: .publishers([publisher.publicKey]))
        let good = try fixture.bundle(allowingPort: 22, signedBy: [publisher])
        _ = await s.installBundle(good, origin: "etcd:/ztp/bundles/x")
        _ = await s.installBundle(try fixture.bundle(allowingPort: 80, signedBy: []), origin: "etcd:/ztp/bundles/y")

        let dir = "/tmp/bi-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = "\(dir)/edge.sock"
        let server = try ControlServer(path: socket) { _ in s.status() }
        server.start()
        defer { server.stop() }
        let r = try Command.run(try NetEnvironment.builtProduct("ztpc"), ["status", "--socket", socket], timeout: 20)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("generation 2 from etcd:/ztp/bundles/x"), r.output)
        XCTAssertTrue(r.output.contains("bundle:     sha256:\(PolicyBundle.contentHash(good)), signed by \(publisher.publicKey)"), r.output)
        XCTAssertTrue(
            r.output.range(of: #"last error: etcd:/ztp/bundles/y: bundle is not signed.* \(at 20\d\d-"#, options: .regularExpression) != nil,
            r.output)
    }
}

/// `state_dir:` and the atomic write of the cache.
final class BundleCacheTests: XCTestCase {
    func testStateDirIsAnAbsolutePath() throws {
        XCTAssertEqual(EdgeConfig().stateDirectory, "/var/lib/ztp")
        XCTAssertEqual(try EdgeConfig.parse("state_dir: /srv/ztp", path: "x").bundleCache.path, "/srv/ztp/last-good.ztpb")
        XCTAssertThrowsError(try EdgeConfig.parse("state_dir: relative", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:1:12: state_dir is an absolute path, such as /var/lib/ztp")
        }
    }

    func testAStoreReplacesTheWholeFileAndLeavesNoTemporary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = BundleCache(directory: dir)
        XCTAssertFalse(cache.exists)
        try cache.store([UInt8](repeating: 1, count: 10_000))
        try cache.store([2, 3])
        XCTAssertEqual(FileManager.default.contents(atPath: cache.path), Data([2, 3]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["last-good.ztpb"])
    }

    func testAStoreThatCannotWriteKeepsThePreviousBundle() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = BundleCache(directory: dir)
        try cache.store([1, 2, 3])
        // A directory where the temporary file would go: its open fails.
        try FileManager.default.createDirectory(atPath: "\(cache.path).tmp-\(getpid())", withIntermediateDirectories: false)
        XCTAssertThrowsError(try cache.store([9]))
        XCTAssertEqual(FileManager.default.contents(atPath: cache.path), Data([1, 2, 3]))
    }
}
