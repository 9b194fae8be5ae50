import Foundation
import XCTest

/// `ztpc diff`, `who-can` and `can`, run as a user would.
final class ReviewCommandTests: XCTestCase {
    func ztpc(_ args: [String], in directory: String? = nil) throws -> ProcessRun {
        try ProcessRun.ztpc(args, in: directory)
    }

    func run(_ binary: URL, _ args: [String], in directory: String? = nil) throws -> ProcessRun {
        try ProcessRun.run(binary, args, in: directory)
    }

    func temporary() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-review-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// A copy of the example policies with engineering.yaml edited by `edit`.
    func edited(_ edit: (String) -> String) throws -> String {
        let dir = temporary()
        for name in try FileManager.default.contentsOfDirectory(atPath: ZTPCCommandTests.policies) where name.hasSuffix(".yaml") {
            var text = try String(contentsOfFile: "\(ZTPCCommandTests.policies)/\(name)", encoding: .utf8)
            if name == "engineering.yaml" { text = edit(text) }
            try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
        }
        return dir
    }

    let grantSSH: (String) -> String = {
        $0.replacingOccurrences(of: "  - allow group:oncall -> ci:22/tcp\n", with: "  - allow group:oncall -> ci:22/tcp\n  - allow group:sre -> web:22/tcp\n")
    }

