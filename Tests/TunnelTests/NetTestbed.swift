import Foundation
import NetTestSupport
import XCTest

/// The interop tests' two hosts, `left` and `right`, on NetTestSupport's ``NetworkLab`` (which
/// creates, reaps and deletes the namespaces): one veth pair, `vzL-SUFFIX` in left
/// (10.201.0.1/24, fd00:201::1/64) and `vzR-SUFFIX` in right (10.201.0.2/24, fd00:201::2/64),
/// and no other link, so nothing sent inside can reach the machine's uplink. The interop tests
/// address hosts by namespace name (`testbed.left`), which this type maps to the lab's roles.
final class NetTestbed {
    static let leftUnderlay = "10.201.0.1"
    static let rightUnderlay = "10.201.0.2"
    static let leftUnderlay6 = "fd00:201::1"
    static let rightUnderlay6 = "fd00:201::2"

    let lab: NetworkLab
    var suffix: String { lab.suffix }
    var left: String { lab.namespace("left") }
    var right: String { lab.namespace("right") }
    var directory: URL { lab.directory }

    /// Throws XCTSkip, loudly, when the machine cannot host the test.
    static func requireEnvironment(tools: [String]) throws -> [String: String] {
        try NetEnvironment.require(tools: tools, for: "INTEROP TEST")
    }

    static func which(_ tool: String) -> String? { Command.which(tool) }

    init() throws {
        lab = try NetworkLab(roles: ["left", "right"])
        do {
            try lab.link("left", ["\(Self.leftUnderlay)/24", "\(Self.leftUnderlay6)/64"],
                         "right", ["\(Self.rightUnderlay)/24", "\(Self.rightUnderlay6)/64"],
                         names: ("vzL-\(lab.suffix)", "vzR-\(lab.suffix)"))
        } catch {
            lab.tearDown()
            throw error
        }
    }

    /// Stops every process (SIGTERM, then SIGKILL after 3 s) and deletes the namespaces.
    func tearDown() { lab.tearDown() }

    /// Waits for `process` to exit; true if it did.
    @discardableResult
    static func wait(_ process: Process, seconds: Double) -> Bool { Command.wait(process, seconds: seconds) }

    func ip(_ arguments: [String]) throws { try lab.ip(arguments) }

    /// Runs a command inside namespace `ns` to completion (bounded by `timeout` seconds).
    func exec(_ ns: String, _ command: [String], timeout: Double = 30, environment: [String: String]? = nil) throws
        -> (status: Int32, output: String) {
        let r = try lab.exec(role(ns), command, timeout: timeout, environment: environment)
        return (r.status, r.output)
    }

    /// Starts a long-running command inside `ns`, output to a log file; stopped by tearDown.
    func spawn(_ ns: String, _ command: [String], log name: String, environment: [String: String]? = nil) throws -> Process {
        try lab.spawn(role(ns), command, log: name, environment: environment)
    }

    func log(_ name: String) -> String { lab.log(name) }

    /// Writes a file readable by root only.
    func writeSecret(_ name: String, _ text: String) throws -> String { try lab.write(name, text) }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool { NetTestSupport.eventually(seconds, condition) }

    static func run(_ tool: String, _ arguments: [String], timeout: Double = 30, input: String? = nil,
                    environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let r = try Command.run(tool, arguments, timeout: timeout, input: input, environment: environment)
        return (r.status, r.output)
    }

    private func role(_ ns: String) -> String {
        guard let role = lab.role(ofNamespace: ns) else { preconditionFailure("\(ns) is not a namespace of this testbed") }
        return role
    }

    /// One request on a WireGuard UAPI socket (the socket lives in the file system, not
    /// in a namespace); returns the whole reply. Bounded by a 5 s receive timeout.
    static func uapiRequest(_ path: String, _ request: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NetLabError("socket(AF_UNIX): errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw NetLabError("connect(\(path)): errno \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw NetLabError("send(\(path)): errno \(errno)")
        }
        // One connection may carry several requests (as with wireguard-go): the half-close
        // tells the server this was the last, so it answers and closes.
        shutdown(fd, Int32(SHUT_WR))
        var reply: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
