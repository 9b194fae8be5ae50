import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

final class BundleTests: XCTestCase {
    var tables: DecisionTables!

    override func setUp() {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFileParserExample.text], lint: false)
        tables = c.tables
    }

    func testABundleRoundTripsToTheSameTables() throws {
        let decoded = try PolicyBundle.decode(PolicyBundle.encode(tables))
        XCTAssertEqual(decoded, tables)
        XCTAssertEqual(decoded.sourceHash.count, 32)
    }

    func testADirectoryAndItsBundleDecideAlike() throws {
        let decoded = try PolicyBundle.decode(PolicyBundle.encode(tables))
        var rng = SplitMix(seed: 7)
        for _ in 0..<5000 {
            let identity = Int(rng.next() % UInt64(tables.identities.count + 1))  // one past: unknown
            let v4 = rng.next() % 2 == 0
            let address = v4 ? IPAddress(v4: 0x0A00_0000 | UInt32(truncatingIfNeeded: rng.next() % 0x40_0000))
                : IPAddress(v6: UInt128(0xfd00_0030) << 96 | UInt128(rng.next() % 1000))
            let port = UInt16(truncatingIfNeeded: rng.next() % 9000)
            let proto: UInt8 = [6, 17, 1, 47][Int(rng.next() % 4)]
            let at = Int64(1_795_000_000_000) + Int64(rng.next() % 1_000_000_000)
            XCTAssertEqual(
                tables.decide(identity: identity, address: address, port: port, ipProtocol: proto, at: at),
                decoded.decide(identity: identity, address: address, port: port, ipProtocol: proto, at: at))
        }
    }

    func testTheSameSourcesCompileToTheSameBytes() {
        let dir = PolicyFixtures.directory(["p.yaml": PolicyFileParserExample.text])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = PolicyBundle.encode(PolicyCompiler.compile(paths: [dir]).tables!)
        let second = PolicyBundle.encode(PolicyCompiler.compile(paths: [dir]).tables!)
        XCTAssertTrue(first == second, "two compilations of one directory differ")
    }

    func testAllowedIPsAndBlockedSourcesSurviveABundle() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies").path
        var options = PolicyCompiler.Options()
        options.runTests = false
        let t = try XCTUnwrap(PolicyCompiler.compile(paths: [root], options: options).tables)
        let alice = try XCTUnwrap(t.identities.first { $0.name == "alice-laptop" })
        XCTAssertEqual(alice.allowedIPs.map(\.description), ["10.99.0.2/32", "fd00:99::2/128"])
        XCTAssertEqual(t.blockedSources.map(\.description), ["203.0.113.0/24", "2001:db8:bad::/48"])
        XCTAssertEqual(try PolicyBundle.decode(PolicyBundle.encode(t)), t)
    }

    func testAForeignFileIsNotABundle() {
        XCTAssertThrowsError(try PolicyBundle.decode(Array("policy: x\n".utf8))) {
            XCTAssertEqual($0 as? PolicyBundle.LoadError, .notABundle)
        }
        XCTAssertThrowsError(try PolicyBundle.decode([])) { XCTAssertEqual($0 as? PolicyBundle.LoadError, .notABundle) }
    }

    func testEveryFlippedByteIsCaught() {
        let bytes = PolicyBundle.encode(tables)
        for i in stride(from: 8, to: bytes.count, by: max(1, bytes.count / 300)) {
            var corrupt = bytes
            corrupt[i] ^= 0x41
            XCTAssertThrowsError(try PolicyBundle.decode(corrupt), "byte \(i)")
        }
    }

    func testATruncatedBundleIsRefused() {
        let bytes = PolicyBundle.encode(tables)
        for n in [9, 20, 48, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try PolicyBundle.decode(Array(bytes.prefix(n))), "\(n) bytes")
        }
    }

    func testAnotherFormatVersionIsRefusedByName() {
        var bytes = PolicyBundle.encode(tables)
        bytes[8] = 9
        XCTAssertThrowsError(try PolicyBundle.decode(bytes)) {
            XCTAssertEqual($0 as? PolicyBundle.LoadError, .unsupportedVersion(9))
            XCTAssertTrue("\($0)".contains("version 9 is not supported"))
        }
    }

    func testInconsistentTablesWithAValidChecksumAreRefused() {
        var broken = tables!
        broken.v4Segments[0] = 999
        XCTAssertThrowsError(try PolicyBundle.decode(PolicyBundle.encode(broken))) {
            guard case .inconsistent = $0 as? PolicyBundle.LoadError else { return XCTFail("\($0)") }
        }
    }

    /// A prefix the bundle holds is refused, with a valid checksum, when its length is past the
    /// family's width or it has host bits set: tables never hold a prefix the parser would refuse.
    func testMalformedPrefixesWithAValidChecksumAreRefused() throws {
        var t = tables!
        t.blockedSources = [try IPPrefix(parsing: "10.0.0.0/8")]
        let bytes = PolicyBundle.encode(t)
        // The blocked list ends the body: family, the address as a little-endian UInt128, length,
        // then the checksum.
        let lengthAt = bytes.count - 33, familyAt = lengthAt - 17
        XCTAssertEqual(bytes[lengthAt], 8)
        XCTAssertEqual(bytes[familyAt], 4)
        XCTAssertEqual(bytes[familyAt + 4], 10)
        // Length 33, host bits (10.0.0.1/8), bits above an IPv4 address's 32, an unknown family.
        for (at, value) in [(lengthAt, UInt8(33)), (familyAt + 1, UInt8(1)), (lengthAt - 1, UInt8(1)), (familyAt, UInt8(5))] {
            var broken = bytes
            broken[at] = value
            broken.replaceSubrange((broken.count - 32)..., with: SHA256.hash(Array(broken.prefix(broken.count - 32))))
            XCTAssertThrowsError(try PolicyBundle.decode(broken), "byte \(at) = \(value)") {
                XCTAssertEqual($0 as? PolicyBundle.LoadError, .inconsistent("blocked prefixes"))
            }
        }
        XCTAssertEqual(try PolicyBundle.decode(bytes).blockedSources, t.blockedSources)
    }
}