    func testDiffOfAPolicyWithItselfReordedChangesNoDecision() throws {
        let dir = try edited { text in
            // The same rules in another order, with other spacing.
            text.replacingOccurrences(of: "  - allow group:sre -> monitoring:*\n  - deny user:bob@example.com -> ci:22/tcp\n",
                                      with: "  - deny   user:bob@example.com ->   ci:22/tcp\n  - allow group:sre -> monitoring:*\n")
        }
        let r = try ztpc(["diff", ZTPCCommandTests.policies, dir, "--fail-on", "any"])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("no change in any decision"), r.out)
    }

    func testDiffShowsAGrantWithItsRuleAndFailsOnlyWhenAskedTo() throws {
        let dir = try edited(grantSSH)
        let r = try ztpc(["diff", ZTPCCommandTests.policies, dir])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("1 grant, 0 revokes"), r.out)
        XCTAssertTrue(r.out.contains("grant  group:sre (carol-laptop, dave-desktop)"), r.out)
        XCTAssertTrue(r.out.contains("10.30.0.0/16 (web): tcp 22"), r.out)
        XCTAssertTrue(r.out.contains("fd00:30::/64 (web): tcp 22"), r.out)
        XCTAssertTrue(r.out.contains("now   allow (allowed by engineering/5)"), r.out)
        XCTAssertEqual(try ztpc(["diff", ZTPCCommandTests.policies, dir, "--fail-on", "grant"]).status, 1)
        XCTAssertEqual(try ztpc(["diff", ZTPCCommandTests.policies, dir, "--fail-on", "revoke"]).status, 0)
        XCTAssertEqual(try ztpc(["diff", dir, ZTPCCommandTests.policies, "--fail-on", "revoke"]).status, 1, "the other way it revokes")
        XCTAssertEqual(try ztpc(["diff", ZTPCCommandTests.policies, dir, "--fail-on", "any"]).status, 1)
    }

    func testDiffJSONAndMarkdown() throws {
        let dir = try edited(grantSSH)
        let j = try ztpc(["diff", ZTPCCommandTests.policies, dir, "--format", "json"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any], j.out)
        XCTAssertEqual(doc["grants"] as? Int, 2, "one region per family")
        let regions = try XCTUnwrap(doc["regions"] as? [[String: Any]])
        XCTAssertEqual(regions.first?["change"] as? String, "grant")
        XCTAssertEqual(regions.first?["label"] as? String, "group:sre")
        XCTAssertEqual((regions.first?["after"] as? [String: Any])?["rules"] as? [String], ["engineering/5"])
        let m = try ztpc(["diff", ZTPCCommandTests.policies, dir, "--format", "markdown"])
        XCTAssertTrue(m.out.contains("| change | who | destination | when | before | after |"), m.out)
        XCTAssertTrue(m.out.contains("| **grant** | group:sre (carol-laptop, dave-desktop) |"), m.out)
    }

    func testDiffReadsARevisionWithGitShow() throws {
        let git = URL(fileURLWithPath: "/usr/bin/git")
        guard FileManager.default.isExecutableFile(atPath: git.path) else { throw XCTSkip("git is not installed at /usr/bin/git") }
        let repo = try edited { $0 }
        let policies = "\(repo)/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: repo) where name.hasSuffix(".yaml") {
            try FileManager.default.moveItem(atPath: "\(repo)/\(name)", toPath: "\(policies)/\(name)")
        }
        for args in [["init", "-q"], ["add", "policies"], ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "policies"]] {
            XCTAssertEqual(try run(git, args, in: repo).status, 0)
        }
        let text = try String(contentsOfFile: "\(policies)/engineering.yaml", encoding: .utf8)
        try grantSSH(text).write(toFile: "\(policies)/engineering.yaml", atomically: true, encoding: .utf8)
        let r = try ztpc(["diff", "git:HEAD", "policies/"], in: repo)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("HEAD:policies/ -> policies/: 1 grant, 0 revokes"), r.out)
        let same = try ztpc(["diff", "git:HEAD:policies", "git:HEAD:policies"], in: repo)
        XCTAssertTrue(same.out.contains("no change in any decision"), same.out + same.err)
        let bad = try ztpc(["diff", "git:no-such-rev", "policies"], in: repo)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.err.contains("git cat-file"), bad.err)
    }

    func testWhoCanListsEveryIdentityThatMayReachADestination() throws {
        let r = try ztpc(["who-can", ZTPCCommandTests.policies, "10.20.1.5:22/tcp"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("group:oncall (carol-laptop, dave-desktop, erin-laptop)"), r.out)
        XCTAssertTrue(r.out.contains("via   engineering/4"), r.out)
        XCTAssertFalse(r.out.contains("bob-phone"), "bob is denied ci:22: \(r.out)")
        let db = try ztpc(["who-can", ZTPCCommandTests.policies, "prod-db", "--at", "2026-11-22T09:00:00Z"])
        XCTAssertFalse(db.out.contains("office-hours-ops"), "closed on Sunday: \(db.out)")
        XCTAssertTrue(db.out.contains("engineering/1 (if tag:managed)"), db.out)
        XCTAssertEqual(try ztpc(["who-can", ZTPCCommandTests.policies, "no-such-host"]).status, 2)
    }

    func testCanListsWhatOneIdentityMayReach() throws {
        let r = try ztpc(["can", ZTPCCommandTests.policies, "bob-phone"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("10.20.1.5/32 (ci): tcp 443,8443"), r.out)
        XCTAssertTrue(r.out.contains("10.0.0.53/32 (dns): tcp 53; udp 53"), r.out)
        XCTAssertFalse(r.out.contains("tcp 22"), r.out)
        let unknown = try ztpc(["can", ZTPCCommandTests.policies, "bob-phon"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.err.contains("did you mean 'bob-phone'?"), unknown.err)
    }

    func testFmtCheckPrintsADiffAndFmtWritesTheCanonicalLayout() throws {
        let dir = temporary()
        let file = "\(dir)/p.yaml"
        try "rules:\n  - allow   * ->  10.0.0.53:53   # dns\npolicy: p\n".write(toFile: file, atomically: true, encoding: .utf8)
        let check = try ztpc(["fmt", "--check", dir])
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.out.contains("-  - allow   * ->  10.0.0.53:53   # dns\n"), check.out)
        XCTAssertTrue(check.out.contains("+rules:\n+  - allow * -> 10.0.0.53:53      # dns\n"), check.out)
        XCTAssertTrue(check.err.contains("1 file is not formatted"), check.err)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "rules:\n  - allow   * ->  10.0.0.53:53   # dns\npolicy: p\n", "--check writes nothing")
        let write = try ztpc(["fmt", file])
        XCTAssertEqual(write.status, 0, write.err)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "policy: p\nrules:\n  - allow * -> 10.0.0.53:53      # dns\n", "the comment keeps its column")
        XCTAssertEqual(try ztpc(["fmt", "--check", dir]).status, 0)
        XCTAssertEqual(try ztpc(["fmt", "--check", ZTPCCommandTests.policies]).status, 0, "the example policies are formatted")
        try "policy: p\nrules: [unclosed\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try ztpc(["fmt", "--check", file])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("not readable YAML"), bad.err)
    }

    func testCompletionScriptsAndTheManualDumpGoToStandardOutput() throws {
        let bash = try ztpc(["--generate-completion-script", "bash"])
        XCTAssertEqual(bash.status, 0, bash.err)
        XCTAssertTrue(bash.out.contains("who-can") && bash.out.contains("fmt"), bash.out)
        let dump = try ztpc(["--experimental-dump-help"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as? [String: Any], dump.out + dump.err)
        let subcommands = ((doc["command"] as? [String: Any])?["subcommands"] as? [[String: Any]])?.compactMap { $0["commandName"] as? String }
        XCTAssertEqual(Set(subcommands ?? []).isSuperset(of: ["diff", "who-can", "can", "fmt", "schema"]), true, "\(subcommands ?? [])")
        let help = try ztpc(["diff", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.contains("--fail-on"), help.out)
        XCTAssertEqual(try ztpc(["diff", "--format", "xml", "a", "b"]).status, 2)
    }
}
