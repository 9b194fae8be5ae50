import Foundation
import NetTestSupport
import XCTest

/// ztpd driven by the real WireGuard tools as wireguard-go is: `wg-quick up` / `down` with
/// ztpd as the userspace implementation, `wg syncconf` changing the key and port of a live
/// interface, and a `wg showconf | wg setconf` round trip. The far end is wireguard-go in
/// another namespace of a ``NetworkLab``.
final class WgQuickTests: XCTestCase {
    private var lab: NetworkLab?
    /// Files the background ztpd leaves outside the lab (its default log and pid file).
    private var leftovers: [String] = []

    private static let ourUnderlay = "192.168.83.1", theirUnderlay = "192.168.83.2"
    private static let ourTunnel = "10.83.0.1", theirTunnel = "10.83.0.2"
    private static let theirPort = 51820

    override func tearDown() {
        lab?.tearDown()
        lab = nil
        for path in leftovers { try? FileManager.default.removeItem(atPath: path) }
        leftovers = []
        super.tearDown()
    }

    private struct Setup {
        let lab: NetworkLab
        let ztpd: String
        let tools: [String: String]
        let interface: String
        let theirInterface: String
        let theirKey: WireGuardKeyPair
    }

    /// A lab with namespaces `quick` (ours) and `wggo` joined by a veth pair, and wireguard-go
    /// up in `wggo` on its tunnel address, knowing no peer yet.
    private func makeSetup() throws -> Setup {
        let tools = try NetEnvironment.require(tools: ["ip", "wg", "wg-quick", "wireguard-go", "ping"], for: "WG-QUICK TEST")
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let lab = try NetworkLab(roles: ["quick", "wggo"])
        self.lab = lab
        try lab.link("quick", "\(Self.ourUnderlay)/24", "wggo", "\(Self.theirUnderlay)/24")
        // Unique per lab: /var/run/wireguard is shared by every namespace.
        let interface = "zq\(lab.suffix)", theirInterface = "zg\(lab.suffix)"
        leftovers = ["/var/log/ztpd-\(interface).log", "/var/run/ztp/\(interface).pid"]

        let theirKey = try WireGuardKeyPair.generate()
        try lab.spawn("wggo", [tools["wireguard-go"]!, theirInterface], log: "wireguard-go.log",
                      environment: ["WG_PROCESS_FOREGROUND": "1"])
        XCTAssertTrue(eventually(10) { FileManager.default.fileExists(atPath: "/var/run/wireguard/\(theirInterface).sock") },
                      "wireguard-go did not start: \(lab.log("wireguard-go.log"))")
        let keyFile = try lab.write("theirs.key", theirKey.privateKey + "\n")
        try check(lab.exec("wggo", ["wg", "set", theirInterface, "private-key", keyFile, "listen-port", "\(Self.theirPort)"]))
        try lab.ip(["-n", lab.namespace("wggo"), "addr", "add", "\(Self.theirTunnel)/24", "dev", theirInterface])
        try lab.ip(["-n", lab.namespace("wggo"), "link", "set", theirInterface, "up"])
        return Setup(lab: lab, ztpd: ztpd, tools: tools, interface: interface, theirInterface: theirInterface, theirKey: theirKey)
    }

    /// Lets wireguard-go accept `publicKey` (and forget `previous`, when given).
    private func allow(_ setup: Setup, _ publicKey: String, insteadOf previous: String? = nil) throws {
        var command = ["wg", "set", setup.theirInterface, "peer", publicKey, "allowed-ips", "\(Self.ourTunnel)/32"]
        if let previous { command += ["peer", previous, "remove"] }
        try check(setup.lab.exec("wggo", command))
    }

    /// Throws, with ztpd's log, unless `result` succeeded.
    private func check(_ result: Command.Result, _ what: String = "command") throws {
        guard result.succeeded else { throw NetLabError("\(what) failed: \(result)\n\(ztpdLog())") }
    }

    /// The background ztpd's log (its default place: wg-quick passes no options).
    private func ztpdLog() -> String {
        leftovers.first.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "(no ztpd log)"
    }

