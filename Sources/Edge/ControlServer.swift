import Foundation
import SystemSupport

/// The daemon's control socket: a Unix socket only root can open (mode 0600 in a 0700
/// directory). A client writes one command line and reads the answer until the server closes.
/// Clients are served concurrently, each with `requestTimeout` for the whole exchange.
package final class ControlServer: Sendable {
    package let path: String
    private let server: StreamServer

    /// The longest command line read; a longer one is answered with an error.
    package static let maxCommandLength = 4096

    /// Listens on `path`; `handle` turns a command (trimmed) into its answer.
    /// - Throws: ``IOError`` when the socket cannot be created (see ``UnixListener``).
    package init(
        path: String, requestTimeout: Duration = .seconds(5), maxConnections: Int = 16,
        handle: @escaping @Sendable (String) -> String
    ) throws(IOError) {
        self.path = path
        let listener = try UnixListener(path: path, mode: 0o600, directoryMode: 0o700)
        server = StreamServer(
            listener: listener, name: "ztp-control", maxConnections: maxConnections, requestTimeout: requestTimeout
        ) { connection in
            let answer: String
            do {
                guard let line = try connection.readLine(maxLength: Self.maxCommandLength) else { return }
                answer = handle(line.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch IOError.lineTooLong(let limit) {
                answer = "error: a command is at most \(limit) bytes\n"
            } catch {
                return  // timed out or hung up: nobody to answer
            }
            try? connection.write(answer)
        }
    }

    /// Starts serving on a thread of its own.
    package func start() { server.start() }

    /// Stops accepting, ends the exchanges in progress and removes the socket.
    package func stop() { server.stop() }

    /// A client's text as it may be quoted back in an error answer: at most `limit` bytes of it,
    /// in single quotes, with quotes, backslashes and every byte that is not printable ASCII
    /// escaped, and "..." when it was longer, so that an answer never carries a client's
    /// garbage or control sequences to another terminal.
    package static func quoted(_ text: String, limit: Int = 64) -> String {
        let bytes = Array(text.utf8)
        var out = "'"
        for byte in bytes.prefix(limit) {
            switch byte {
            case UInt8(ascii: "'"): out += "\\'"
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        out += "'"
        if bytes.count > limit { out += "... (\(bytes.count) bytes)" }
        return out
    }
}
