import Foundation
import XCTest

/// `--version`, `--help` and the help dump are answers: standard output, status 0; and ztpc and
/// ztpd report one version.
extension ZTPCCommandTests {
    func testVersionGoesToStandardOutputAndMatchesZtpd() throws {
        let r = try ztpc("--version")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
        XCTAssertTrue(r.out.range(of: #"^\d+\.\d+\.\d+ \(commit [0-9a-z-]+\)\n$"#, options: .regularExpression) != nil, r.out)
        let ztpd = ZTPCCommandTests.binary.deletingLastPathComponent().appendingPathComponent("ztpd")
        guard FileManager.default.isExecutableFile(atPath: ztpd.path) else {
            throw XCTSkip("ztpd is not built beside ztpc (swift build builds both)")
        }
        let p = Process()
        p.executableURL = ztpd
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(text, r.out, "ztpc and ztpd disagree on the version")
    }

    func testHelpDumpIsJSONOnStandardOutput() throws {
        let r = try ztpc("--experimental-dump-help")
        XCTAssertEqual(r.status, 0, r.err)
        let object = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        XCTAssertNotNil(object?["command"], r.out.prefix(500).description)
    }
}