    private func pid(of interface: String) throws -> pid_t {
        let text = try String(contentsOfFile: "/var/run/ztp/\(interface).pid", encoding: .utf8)
        return try XCTUnwrap(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), "pid file: \(text)")
    }

    private func ping(_ setup: Setup) throws -> Command.Result {
        try setup.lab.exec("quick", ["ping", "-c", "3", "-i", "0.2", "-W", "2", Self.theirTunnel], timeout: 20)
    }

    func testWgQuickUpAndDownWithZtpdAsTheUserspaceImplementation() throws {
        let setup = try makeSetup()
        let lab = setup.lab
        let ours = try WireGuardKeyPair.generate(), other = try WireGuardKeyPair.generate()
        try allow(setup, ours.publicKey)
        let config = try lab.write("\(setup.interface).conf", """
            [Interface]
            Address = \(Self.ourTunnel)/24
            ListenPort = 51821
            PrivateKey = \(ours.privateKey)

            [Peer]
            PublicKey = \(setup.theirKey.publicKey)
            Endpoint = \(Self.theirUnderlay):\(Self.theirPort)
            AllowedIPs = \(Self.theirTunnel)/32

            [Peer]
            PublicKey = \(other.publicKey)
            AllowedIPs = 10.83.1.0/24

            """)
        let environment = ["WG_QUICK_USERSPACE_IMPLEMENTATION": setup.ztpd]
        try check(lab.exec("quick", ["wg-quick", "up", config], timeout: 60, environment: environment), "wg-quick up")

        let show = try lab.exec("quick", ["wg", "show", setup.interface, "dump"])
        try check(show)
        let lines = show.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.first?[0], ours.privateKey, "\(show.output)")
        XCTAssertEqual(lines.first?[1], ours.publicKey)
        XCTAssertEqual(lines.first?[2], "51821")
        XCTAssertEqual(Set(lines.dropFirst().map { $0[0] }), [setup.theirKey.publicKey, other.publicKey])
        let routes = try lab.exec("quick", ["ip", "route", "show", "dev", setup.interface])
        XCTAssertTrue(routes.output.contains("10.83.1.0/24"), "wg-quick adds a route per allowed IP: \(routes.output)")

        let reply = try ping(setup)
        XCTAssertTrue(reply.succeeded, "no ping through ztpd to wireguard-go: \(reply)\n\(ztpdLog())")

        let pid = try pid(of: setup.interface)
        XCTAssertEqual(kill(pid, 0), 0, "ztpd is not running in the background")
        try check(lab.exec("quick", ["wg-quick", "down", config], timeout: 60, environment: environment), "wg-quick down")
        XCTAssertFalse(try lab.exec("quick", ["ip", "link", "show", setup.interface]).succeeded, "the interface is still there")
        XCTAssertTrue(eventually(5) { kill(pid, 0) != 0 }, "ztpd did not exit once its interface was deleted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/var/run/wireguard/\(setup.interface).sock"))
        let log = ztpdLog()
        XCTAssertTrue(log.contains("was deleted"), log)
        XCTAssertFalse(log.contains(ours.privateKey), "the private key must never be logged")
    }

    func testWgSyncconfChangesTheKeyAndPortOfALiveInterfaceAndShowconfRoundTrips() throws {
        let setup = try makeSetup()
        let lab = setup.lab
        // The bare form wg-quick uses: no key, returns once the UAPI socket answers.
        try check(lab.exec("quick", [setup.ztpd, setup.interface], timeout: 30), "ztpd \(setup.interface)")
        let bare = try lab.exec("quick", ["wg", "show", setup.interface, "private-key"])
        XCTAssertEqual(bare.output.trimmingCharacters(in: .whitespacesAndNewlines), "(none)", "\(bare)")
        try lab.ip(["-n", lab.namespace("quick"), "addr", "add", "\(Self.ourTunnel)/24", "dev", setup.interface])
        try lab.ip(["-n", lab.namespace("quick"), "link", "set", setup.interface, "up"])

        func config(_ keys: WireGuardKeyPair, port: Int) -> String {
            """
            [Interface]
            PrivateKey = \(keys.privateKey)
            ListenPort = \(port)

            [Peer]
            PublicKey = \(setup.theirKey.publicKey)
            Endpoint = \(Self.theirUnderlay):\(Self.theirPort)
            AllowedIPs = \(Self.theirTunnel)/32

            """
        }
        let first = try WireGuardKeyPair.generate(), second = try WireGuardKeyPair.generate()
        try allow(setup, first.publicKey)
        try check(lab.exec("quick", ["wg", "setconf", setup.interface, lab.write("first.conf", config(first, port: 51821))]))
        var reply = try ping(setup)
        XCTAssertTrue(reply.succeeded, "no ping under the first key: \(reply)\n\(ztpdLog())")

        try allow(setup, second.publicKey, insteadOf: first.publicKey)
        try check(lab.exec("quick", ["wg", "syncconf", setup.interface, lab.write("second.conf", config(second, port: 51822))]),
                  "wg syncconf")
        let keyNow = try lab.exec("quick", ["wg", "show", setup.interface, "public-key"])
        XCTAssertEqual(keyNow.output.trimmingCharacters(in: .whitespacesAndNewlines), second.publicKey)
        let portNow = try lab.exec("quick", ["wg", "show", setup.interface, "listen-port"])
        XCTAssertEqual(portNow.output.trimmingCharacters(in: .whitespacesAndNewlines), "51822")
        let oldSocket = try lab.exec("quick", ["ss", "-Hulpn", "sport = :51821"])
        let newSocket = try lab.exec("quick", ["ss", "-Hulpn", "sport = :51822"])
        XCTAssertTrue(oldSocket.succeeded && newSocket.succeeded, "ss: \(oldSocket) \(newSocket)")
        XCTAssertFalse(oldSocket.output.contains("ztpd"), "the old port is still bound: \(oldSocket.output)")
        XCTAssertTrue(newSocket.output.contains("ztpd"), "ztpd is not on the new port: \(newSocket.output)")
        reply = try ping(setup)
        XCTAssertTrue(reply.succeeded, "no ping under the new key and port: \(reply)\n\(ztpdLog())")
        let theirs = try lab.exec("wggo", ["wg", "show", setup.theirInterface, "endpoints"])
        XCTAssertTrue(theirs.output.contains("\(Self.ourUnderlay):51822"), "wireguard-go sees us on the new port: \(theirs.output)")

        let before = try lab.exec("quick", ["wg", "showconf", setup.interface])
        try check(before)
        try check(lab.exec("quick", ["wg", "setconf", setup.interface, "/dev/stdin"], input: before.output), "wg setconf of showconf")
        let after = try lab.exec("quick", ["wg", "showconf", setup.interface])
        XCTAssertEqual(after.output, before.output, "wg showconf | wg setconf changed the configuration")

        // wireguard-go's other way to end: its UAPI socket removed.
        let pid = try pid(of: setup.interface)
        try FileManager.default.removeItem(atPath: "/var/run/wireguard/\(setup.interface).sock")
        XCTAssertTrue(eventually(5) { kill(pid, 0) != 0 }, "ztpd did not exit once its UAPI socket was removed")
        XCTAssertTrue(ztpdLog().contains("was removed"), ztpdLog())
    }
}
