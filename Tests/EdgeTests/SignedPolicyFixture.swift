import Foundation
import Enforcer
import Logging
import PolicyCompiler
import Tunnel
@testable import Edge

/// A policy directory with one identity (alice, 10.99.0.2) and bundles compiled from it, signed
/// by whichever key a test names: the inputs of the trusted-publisher and install tests.
struct SignedPolicyFixture {
    static let aliceKey = "2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4="
    let dir: String

    init() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-signed-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    /// The bundle of a policy allowing alice one TCP port on 10.10.0.0/24, signed by `keys`.
    func bundle(allowingPort port: UInt16, signedBy keys: [SigningKey]) throws -> [UInt8] {
        let text = """
            policy: edge
            identities:
              alice: { key: "\(Self.aliceKey)", tags: [managed], allowed_ips: 10.99.0.2/32 }
            rules:
              - allow tag:managed -> 10.10.0.0/24:\(port)/tcp

            """
        let source = "\(dir)/src-\(port)"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: "\(source)/edge.yaml", contents: Data(text.utf8))
        var bytes = PolicyBundle.encode(try PolicySource.directory(source).load())
        for key in keys { bytes = try SignedBundle.sign(bytes, with: key) }
        return bytes
    }

    /// Writes `bytes` as the bundle file the edge loads, and returns its path.
    @discardableResult
    func install(_ bytes: [UInt8]) -> String {
        let path = "\(dir)/policy.ztpb"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func service(trust: BundleTrust, source: PolicySource? = nil, cache: BundleCache? = nil) throws -> EdgeService {
        try EdgeService(
            source: source ?? .bundle("\(dir)/policy.ztpb"), cacheSize: 64, allowLogSample: 1, decisionLog: nil,
            logger: Logger(label: "test"), trust: trust, cache: cache)
    }

    /// Alice's verdict for a TCP packet to 10.10.0.7:`port` (she has a session).
    static func verdict(_ s: EdgeService, port: UInt16) throws -> TunnelRuntime.Verdict {
        let alice = try PublicKey(base64: aliceKey)
        s.hooks.sessionEstablished?(alice, nil)
        var p: [UInt8] = [0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 99, 0, 2, 10, 10, 0, 7]
        p += [0x9c, 0x40, UInt8(port >> 8), UInt8(port & 0xff)] + [UInt8](repeating: 0, count: 16)
        return p.withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }
    }
}
