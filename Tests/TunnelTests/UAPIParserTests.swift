import Foundation
import XCTest
@testable import Tunnel

/// The `set=1` grammar: every key, the ordering rules, the errors and their errnos.
final class UAPIParserTests: XCTestCase {
    let privateKey = PrivateKey()
    let peerA = PrivateKey().publicKey, peerB = PrivateKey().publicKey
    let psk = SymmetricKey()

    private func parse(_ lines: String...) throws(UAPIError) -> InterfaceChange {
        try UAPISetParser.parse(lines.joined(separator: "\n") + "\n\n")
    }

    private func refusal(_ lines: String..., file: StaticString = #filePath, line: UInt = #line) -> UAPIError? {
        do {
            _ = try UAPISetParser.parse(lines.joined(separator: "\n") + "\n\n")
            XCTFail("accepted: \(lines)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testEveryKeyOfTheProtocolIsParsed() throws {
        let change = try parse(
            "private_key=\(uapiHex(privateKey))", "listen_port=51820", "fwmark=7", "replace_peers=true",
            "public_key=\(uapiHex(peerA))", "update_only=true", "preshared_key=\(uapiHex(psk))",
            "endpoint=[fd00::1]:51821", "persistent_keepalive_interval=25", "replace_allowed_ips=true",
            "allowed_ip=10.0.0.0/24", "allowed_ip=fd00::2/128", "allowed_ip=-10.9.0.0/16", "protocol_version=1",
            "public_key=\(uapiHex(peerB))", "endpoint=192.0.2.1:4444", "remove=true")
        let expected = InterfaceChange(
            privateKey: privateKey, listenPort: 51820, fwmark: 7, replacePeers: true,
            peers: [
                PeerChange(publicKey: peerA, updateOnly: true, presharedKey: psk,
                           endpoint: try Endpoint(parsing: "[fd00::1]:51821"), persistentKeepaliveInterval: 25,
                           replaceAllowedIPs: true, allowedIPs: [IPPrefix("10.0.0.0/24")!, IPPrefix("fd00::2/128")!],
                           removedAllowedIPs: [IPPrefix("10.9.0.0/16")!], protocolVersion: 1),
                PeerChange(publicKey: peerB, remove: true),
            ])
        XCTAssertEqual(change, expected)
    }

    func testUppercaseHexAndAZeroPresharedKeyAreAccepted() throws {
        let change = try parse("public_key=\(uapiHex(peerA).uppercased())", "preshared_key=" + String(repeating: "0", count: 64))
        XCTAssertEqual(change.peers.first?.publicKey, peerA)
        XCTAssertEqual(change.peers.first?.presharedKey, .zero)
    }

    func testAnInterfaceKeyAfterAPeerIsRefusedWithEINVAL() {
        for key in ["private_key=\(uapiHex(privateKey))", "listen_port=1", "fwmark=0", "replace_peers=true"] {
            let error = refusal("public_key=\(uapiHex(peerA))", key)
            let name = String(key.prefix { $0 != "=" })
            XCTAssertEqual(error, UAPIError(.interfaceKeyAfterPeer(name), line: 2))
            XCTAssertEqual(error?.errno, EINVAL)
            XCTAssertEqual(error?.wireErrno, -EINVAL)
        }
    }

    func testAPeerKeyBeforeAnyPublicKeyIsRefusedWithEINVAL() {
        for key in ["endpoint=1.2.3.4:5", "allowed_ip=10.0.0.1/32", "remove=true", "update_only=true",
                    "preshared_key=\(uapiHex(psk))", "persistent_keepalive_interval=1", "replace_allowed_ips=true",
                    "protocol_version=1"] {
            let error = refusal("listen_port=1", key)
            XCTAssertEqual(error, UAPIError(.peerKeyBeforePublicKey(String(key.prefix { $0 != "=" })), line: 2))
            XCTAssertEqual(error?.errno, EINVAL)
        }
    }

    func testUnknownKeysAreRefusedWherever() {
        XCTAssertEqual(refusal("mtu=1420"), UAPIError(.unknownKey("mtu"), line: 1))
        XCTAssertEqual(refusal("public_key=\(uapiHex(peerA))", "last_handshake_time_sec=0"),
                       UAPIError(.unknownKey("last_handshake_time_sec"), line: 2))
        XCTAssertEqual(refusal("Public_Key=\(uapiHex(peerA))")?.errno, EINVAL, "keys are case-sensitive")
    }

    func testALineWithoutEqualsIsAProtocolError() {
        let error = refusal("public_key=\(uapiHex(peerA))", "allowed_ip 10.0.0.1/32")
        XCTAssertEqual(error, UAPIError(.malformedLine, line: 2))
        XCTAssertEqual(error?.errno, EPROTO)
    }

    func testBadValuesAreRefusedWithEINVAL() {
        let peer = "public_key=\(uapiHex(peerA))"
        let interfaceCases = [
            "private_key=" + String(uapiHex(privateKey).dropLast(2)), "private_key=zz" + String(uapiHex(privateKey).dropFirst(2)),
            "listen_port=65536", "listen_port=-1", "listen_port=+1", "listen_port= 1", "listen_port=",
            "fwmark=4294967296", "fwmark=0x10", "replace_peers=false", "public_key=1234", "public_key=",
        ]
        for text in interfaceCases {
            let error = refusal(text)
            XCTAssertEqual(error?.reason, .invalidValue(key: String(text.prefix { $0 != "=" })), text)
            XCTAssertEqual(error?.errno, EINVAL, text)
            XCTAssertEqual(error?.line, 1, text)
        }
        let peerCases = [
            "update_only=yes", "remove=false", "preshared_key=" + String(repeating: "a", count: 63),
            "endpoint=nonsense", "endpoint=1.2.3.4", "endpoint=", "endpoint=host.example:51820",
            "persistent_keepalive_interval=65536", "persistent_keepalive_interval=off", "replace_allowed_ips=1",
            "allowed_ip=10.0.0.1", "allowed_ip=10.0.0.0/33", "allowed_ip=fd00::/129", "allowed_ip=-", "allowed_ip=",
            "protocol_version=2", "protocol_version=",
        ]
        for text in peerCases {
            let error = refusal(peer, text)
            XCTAssertEqual(error?.reason, .invalidValue(key: String(text.prefix { $0 != "=" })), text)
            XCTAssertEqual(error?.line, 2, text)
        }
    }

    func testRefusalsNeverQuoteAValue() {
        let secret = uapiHex(psk)
        let bad = refusal("public_key=\(uapiHex(peerA))", "preshared_key=\(secret.dropLast())")
        XCTAssertEqual(bad?.description, "line 2: invalid value for \"preshared_key\"")
        // What precedes '=' on a garbled line might be a key: it is not quoted either.
        let garbled = refusal("\(secret)=1")
        XCTAssertEqual(garbled?.description, "line 1: unknown key (unprintable key)")
        XCTAssertFalse(refusal(secret)!.description.contains(secret.prefix(8)))
    }

    func testRemoveDiscardsThePeersOtherLinesButStillChecksThem() throws {
        let change = try parse("public_key=\(uapiHex(peerA))", "endpoint=1.2.3.4:5", "remove=true", "allowed_ip=10.0.0.1/32",
                               "public_key=\(uapiHex(peerB))", "allowed_ip=10.0.0.2/32")
        XCTAssertEqual(change.peers, [PeerChange(publicKey: peerA, remove: true),
                                      PeerChange(publicKey: peerB, allowedIPs: [IPPrefix("10.0.0.2/32")!])])
        XCTAssertNotNil(refusal("public_key=\(uapiHex(peerA))", "remove=true", "allowed_ip=garbage"))
    }

    func testReplaceAllowedIPsDiscardsTheAllowedIPLinesBeforeIt() throws {
        let change = try parse("public_key=\(uapiHex(peerA))", "allowed_ip=10.0.0.1/32", "allowed_ip=-10.0.0.9/32",
                               "replace_allowed_ips=true", "allowed_ip=10.0.0.2/32")
        XCTAssertEqual(change.peers, [PeerChange(publicKey: peerA, replaceAllowedIPs: true, allowedIPs: [IPPrefix("10.0.0.2/32")!])])
    }

    func testOppositeAllowedIPLinesForOnePrefixCancelAndDuplicatesCollapse() throws {
        let change = try parse("public_key=\(uapiHex(peerA))", "allowed_ip=10.0.0.1/32", "allowed_ip=10.0.0.2/32",
                               "allowed_ip=-10.0.0.1/32", "allowed_ip=-10.0.0.3/32", "allowed_ip=10.0.0.3/32",
                               "allowed_ip=10.0.0.2/32")
        XCTAssertEqual(change.peers.first?.allowedIPs, [IPPrefix("10.0.0.2/32")!, IPPrefix("10.0.0.3/32")!])
        XCTAssertEqual(change.peers.first?.removedAllowedIPs, [IPPrefix("10.0.0.1/32")!])
    }

    func testTheSamePeerTwiceGivesTwoChangesInRequestOrder() throws {
        let change = try parse("public_key=\(uapiHex(peerA))", "remove=true", "public_key=\(uapiHex(peerA))",
                               "allowed_ip=10.0.0.1/32")
        XCTAssertEqual(change.peers, [PeerChange(publicKey: peerA, remove: true),
                                      PeerChange(publicKey: peerA, allowedIPs: [IPPrefix("10.0.0.1/32")!])])
    }

    func testAnEmptyRequestChangesNothing() throws {
        XCTAssertEqual(try UAPISetParser.parse("\n"), InterfaceChange())
    }

    func testAPrintedRequestParsesBackToTheSameChange() throws {
        let change = try parse(
            "private_key=\(uapiHex(privateKey))", "listen_port=0", "fwmark=0", "replace_peers=true",
            "public_key=\(uapiHex(peerA))", "update_only=true", "preshared_key=\(uapiHex(psk))", "endpoint=10.1.2.3:9",
            "persistent_keepalive_interval=0", "replace_allowed_ips=true", "allowed_ip=-10.0.0.0/8",
            "allowed_ip=0.0.0.0/0", "allowed_ip=::/0", "protocol_version=1",
            "public_key=\(uapiHex(peerB))", "remove=true", "public_key=\(uapiHex(peerB))")
        let text = UAPIPrinter.setRequest(change)
        XCTAssertEqual(try UAPISetParser.parse(text + "\n"), change)
        XCTAssertEqual(UAPIPrinter.setRequest(try UAPISetParser.parse(text + "\n")), text)
    }
}
