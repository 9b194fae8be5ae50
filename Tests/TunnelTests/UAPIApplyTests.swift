import Foundation
import XCTest
@testable import Tunnel

/// `set=1` requests applied to a real (offline) ``TunnelRuntime``: the semantics of each
/// peer key, and that a refused request leaves the runtime as it was.
final class UAPIApplyTests: XCTestCase {
    let a = PrivateKey().publicKey, b = PrivateKey().publicKey, c = PrivateKey().publicKey

    private func apply(_ runtime: UAPITestRuntime, _ lines: String...) throws {
        try runtime.runtime.apply(UAPISetParser.parse(lines.joined(separator: "\n") + "\n\n"))
    }

    private func prefixes(_ texts: String...) -> [IPPrefix] { texts.map { IPPrefix($0)! } }

    private func boundPort(_ descriptor: Int32) -> UInt16? {
        var address = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return result == 0 ? UInt16(bigEndian: address.sin6_port) : nil
    }

    private func socketMark(_ descriptor: Int32) -> UInt32 {
        var mark: UInt32 = 0
        var length = socklen_t(MemoryLayout<UInt32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_MARK, &mark, &length)
        return mark
    }

    func testANewPeerGetsItsFieldsAndTheDefaultKeepaliveUnlessItSetsOne() throws {
        let side = try UAPITestRuntime(defaultPersistentKeepalive: 25)
        try apply(side, "public_key=\(uapiHex(a))", "endpoint=192.0.2.1:51820", "allowed_ip=10.0.0.1/32",
                  "public_key=\(uapiHex(b))", "persistent_keepalive_interval=0")
        let peers = side.peers
        XCTAssertEqual(peers[a]?.endpoint, try Endpoint(parsing: "192.0.2.1:51820"))
        XCTAssertEqual(peers[a]?.allowedIPs, prefixes("10.0.0.1/32"))
        XCTAssertEqual(peers[a]?.persistentKeepaliveInterval, 25)
        XCTAssertEqual(peers[b]?.persistentKeepaliveInterval, 0, "an explicit 0 turns the default off")
        XCTAssertTrue(side.runtime.hasPeer(a))
        XCTAssertFalse(side.runtime.hasPeer(c))
    }

