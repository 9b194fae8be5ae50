import Enforcer
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PolicyLang

/// Writes decision records as JSON lines: every deny, a sample of allows (the enforcer samples).
///
/// One line per decision, for example:
/// `{"time":"2026-11-23T09:00:00.123Z","verdict":"deny","reason":"denied","identity":"bob-phone",
///   "peer":"vdi2…=","proto":"tcp","src":"10.99.0.3","dst":"10.20.1.5","sport":40000,"dport":22,
///   "rules":["engineering/3"],"generation":2}`
public final class DecisionLog: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    /// Opens `path` for appending (created 0640), or standard error for "-".
    public init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardError
        } else {
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
            }
            guard let h = FileHandle(forWritingAtPath: path) else {
                throw EdgeConfig.ConfigError(description: "cannot open decision log \(path)")
            }
            h.seekToEndOfFile()
            handle = h
        }
    }

    private var broken = false
    private var failures = 0

    /// Lines that could not be written (a pipe whose reader went away, a full disk). Once a
    /// write fails with EPIPE the log stops writing: nobody reads it any more.
    public var writeFailures: Int {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }

    public func write(_ r: Enforcer.DecisionRecord) {
        let line = Self.format(r) + "\n"
        lock.lock()
        defer { lock.unlock() }
        guard !broken else {
            failures += 1
            return
        }
        // write(2) rather than FileHandle.write(_:), which traps on EPIPE and would take the
        // daemon down with the reader of a decision-log pipe.
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                failures += 1
                if errno == EPIPE { broken = true }
                return
            }
            bytes = bytes.dropFirst(n)
        }
    }

    /// The JSON line for a record (keys in a fixed order, so that lines diff and grep well).
    public static func format(_ r: Enforcer.DecisionRecord) -> String {
        let s = r.summary
        let family = s.family
        func address(_ v: UInt128) -> String {
            IPAddress(family: family, value: v).description
        }
        let proto: String
        switch s.ipProtocol {
        case 6: proto = "tcp"
        case 17: proto = "udp"
        case 1, 58: proto = "icmp"
        default: proto = "\(s.ipProtocol)"
        }
        let reason = r.limited?.rawValue ?? r.decision.reason.rawValue
        let verdict = r.limited == nil ? r.decision.verdict.rawValue : "deny"
        var fields: [(String, String)] = [
            ("time", quote(iso(r.time))), ("verdict", quote(verdict)), ("reason", quote(reason)),
            ("identity", r.identity.map(quote) ?? "null"), ("peer", quote(r.peer.base64)), ("proto", quote(proto)),
            ("src", quote(address(s.source))), ("dst", quote(address(s.destination))),
        ]
        if s.ipProtocol == 6 || s.ipProtocol == 17 {
            fields.append(("sport", "\(s.sourcePort)"))
            fields.append(("dport", "\(s.destinationPort)"))
        }
        fields.append(("rules", "[" + r.ruleIDs.map(quote).joined(separator: ",") + "]"))
        fields.append(("generation", "\(r.generation)"))
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    static func iso(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
