import ArgumentParser
import Foundation
import Logging
import SystemSupport

/// How ztpd writes its log to standard error (`--log-format`).
enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `journal` when standard error is systemd's journal stream, else `text`.
    case auto
    /// swift-log's plain lines, for a person at a terminal.
    case text
    /// One JSON object a line: `time`, `level`, `label`, `message`, `metadata`.
    case json
    /// One line a record, prefixed with its syslog priority (`<6>` for info, sd-daemon(3)), so
    /// that journald keeps the level; newlines inside a record are escaped to keep it one entry.
    case journal

    /// `auto` made concrete: systemd sets `$JOURNAL_STREAM` to the device and inode of the
    /// stream it connects; it is the journal only if standard error is still that stream.
    func resolved(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat {
        guard self == .auto else { return self }
        guard let stream = environment["JOURNAL_STREAM"] else { return .text }
        guard let identity = FileDescriptor(rawValue: 2).deviceAndInode() else { return .text }
        return stream == "\(identity.device):\(identity.inode)" ? .journal : .text
    }

    /// The handler factory for `LoggingSystem.bootstrap`.
    func makeHandler(label: String, level: Logger.Level) -> any LogHandler {
        switch resolved() {
        case .auto, .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            return LineLogHandler(label: label, logLevel: level, style: .json)
        case .journal:
            return LineLogHandler(label: label, logLevel: level, style: .journal)
        }
    }
}

/// A swift-log handler that writes each record as one line to standard error, as JSON or as a
/// journal line. One write(2) a line, under a lock shared by every logger, so that lines of
/// concurrent threads never interleave.
struct LineLogHandler: LogHandler {
    enum Style: Sendable { case json, journal }

    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let style: Style

    init(label: String, logLevel: Logger.Level, style: Style) {
        self.label = label
        self.logLevel = logLevel
        self.style = style
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line: String
        switch style {
        case .json: line = Self.jsonLine(level: event.level, label: label, message: "\(event.message)", metadata: all, time: Date())
        case .journal: line = Self.journalLine(level: event.level, message: "\(event.message)", metadata: all)
        }
        StandardErrorLines.write(line)
    }

    /// `{"time":"…","level":"info","label":"ztpd","message":"…","metadata":{…}}`.
    static func jsonLine(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, time: Date) -> String {
        var object: [String: Any] = [
            "time": time.formatted(timeStyle), "level": level.rawValue, "label": label, "message": message,
        ]
        if !metadata.isEmpty { object["metadata"] = metadata.mapValues(jsonValue) }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `<6>message key=value …`, the priority journald reads off the line's start.
    static func journalLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let text = (message + fields).replacingOccurrences(of: "\n", with: "\\n")
        return "<\(syslogPriority(level))>" + text
    }

    /// sd-daemon(3)'s SD_DEBUG ... SD_CRIT for each swift-log level.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    private static func jsonValue(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(jsonValue)
        case .dictionary(let d): d.mapValues(jsonValue)
        }
    }

    private static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// Standard error, a line at a time.
enum StandardErrorLines {
    private static let lock = NSLock()

    static func write(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        // A reader that went away (EPIPE: SIGPIPE is ignored) or a full disk: the record is lost,
        // and there is nowhere to say so.
        try? standardError.writeAll(Array((line + "\n").utf8))
    }

    private static let standardError = FileDescriptor(rawValue: 2)
}