    func testUpdateOnlyChangesAPresentPeerAndNeverCreatesOne() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32"))])
        try apply(side, "public_key=\(uapiHex(a))", "update_only=true", "endpoint=192.0.2.1:1",
                  "public_key=\(uapiHex(b))", "update_only=true", "endpoint=192.0.2.2:2", "allowed_ip=10.0.0.2/32")
        XCTAssertEqual(side.peers[a]?.endpoint, try Endpoint(parsing: "192.0.2.1:1"))
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("10.0.0.1/32"))
        XCTAssertFalse(side.runtime.hasPeer(b))
    }

    func testRemoveDropsThePeerAndItsRoutes() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.0/24")),
                                               .init(publicKey: b, allowedIPs: prefixes("10.0.1.0/24"))])
        try apply(side, "public_key=\(uapiHex(a))", "remove=true", "public_key=\(uapiHex(c))", "remove=true")
        XCTAssertEqual(Set(side.peers.keys), [b])
        XCTAssertEqual(side.runtime.status().flatMap(\.allowedIPs), prefixes("10.0.1.0/24"))
    }

    func testReplacePeersLeavesExactlyTheRequestsPeers() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32")),
                                               .init(publicKey: b, allowedIPs: prefixes("10.0.0.2/32"))])
        try apply(side, "replace_peers=true", "public_key=\(uapiHex(b))", "allowed_ip=10.0.0.3/32",
                  "public_key=\(uapiHex(c))", "allowed_ip=10.0.0.1/32")
        let peers = side.peers
        XCTAssertEqual(Set(peers.keys), [b, c])
        XCTAssertEqual(peers[b]?.allowedIPs, prefixes("10.0.0.3/32"), "b was re-created, its old route gone")
        XCTAssertEqual(peers[c]?.allowedIPs, prefixes("10.0.0.1/32"))
    }

    func testAllowedIPsAreAddedReplacedOrRemovedOneByOne() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32", "10.0.0.2/32"))])
        try apply(side, "public_key=\(uapiHex(a))", "allowed_ip=10.0.0.3/32", "allowed_ip=-10.0.0.1/32")
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("10.0.0.2/32", "10.0.0.3/32"))
        try apply(side, "public_key=\(uapiHex(a))", "replace_allowed_ips=true", "allowed_ip=fd00::1/128")
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("fd00::1/128"))
    }

    func testAPrefixMovesToThePeerThatClaimsItLast() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.0/24", "10.0.1.0/24"))])
        try apply(side, "public_key=\(uapiHex(b))", "allowed_ip=10.0.0.0/24")
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("10.0.1.0/24"))
        XCTAssertEqual(side.peers[b]?.allowedIPs, prefixes("10.0.0.0/24"))
        // A removal line only removes the peer's own prefix, not another's.
        try apply(side, "public_key=\(uapiHex(a))", "allowed_ip=-10.0.0.0/24")
        XCTAssertEqual(side.peers[b]?.allowedIPs, prefixes("10.0.0.0/24"))
    }

    func testANewPresharedKeyKeepsThePeersEndpointKeepaliveAndRoutes() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32"),
                                                     endpoint: try Endpoint(parsing: "192.0.2.1:1"), persistentKeepalive: 7)])
        let psk = SymmetricKey()
        try apply(side, "public_key=\(uapiHex(a))", "preshared_key=\(uapiHex(psk))")
        XCTAssertEqual(side.runtime.presharedKey(of: a), psk)
        let peer = try XCTUnwrap(side.peers[a])
        XCTAssertEqual(peer.presharedKey, psk)
        XCTAssertEqual(peer.endpoint, try Endpoint(parsing: "192.0.2.1:1"))
        XCTAssertEqual(peer.persistentKeepaliveInterval, 7)
        XCTAssertEqual(peer.allowedIPs, prefixes("10.0.0.1/32"))
        try apply(side, "public_key=\(uapiHex(a))", "preshared_key=" + String(repeating: "0", count: 64))
        XCTAssertNil(side.runtime.presharedKey(of: a), "all zeros removes it")
    }

    func testAPeerWithOurOwnPublicKeyIsIgnored() throws {
        let side = try UAPITestRuntime()
        try apply(side, "public_key=\(uapiHex(side.key.publicKey))", "allowed_ip=10.0.0.1/32")
        XCTAssertTrue(side.peers.isEmpty)
    }

    func testTheCurrentInterfaceValuesChangeNothingAndATakenPortRefusesTheWholeRequest() throws {
        let side = try UAPITestRuntime()
        let port = side.runtime.listenPort
        try apply(side, "private_key=\(uapiHex(side.key))", "listen_port=\(port)", "fwmark=0")
        XCTAssertEqual(side.runtime.publicKey, side.key.publicKey)
        XCTAssertEqual(side.runtime.listenPort, port)
        let taken = try UDPSocket(port: 0)
        defer { taken.close() }
        XCTAssertThrowsError(try apply(side, "listen_port=\(taken.port)", "public_key=\(uapiHex(a))", "allowed_ip=10.0.0.1/32")) {
            XCTAssertEqual(($0 as? UAPIError)?.reason, .socketSetting(key: "listen_port", errno: EADDRINUSE))
            XCTAssertEqual(($0 as? UAPIError)?.wireErrno, -EADDRINUSE)
        }
        XCTAssertFalse(side.runtime.hasPeer(a), "the peer after a refused listen_port was applied")
        XCTAssertEqual(side.runtime.listenPort, port, "the old socket must stay bound")
        XCTAssertEqual(boundPort(side.runtime.socket.fileDescriptor), port)
    }

    func testAListenPortChangeRebindsTheSocketInPlaceAndGetReportsIt() throws {
        let side = try UAPITestRuntime()
        let free = try UDPSocket(port: 0)
        let wanted = free.port
        free.close()
        let descriptor = side.runtime.socket.fileDescriptor
        try apply(side, "listen_port=\(wanted)")
        XCTAssertEqual(side.runtime.listenPort, wanted)
        XCTAssertEqual(side.runtime.uapiSnapshot().listenPort, wanted)
        XCTAssertEqual(boundPort(descriptor), wanted, "the same descriptor is bound to the new port")
        XCTAssertEqual(fcntl(descriptor, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "the rebound descriptor must stay close-on-exec")
    }

    func testAFwmarkIsSetOnTheSocketAndZeroClearsIt() throws {
        let side = try UAPITestRuntime()
        do {
            try apply(side, "fwmark=42")
        } catch let error as UAPIError where error.reason == .socketSetting(key: "fwmark", errno: EPERM) {
            throw XCTSkip("SKIPPED: setting SO_MARK needs CAP_NET_ADMIN")
        }
        XCTAssertEqual(socketMark(side.runtime.socket.fileDescriptor), 42)
        XCTAssertEqual(side.runtime.uapiSnapshot().fwmark, 42)
        XCTAssertTrue(UAPIPrinter.getResponse(side.runtime.uapiSnapshot()).contains("fwmark=42\n"))
        try apply(side, "fwmark=0")
        XCTAssertEqual(socketMark(side.runtime.socket.fileDescriptor), 0)
        XCTAssertFalse(UAPIPrinter.getResponse(side.runtime.uapiSnapshot()).contains("fwmark="))
    }

    func testWithoutAPrivateKeyGetPrintsNoneUntilOneIsSetAndZerosRemoveIt() throws {
        let side = try UAPITestRuntime(privateKey: nil, peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32"))])
        XCTAssertNil(side.runtime.publicKey)
        XCTAssertFalse(UAPIPrinter.getResponse(side.runtime.uapiSnapshot()).contains("private_key="))
        let key = PrivateKey()
        try apply(side, "private_key=\(uapiHex(key))")
        XCTAssertEqual(side.runtime.publicKey, key.publicKey)
        XCTAssertTrue(UAPIPrinter.getResponse(side.runtime.uapiSnapshot()).contains("private_key=\(uapiHex(key))\n"))
        XCTAssertTrue(side.runtime.hasPeer(a), "peers stay across a key change")
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("10.0.0.1/32"))
        try apply(side, "private_key=\(String(repeating: "0", count: 64))")
        XCTAssertNil(side.runtime.publicKey)
        XCTAssertNil(side.runtime.uapiSnapshot().privateKey)
    }

    func testANewPrivateKeyEqualToAPeersRemovesThatPeerAsWireguardGoDoes() throws {
        let peerKey = PrivateKey()
        let side = try UAPITestRuntime(peers: [.init(publicKey: peerKey.publicKey, allowedIPs: prefixes("10.0.0.1/32")),
                                               .init(publicKey: a, allowedIPs: prefixes("10.0.0.2/32"))])
        try apply(side, "private_key=\(uapiHex(peerKey))")
        XCTAssertEqual(Set(side.peers.keys), [a])
    }

    func testALowOrderPublicKeyRefusesTheWholeRequest() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: prefixes("10.0.0.1/32"))])
        let lowOrder = try PublicKey(rawBytes: [UInt8](repeating: 0, count: 32))
        XCTAssertThrowsError(try apply(side, "replace_peers=true", "public_key=\(uapiHex(b))", "allowed_ip=10.0.0.2/32",
                                       "public_key=\(uapiHex(lowOrder))", "allowed_ip=10.0.0.3/32")) {
            XCTAssertEqual(($0 as? UAPIError)?.reason, .unusablePublicKey(lowOrder))
        }
        XCTAssertEqual(Set(side.peers.keys), [a], "replace_peers and peer b must not have been applied")
        XCTAssertEqual(side.peers[a]?.allowedIPs, prefixes("10.0.0.1/32"))
    }

    /// More peers than one chunk of the batch apply (the lock is released between chunks):
    /// every peer and every route arrives, and a second request removing half of them
    /// leaves exactly the other half.
    func testARequestLargerThanOneChunkAppliesCompletely() throws {
        let side = try UAPITestRuntime()
        let count = 3 * TunnelRuntime.batchChunkSize + 17
        let keys = (0..<count).map { _ in PrivateKey().publicKey }
        var change = InterfaceChange()
        for (i, key) in keys.enumerated() {
            change.peers.append(PeerChange(publicKey: key, allowedIPs: [IPPrefix("10.\(i >> 8).\(i & 255).1/32")!]))
        }
        try side.runtime.apply(change)
        var peers = side.peers
        XCTAssertEqual(peers.count, count)
        for (i, key) in keys.enumerated() {
            XCTAssertEqual(peers[key]?.allowedIPs, [IPPrefix("10.\(i >> 8).\(i & 255).1/32")!])
        }
        try side.runtime.apply(InterfaceChange(peers: keys.enumerated().filter { $0.offset % 2 == 0 }
            .map { PeerChange(publicKey: $0.element, remove: true) }))
        peers = side.peers
        XCTAssertEqual(peers.count, count / 2)
        XCTAssertEqual(Set(peers.keys), Set(keys.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)))
        XCTAssertEqual(side.runtime.status().reduce(0) { $0 + $1.allowedIPs.count }, count / 2)
    }
}
