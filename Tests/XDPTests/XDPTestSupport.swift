import Foundation
import NetTestSupport
import XCTest
@testable import XDP

/// Builds `bpf/ztp_xdp.o` once per test run with `bpf/build.sh` (into a temporary directory,
/// so the tests always judge the program of this checkout) and loads it, or skips loudly.
enum XDPTestSupport {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static let buildDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-xdp-\(getpid())")

    private static let built: Result<String, any Error> = Result {
        guard which("clang") != nil else {
            throw XCTSkip("XDP TEST SKIPPED: clang is not installed (apt-get install clang llvm libbpf-dev)")
        }
        let directory = buildDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: XDPTestSupport.buildDirectory) }
        let output = directory.appendingPathComponent(ObjectLocation.fileName).path
        let (status, log) = try run("/bin/bash", [repositoryRoot.appendingPathComponent("bpf/build.sh").path, output])
        guard status == 0 else { throw BuildFailure(log: log) }
        return output
    }

    struct BuildFailure: Error, CustomStringConvertible {
        let log: String
        var description: String { "bpf/build.sh failed:\n\(log)" }
    }

    /// The freshly built object's path; skips when not root or without clang, fails when the
    /// program does not compile.
    static func objectPath() throws -> String {
        guard getuid() == 0 else {
            throw XCTSkip("XDP TEST SKIPPED: not running as root (loading BPF programs needs CAP_BPF and CAP_NET_ADMIN)")
        }
        return try built.get()
    }

    /// A loaded, unattached guard for the tunnel port of ``Frames/tunnelPort``.
    static func loadedGuard() throws -> XDPGuard {
        let path = try objectPath()
        let xdp: XDPGuard
        do {
            xdp = try XDPGuard(objectPath: path)
        } catch XDPError.loadFailed(_, let code, let log) where code == EPERM || code == ENOSYS {
            throw XCTSkip("XDP TEST SKIPPED: the kernel will not load BPF programs here (\(XDPError.message(code))) \(log)")
        }
        try xdp.setTunnelPort(Frames.tunnelPort)
        return xdp
    }

    /// The Debian multiarch triplet, whose include directory holds <asm/types.h>.
    static let multiarch: String = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(machine)-linux-gnu"
    }()

    static func which(_ tool: String) -> String? { Command.which(tool) }

    /// Runs a command to completion; returns its status and its output and error together.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let r = try Command.run(executable, arguments, timeout: 120)
        return (r.status, r.output)
    }
}
