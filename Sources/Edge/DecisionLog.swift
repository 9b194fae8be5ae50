import Enforcer
import Foundation
import PolicyLang
import SystemSupport

/// Writes decision records as JSON lines: every deny, a sample of allows (the enforcer samples).
///
/// One line per decision, for example:
/// `{"time":"2026-11-23T09:00:00.123Z","verdict":"deny","reason":"denied","identity":"bob-phone",
///   "peer":"vdi2…=","proto":"tcp","src":"10.99.0.3","dst":"10.20.1.5","sport":40000,"dport":22,
///   "rules":["engineering/3"],"generation":2}`
package final class DecisionLog: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    /// Opens `path` for appending (created 0640), or standard error for "-". `path` may be a
    /// FIFO (a log shipper's pipe): it is opened without seeking, and the open waits for its reader.
    package init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardError
        } else {
            // O_APPEND rather than a seek to the end: a FIFO cannot seek, and FileHandle's
            // seekToEndOfFile traps on it.
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw EdgeConfig.ConfigError(description: "cannot open decision log \(path): \(String(cString: strerror(errno)))")
            }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
    }

    private var broken = false
    private var failures = 0

    /// Lines that could not be written (a pipe whose reader went away, a full disk). Once a
    /// write fails with EPIPE the log stops writing: nobody reads it any more.
    package var writeFailures: Int {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }

    package func write(_ r: Enforcer.DecisionRecord) {
        lock.lock()
        defer { lock.unlock() }
        // Checked before formatting: this runs on the packet path of a cache miss, and a line
        // nobody will read is not worth building.
        guard !broken else {
            failures += 1
            return
        }
        let line = Self.format(r) + "\n"
        // write(2), through SystemSupport, rather than FileHandle.write(_:), which traps on EPIPE
        // and would take the daemon down with the reader of a decision-log pipe.
        do throws(IOError) {
            try FileDescriptor(rawValue: handle.fileDescriptor).writeAll(Array(line.utf8))
        } catch {
            failures += 1
            if error == .closed { broken = true }
        }
    }

    /// The JSON line for a record (keys in a fixed order, so that lines diff and grep well).
    package static func format(_ r: Enforcer.DecisionRecord) -> String {
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
