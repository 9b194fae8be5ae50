import Foundation
import XCTest

/// `ztpc schema` validates every policy file the project ships and refuses broken ones, checked
/// with Python's jsonschema (python3-jsonschema and python3-yaml, installed by scripts/setup).
final class SchemaCommandTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Validates each file against the schema; returns the files with errors, and the messages.
    private func validate(_ files: [String]) throws -> [String: String] {
        let schema = try ProcessRun.ztpc(["schema"])
        XCTAssertEqual(schema.status, 0, schema.err)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-schema-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try schema.out.write(toFile: "\(dir)/schema.json", atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            try:
                import jsonschema, yaml
            except ImportError as e:
                print("MISSING", e); sys.exit(3)
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft7Validator.check_schema(schema)
            v = jsonschema.Draft7Validator(schema)
            for path in sys.argv[2:]:
                errors = [e.message for e in v.iter_errors(yaml.safe_load(open(path)))]
                if errors: print(path + "\\t" + "; ".join(errors))
            """
        try script.write(toFile: "\(dir)/validate.py", atomically: true, encoding: .utf8)
        let r = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "\(dir)/validate.py", "\(dir)/schema.json"] + files)
        if r.status == 3 { throw XCTSkip("python3 jsonschema or yaml is missing (run scripts/setup): \(r.out)") }
        XCTAssertEqual(r.status, 0, r.err)
        var failed: [String: String] = [:]
        for line in r.out.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            failed[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return failed
    }

    func testEveryShippedPolicyFileIsValid() throws {
        var files: [String] = []
        for dir in ["policies", "Tests/Fixtures"] {
            let path = Self.root.appendingPathComponent(dir).path
            for name in try FileManager.default.contentsOfDirectory(atPath: path) where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                files.append("\(path)/\(name)")
            }
        }
        XCTAssertGreaterThanOrEqual(files.count, 5)
        XCTAssertEqual(try validate(files), [:])
    }

    func testBrokenFilesAreRefused() throws {
        let broken = [
            "misspelt-key.yaml": "policy: p\nrulez:\n  - allow * -> 10.0.0.1:22/tcp\n",
            "no-policy.yaml": "rules:\n  - allow * -> 10.0.0.1:22/tcp\n",
            "bad-duration.yaml": "policy: p\ndefaults: { cache_ttl: 5 days }\n",
            "keyless-identity.yaml": "policy: p\nidentities:\n  ann: { user: ann@example.com }\n",
            "verbless-rule.yaml": "policy: p\nrules:\n  - permit * -> 10.0.0.1:22/tcp\n",
            "empty-host.yaml": "policy: p\nhosts:\n  db: []\n",
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-broken-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text) in broken { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
        let failed = try validate(broken.keys.sorted().map { "\(dir)/\($0)" })
        XCTAssertEqual(Set(failed.keys), Set(broken.keys.map { "\(dir)/\($0)" }), "\(failed)")
        XCTAssertTrue(failed["\(dir)/misspelt-key.yaml"]?.contains("rulez") ?? false, "\(failed)")
    }
}
