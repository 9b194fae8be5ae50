import Foundation
import Enforcer
import Logging
import PolicyCompiler
import NetTestSupport
import XCTest
@testable import Edge

/// An edge with trusted publishers puts in force only bundles a trusted key signed: at start it
/// refuses to run on anything else, and on reload it keeps the policy in force.
final class TrustedPublisherTests: XCTestCase {
    let fixture = SignedPolicyFixture()
    let publisher = SigningKey()
    var trust: BundleTrust { .publishers([publisher.publicKey]) }

    override func tearDown() { fixture.remove() }

    func reload(_ s: EdgeService) -> Bool {
        let done = expectation(description: "reload")
        let result = LockedBox(false)
        s.reload(reason: "test") { ok in
            result.value = ok
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        return result.value
    }

    func testAnUnsignedBundleStopsTheStart() throws {
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: []))
        XCTAssertThrowsError(try fixture.service(trust: trust)) {
            XCTAssertTrue("\($0)".contains("policy.ztpb: bundle is not signed"), "\($0)")
        }
        XCTAssertNoThrow(try fixture.service(trust: .anyBundle), "without trusted publishers it loads as before")
    }

    func testABundleSignedOnlyByAnUntrustedKeyStopsTheStartNamingTheKey() throws {
        let stranger = SigningKey()
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [stranger]))
        XCTAssertThrowsError(try fixture.service(trust: trust)) {
            XCTAssertTrue("\($0)".contains("signed only by untrusted keys: \(stranger.publicKey)"), "\($0)")
        }
    }

    func testAReloadToAnUntrustedBundleKeepsThePolicyAndATrustedOneTakesEffect() throws {
        fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        let s = try fixture.service(trust: trust)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .pass)

        for (bytes, why) in [
            (try fixture.bundle(allowingPort: 22, signedBy: [SigningKey()]), "untrusted keys"),
            (try fixture.bundle(allowingPort: 22, signedBy: []), "not signed"),
        ] {
            fixture.install(bytes)
            XCTAssertFalse(reload(s))
            XCTAssertEqual(s.enforcer.store.generation.number, 1)
            XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .pass, "the old policy keeps enforcing")
            XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 22), .drop)
            XCTAssertTrue(s.statusDocument().policy.lastReloadError?.contains(why) == true, s.status())
        }

        fixture.install(try fixture.bundle(allowingPort: 22, signedBy: [SigningKey(), publisher]))
        XCTAssertTrue(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 2)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 22), .pass)
        XCTAssertEqual(try SignedPolicyFixture.verdict(s, port: 5432), .drop)
        XCTAssertNil(s.statusDocument().policy.lastReloadError)
    }

    func testAPolicyDirectoryIsRefusedUnderTrust() throws {
        _ = try fixture.bundle(allowingPort: 5432, signedBy: [])  // leaves the sources in src-5432
        XCTAssertThrowsError(
            try EdgeService(
                source: .directory("\(fixture.dir)/src-5432"), cacheSize: 64, allowLogSample: 1, decisionLog: nil,
                logger: Logger(label: "test"), trust: trust)
        ) {
            XCTAssertTrue("\($0)".contains("a policy directory carries no signature"), "\($0)")
        }
    }
}

/// The ztpd binary with trusted publishers: it refuses to start on a policy it may not trust,
/// with one clear line, before it opens any interface.
final class TrustedPublisherDaemonTests: XCTestCase {
    let fixture = SignedPolicyFixture()
    let publisher = SigningKey()

    override func tearDown() { fixture.remove() }

    func ztpd(_ config: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        let path = "\(fixture.dir)/ztpd.yaml"
        FileManager.default.createFile(atPath: path, contents: Data(config.utf8))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try NetEnvironment.builtProduct("ztpd"))
        // A name no interface has: ztpd must stop before it would create one.
        p.arguments = ["ztpsig\(getpid() % 10000)", "--foreground", "--daemon-config", path, "--metrics", "off"] + extra
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testAnUnsignedBundleIsRefusedAtStartWithOneClearLine() throws {
        let bundle = fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: []))
        let r = try ztpd("bundle: \(bundle)\ntrusted_publishers: [\"\(publisher.publicKey)\"]\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("cannot load the policy from \(bundle); not starting: \(bundle): bundle is not signed"), r.output)
    }

    func testPoliciesOnTheCommandLineCannotBypassTrustedPublishers() throws {
        let bundle = fixture.install(try fixture.bundle(allowingPort: 5432, signedBy: [publisher]))
        let r = try ztpd("bundle: \(bundle)\ntrusted_publishers: [\"\(publisher.publicKey)\"]\n", ["--policies", "\(fixture.dir)/src-5432"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("trusted_publishers needs a signed bundle"), r.output)
    }
}
