import Foundation
import XCTest
@testable import XDP

/// The loader's failures: each says what is wrong in terms an operator can act on.
final class XDPLoaderTests: XCTestCase {
    func testAnObjectThatIsNotThereIsReportedWithItsPath() throws {
        _ = try XDPTestSupport.objectPath()
        XCTAssertThrowsError(try XDPGuard(objectPath: "/nonexistent/ztp_xdp.o", log: { _ in })) { error in
            XCTAssertEqual(error as? XDPError, .openFailed(path: "/nonexistent/ztp_xdp.o", errno: ENOENT))
        }
    }

    func testAProgramTheVerifierRefusesComesBackWithItsLog() throws {
        _ = try XDPTestSupport.objectPath()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-xdp-bad-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("bad.c")
        // Reads the packet with no bounds check: the verifier must refuse it.
        try """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("xdp") int ztp_xdp(struct xdp_md *ctx) { return *(unsigned char *)(long)ctx->data; }
        char LICENSE[] SEC("license") = "GPL";
        """.write(to: source, atomically: true, encoding: .utf8)
        let object = directory.appendingPathComponent("bad.o").path
        let multiarch = "/usr/include/\(XDPTestSupport.multiarch)"
        let (status, output) = try XDPTestSupport.run(XDPTestSupport.which("clang")!,
                                                      ["-O2", "-target", "bpf", "-I", multiarch, "-c", source.path, "-o", object])
        XCTAssertEqual(status, 0, output)

        XCTAssertThrowsError(try XDPGuard(objectPath: object, log: { _ in })) { error in
            guard case XDPError.loadFailed(let path, _, let log) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, object)
            XCTAssertTrue(log.contains("invalid access to packet"), log)
        }
    }

    func testAttachingToAnInterfaceThatIsNotThereSaysSo() throws {
        let xdp = try XDPTestSupport.loadedGuard()
        XCTAssertThrowsError(try xdp.attach(interface: "ztp-no-such0", port: 51820)) { error in
            XCTAssertEqual(error as? XDPError, .interfaceNotFound("ztp-no-such0"))
        }
        XCTAssertNil(xdp.attachment)
    }
}
