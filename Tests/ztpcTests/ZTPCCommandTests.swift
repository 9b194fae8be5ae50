import Foundation
import XCTest

/// Runs the built `ztpc` binary as a user would.
final class ZTPCCommandTests: XCTestCase {
    static var binary: URL {
        // The test bundle sits in the build products directory, beside the executables.
        var dir = Bundle(for: ZTPCCommandTests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("ztpc").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("ztpc")
    }

    static let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("policies").path

    struct Run {
        var status: Int32
        var out: String
        var err: String
    }

    func ztpc(_ args: String..., stdin: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    func temporary(_ files: [String: String]) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data(text.utf8)) }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    let broken = "policy: p\nrules:\n  - allow * -> web:99999/tcp\n"
    let warned = "policy: p\nrules:\n  - allow * -> *:*\n"

    func testCheckPassesTheExamplePoliciesStrictly() throws {
        let r = try ztpc("check", "--strict", Self.policies)
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.out.hasPrefix("ok: 4 files"), r.out)
    }

    func testCheckExitsOneOnErrorsWithACaretUnderTheFault() throws {
        let dir = temporary(["p.yaml": broken])
        let r = try ztpc("check", dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("p.yaml:3:20: error: '99999' is not a port"), r.out)
        XCTAssertTrue(r.out.contains("   |                    ^~~~~\n"), r.out)
        XCTAssertTrue(r.out.hasSuffix("1 error, 0 warnings\n"), r.out)
    }

    func testCheckFinishesTheSixtyLevelTripleReferencedGroupFile() throws {
        // Issue 15: this 2.5 KB file once took ztpc check past any time limit.
        var text = "policy: hostile\ngroups:\n  g0: [zz@example.com]\n"
        for n in 1...60 { text += "  g\(n): [group:g\(n - 1), group:g\(n - 1), group:g\(n - 1)]\n" }
        text += "rules:\n  - allow group:g60 -> 10.0.0.0/8:22/tcp\n"
        let dir = temporary(["hostile.yaml": text])
        let r = try ztpc("check", dir)
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertEqual(r.out, "ok: 1 file, 1 rule, no findings\n")
    }

    func testCheckRefusesAFiftyMegabyteFileWithoutParsingIt() throws {
        let dir = temporary([:])
        let path = "\(dir)/hosts.yaml"
        FileManager.default.createFile(atPath: path, contents: Data("policy: big\nhosts:\n".utf8))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        let block = Data((0..<10_000).map { "  h\($0): 10.0.\($0 >> 8 & 255).\($0 & 255)\n" }.joined().utf8)
        while handle.offsetInFile < 50_000_000 { handle.write(block) }
        try handle.close()
        let r = try ztpc("check", "--format", "json", dir)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        let findings = try XCTUnwrap(document["diagnostics"] as? [[String: Any]], r.out)
        XCTAssertEqual(findings.map { $0["code"] as? String }, ["file-too-large"])
        XCTAssertTrue((findings.first?["message"] as? String)?.contains("is 47.") == true, r.out)
    }

    func testWarningsFailOnlyWithStrict() throws {
        let dir = temporary(["p.yaml": warned])
        XCTAssertEqual(try ztpc("check", dir).status, 0)
        XCTAssertEqual(try ztpc("check", "--strict", dir).status, 1)
    }

    func testUsageAndIOErrorsExitTwo() throws {
        XCTAssertEqual(try ztpc("check", "/nonexistent/policies").status, 2)
        XCTAssertEqual(try ztpc("check", "--format", "xml", Self.policies).status, 2)
        XCTAssertEqual(try ztpc("frobnicate").status, 2)
        XCTAssertEqual(try ztpc("inspect", "/nonexistent.bundle").status, 2)
    }

    func testJSONAndSARIFAreMachineReadable() throws {
        let dir = temporary(["p.yaml": broken])
        let json = try ztpc("check", "--format", "json", dir)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        XCTAssertEqual(object["errors"] as? Int, 1)
        let sarif = try ztpc("check", "--format", "sarif", dir)
        let log = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sarif.out.utf8)) as? [String: Any])
        XCTAssertEqual(log["version"] as? String, "2.1.0")
        XCTAssertEqual(sarif.status, 1)
    }

    func testTestRunsTheTestsBlocksAndShowsFailures() throws {
        let ok = try ztpc("test", Self.policies)
        XCTAssertEqual(ok.status, 0, ok.out)
        XCTAssertTrue(ok.out.hasSuffix("29 passed, 0 failed\n"), ok.out)
        let text = "policy: p\nidentities:\n  a: { key: \"2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4=\", tags: [x] }\nrules:\n  - deny a -> 10.0.0.1:22/tcp\ntests:\n  - allow a -> 10.0.0.1:22/tcp\n"
        let r = try ztpc("test", temporary(["p.yaml": text]))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("FAIL allow a -> 10.0.0.1:22/tcp: expected allow, got deny (denied by p/1)"), r.out)
        XCTAssertTrue(r.out.contains("0 passed, 1 failed"), r.out)
    }

    func testExplainNamesTheWinningDenyAndTheAllowItBeat() throws {
        let text = """
            policy: p
            identities:
              bob: { key: "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=", user: bob@example.com, tags: [unmanaged] }
            rules:
              - allow bob -> 10.20.1.5:*
              - deny tag:unmanaged -> 10.20.1.5:22/tcp
            """
        let r = try ztpc("explain", temporary(["p.yaml": text]), "bob", "10.20.1.5:22/tcp", "--at", "2026-11-23T09:00:00Z")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("decision: deny (denied by p/2; it overrides p/1)"), r.out)
        XCTAssertTrue(r.out.contains("p/2 at "), r.out)
        XCTAssertTrue(r.out.contains("DENIES"), r.out)
        XCTAssertTrue(r.out.contains("matched, but lost to the deny"), r.out)
    }

    func testCompileInspectAndEvalAgreeWithTheSources() throws {
        let dir = temporary([:])
        let bundle = "\(dir)/policy.ztpb"
        let c = try ztpc("compile", Self.policies, "-o", bundle)
        XCTAssertEqual(c.status, 0, c.out + c.err)
        XCTAssertTrue(c.out.hasPrefix("wrote \(bundle): "), c.out)
        let i = try ztpc("inspect", bundle)
        XCTAssertEqual(i.status, 0)
        XCTAssertTrue(i.out.contains("rules:        18 (14 allow, 4 deny)"), i.out)
        XCTAssertTrue(i.out.contains("policies:     engineering, finance, platform, support"), i.out)
        let requests = """
            # who -> where
            alice-laptop -> 10.10.0.7:5432/tcp
            bob-phone -> 10.10.0.7:5432/tcp
            heidi-tablet -> [fd00:70::1]:443/tcp
            frank-laptop -> 10.60.0.10:443/tcp at 2026-11-24T03:00:00Z
            nobody -> 10.0.0.53:53/udp
            """
        let fromBundle = try ztpc("eval", bundle, "--requests", "-", stdin: requests)
        let fromSources = try ztpc("eval", Self.policies, "--requests", "-", stdin: requests)
        XCTAssertEqual(fromBundle.status, 0, fromBundle.err)
        XCTAssertEqual(fromBundle.out, fromSources.out)
        let lines = fromBundle.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[0].hasPrefix("allow alice-laptop -> 10.10.0.7:5432/tcp allowed rules=engineering/1"), String(lines[0]))
        XCTAssertTrue(lines[1].hasPrefix("deny bob-phone"), String(lines[1]))
        XCTAssertTrue(lines[2].hasPrefix("allow heidi-tablet"), String(lines[2]))
        XCTAssertTrue(lines[3].hasPrefix("deny frank-laptop"), String(lines[3]))
        XCTAssertTrue(lines[4].hasPrefix("deny nobody -> 10.0.0.53:53/udp unknown-identity"), String(lines[4]))
        let json = try ztpc("eval", bundle, "--requests", "-", "--output", "json", stdin: "alice-laptop -> 10.10.0.7:5432/tcp\n")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        XCTAssertEqual(object["verdict"] as? String, "allow")
        XCTAssertEqual(object["rules"] as? [String], ["engineering/1"])
    }

    func testEvalReportsBadLinesAndGoesOn() throws {
        let r = try ztpc("eval", Self.policies, "--requests", "-", stdin: "alice-laptop -> 10.10.0.7/tcp\nalice-laptop -> 10.10.0.7:5432/tcp\n")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("-:1:"), r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 1)
    }

    func testACorruptBundleIsRefusedClearly() throws {
        let dir = temporary([:])
        let bundle = "\(dir)/policy.ztpb"
        XCTAssertEqual(try ztpc("compile", Self.policies, "-o", bundle).status, 0)
        var bytes = [UInt8](FileManager.default.contents(atPath: bundle)!)
        bytes[bytes.count / 2] ^= 0xff
        FileManager.default.createFile(atPath: bundle, contents: Data(bytes))
        let r = try ztpc("inspect", bundle)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("bundle is corrupt: checksum mismatch"), r.err)
        let foreign = try ztpc("inspect", "\(Self.policies)/engineering.yaml")
        XCTAssertTrue(foreign.err.contains("not a ztp policy bundle"), foreign.err)
    }

    func testABrokenPolicyIsNotCompiled() throws {
        let dir = temporary(["p.yaml": broken])
        let r = try ztpc("compile", dir, "-o", "\(dir)/out.ztpb")
        XCTAssertEqual(r.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/out.ztpb"))
    }
}
