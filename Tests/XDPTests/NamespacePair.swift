import Foundation
import NetTestSupport
import XCTest

/// The XDP tests' two hosts on NetTestSupport's ``NetworkLab`` (which creates, reaps and
/// deletes the namespaces): `client` and `edge`, joined by one veth pair and nothing else, so
/// no packet sent inside can reach the machine's uplink and no address exists outside them.
///
///     client  vxC-<id>  10.203.0.1/24  10.203.0.77/24  fd00:203::1/64  fd00:203::bad/64
///     edge    vxE-<id>  10.203.0.2/24                  fd00:203::2/64
///
/// The tests address hosts by namespace name (`pair.edge`), which this type maps to roles.
final class NamespacePair {
    static let client4 = "10.203.0.1"
    static let blocked4 = "10.203.0.77"
    static let edge4 = "10.203.0.2"
    static let client6 = "fd00:203::1"
    static let blocked6 = "fd00:203::bad"
    static let edge6 = "fd00:203::2"

    let lab: NetworkLab
    var client: String { lab.namespace("client") }
    var edge: String { lab.namespace("edge") }
    var clientLink: String { "vxC-\(lab.suffix)" }
    var edgeLink: String { "vxE-\(lab.suffix)" }
    let ip: String
    let python: String

    /// Throws XCTSkip, loudly, when the machine cannot host the test.
    init() throws {
        let tools = try NetEnvironment.require(tools: ["ip", "python3", "ping"], needsTUN: false, for: "XDP NAMESPACE TEST")
        ip = tools["ip"]!
        python = tools["python3"]!
        lab = try NetworkLab(roles: ["client", "edge"])
        do {
            try lab.link("client", ["\(Self.client4)/24", "\(Self.blocked4)/24", "\(Self.client6)/64", "\(Self.blocked6)/64"],
                         "edge", ["\(Self.edge4)/24", "\(Self.edge6)/64"],
                         names: ("vxC-\(lab.suffix)", "vxE-\(lab.suffix)"))
        } catch {
            lab.tearDown()
            throw error
        }
    }

    /// Deletes both namespaces (and with them the veth pair and any program attached to it).
    func tearDown() { lab.tearDown() }

    /// Runs `body` on this thread inside namespace `name`, then returns to the thread's own
    /// namespace, even when `body` throws.
    func inside<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try lab.inside(role(name), body)
    }

    /// Starts `arguments` inside namespace `name`, output into `output`; the caller waits for it.
    func start(in name: String, _ arguments: [String], output: Pipe) throws -> Process {
        try lab.spawn(role(name), arguments, log: "unused.log", output: output)
    }

    /// Runs `arguments` inside namespace `name` to completion; returns status and output.
    @discardableResult
    func exec(in name: String, _ arguments: [String]) throws -> (Int32, String) {
        let r = try lab.exec(role(name), arguments)
        return (r.status, r.output)
    }

    private func role(_ ns: String) -> String {
        guard let role = lab.role(ofNamespace: ns) else { preconditionFailure("\(ns) is not a namespace of this pair") }
        return role
    }
}
