import SystemSupport

/// The head of an HTTP/1.x request (request line and header fields), read from a connection
/// with bounded lines and a bounded total, however the client splits it into segments.
struct HTTPRequestHead: Equatable {
    var method: String
    /// The path of the request target, without the query.
    var path: String
    var version: String
    /// Header fields in order, names lowercased.
    var fields: [(name: String, value: String)]

    static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.path == b.path && a.version == b.version
            && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// Why a request head was refused; each maps to the status it is answered with.
    enum Failure: Error, Equatable {
        /// Not an HTTP request line or header field (400).
        case malformed
        /// A line or the whole head past its limit (431).
        case tooLarge
        /// The client hung up, or took too long: nobody to answer.
        case gone
    }

    /// The longest request line or header field line, and the most bytes a head may have.
    static let maxLineLength = 8 * 1024
    static let maxHeadLength = 32 * 1024

    /// Reads a head from `connection` (up to and including the empty line), before its deadline.
    static func read(from connection: Connection) throws(Failure) -> HTTPRequestHead {
        var total = 0
        func line() throws(Failure) -> String {
            let text: String?
            do {
                text = try connection.readLine(maxLength: maxLineLength)
            } catch IOError.lineTooLong {
                throw .tooLarge
            } catch {
                throw .gone
            }
            guard var text else { throw .gone }
            total += text.utf8.count + 1
            guard total <= maxHeadLength else { throw .tooLarge }
            if text.hasSuffix("\r") { text.removeLast() }
            return text
        }
        // RFC 9112 2.2: a server should ignore empty lines before the request line.
        var requestLine = try line()
        while requestLine.isEmpty { requestLine = try line() }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") || parts[1] == "*"
        else { throw .malformed }
        let target = parts[1]
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        var fields: [(name: String, value: String)] = []
        while true {
            let field = try line()
            if field.isEmpty { break }
            guard let colon = field.firstIndex(of: ":"), colon != field.startIndex,
                  !field[..<colon].contains(where: { $0 == " " || $0 == "\t" })
            else { throw .malformed }
            let value = field[field.index(after: colon)...].trimmingSpaces()
            fields.append((field[..<colon].lowercased(), value))
        }
        return HTTPRequestHead(method: String(parts[0]), path: path, version: String(parts[2]), fields: fields)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
