import XCTest
import Foundation
@testable import Tunnel

/// Cross-checks key handling against Debian's wireguard-tools, when installed.
final class WireGuardToolsTests: XCTestCase {
    private func wgPath() -> String? {
        ["/usr/bin/wg", "/usr/local/bin/wg", "/opt/homebrew/bin/wg"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func run(_ tool: String, _ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testPublicKeyDerivationAgreesWithWgPubkey() throws {
        guard let wg = wgPath() else {
            throw XCTSkip("wireguard-tools (`wg`) is not installed: skipping the wg genkey | wg pubkey cross-check")
        }
        for _ in 0..<5 {
            let privateText = try run(wg, ["genkey"])
            let publicText = try run(wg, ["pubkey"], input: privateText + "\n")
            let key = try PrivateKey(base64: privateText)
            XCTAssertEqual(key.publicKey.base64, publicText)
            XCTAssertEqual(key.base64, privateText)
        }
        // And the other way round: our generated keys are accepted by wg.
        let ours = PrivateKey()
        XCTAssertEqual(try run(wg, ["pubkey"], input: ours.base64 + "\n"), ours.publicKey.base64)
        let psk = try run(wg, ["genpsk"])
        XCTAssertEqual(try SymmetricKey(base64: psk).base64, psk)
    }
}
