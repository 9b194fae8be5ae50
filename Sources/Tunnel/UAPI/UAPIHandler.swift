/// What the UAPI reads and changes. ``TunnelRuntime`` is the implementation.
package protocol UAPIConfigurable: AnyObject, Sendable {
    /// The interface and its peers, for `get=1`.
    func uapiSnapshot() -> InterfaceSnapshot
    /// Applies a whole `set=1` request or, when it throws, nothing.
    func apply(_ change: InterfaceChange) throws(UAPIError)
    /// `key=value` lines for `ztp-stats=1` (ours, not part of the protocol).
    func uapiStatisticsLines() -> [String]
}

/// The cross-platform userspace API (https://www.wireguard.com/xplatform/) over any
/// line-based connection: reads requests, answers them, until the client closes.
///
/// - `get=1` answers with ``UAPIPrinter/getResponse(_:)`` and `errno=0`.
/// - `set=1` reads the whole request up to its blank line (streaming: O(1) memory per
///   line besides the parsed change; at most ``maximumRequestBytes``), parses it, and
///   only then applies it, as one transaction: any error (a bad line anywhere, a request
///   too large, cut short, or refused by the target) applies nothing, answers the errno
///   and logs one line, never quoting a value.
/// - `ztp-stats=1` answers with the target's statistics lines.
package struct UAPIHandler: Sendable {
    /// The largest `set=1` request accepted: 64 MiB, about 1.4 million allowed_ip lines
    /// (the 1.35 MB request with 45,000 of them is 2 % of it). Larger ones are
    /// refused with EMSGSIZE.
    static let maximumRequestBytes = 64 << 20
    /// After a request is refused, reading goes on (discarding) up to its blank line, so
    /// that a client still writing is answered instead of cut off (`wg` dies of SIGPIPE
    /// when the socket closes under it); past this many bytes the connection is closed.
    static let maximumDrainBytes = 1 << 30

    private let target: any UAPIConfigurable
    private let log: (@Sendable (TunnelRuntime.LogLevel, String) -> Void)?

    package init(target: any UAPIConfigurable, log: (@Sendable (TunnelRuntime.LogLevel, String) -> Void)? = nil) {
        self.target = target
        self.log = log
    }

    /// Serves requests from `readLine` (a line without its newline, nil at the end of the
    /// stream) until the stream ends, reading fails or `write` throws.
    package func serve(readLine: () throws(UAPIError) -> Substring?, write: (String) throws -> Void) {
        while true {
            let operation: Substring?
            do { operation = try readLine() } catch { return }
            guard let operation else { return }
            let reply: String
            let keepServing: Bool
            switch operation {
            case "get=1", "ztp-stats=1":
                // The operation line is followed by the blank line that ends the request.
                guard (try? readLine()) == .some("") else {
                    log?(.warning, "UAPI \(operation) refused: the request has lines after the operation")
                    _ = try? write("errno=\(UAPIError(.unknownOperation).wireErrno)\n\n")
                    return
                }
                if operation == "get=1" {
                    reply = UAPIPrinter.getResponse(target.uapiSnapshot()) + "errno=0\n\n"
                } else {
                    reply = target.uapiStatisticsLines().map { $0 + "\n" }.joined() + "errno=0\n\n"
                }
                keepServing = true
            case "set=1":
                let outcome = set(readLine: readLine)
                reply = "errno=\(outcome.error?.wireErrno ?? 0)\n\n"
                keepServing = outcome.connectionUsable
            default:
                log?(.warning, "UAPI request refused: unknown operation")
                reply = "errno=\(UAPIError(.unknownOperation).wireErrno)\n\n"
                keepServing = false
            }
            do { try write(reply) } catch { return }
            if !keepServing { return }
        }
    }

    /// Reads, parses and applies one `set=1` request body.
    private func set(readLine: () throws(UAPIError) -> Substring?) -> (error: UAPIError?, connectionUsable: Bool) {
        var parser = UAPISetParser()
        var failure: UAPIError?
        var usable = true
        var bytes = 0
        var lineNumber = 0
        reading: while true {
            let line: Substring
            do {
                guard let next = try readLine() else {
                    failure = failure ?? UAPIError(.truncated)
                    usable = false
                    break reading
                }
                line = next
            } catch {
                lineNumber += 1
                if error.reason == .lineTooLong {
                    failure = failure ?? UAPIError(.lineTooLong, line: lineNumber)
                    continue
                }
                failure = failure ?? error
                usable = false
                break reading
            }
            if line.isEmpty { break }
            lineNumber += 1
            bytes += line.utf8.count + 1
            if bytes > Self.maximumDrainBytes {
                usable = false
                break
            }
            guard failure == nil else { continue }
            if bytes > Self.maximumRequestBytes {
                failure = UAPIError(.requestTooLarge, line: lineNumber)
                continue
            }
            do { try parser.consume(line) } catch { failure = error }
        }
        if failure == nil {
            let change = parser.finish()
            let started = ContinuousClock.now
            do {
                try target.apply(change)
                let took = (ContinuousClock.now - started).components
                let milliseconds = took.seconds * 1000 + took.attoseconds / 1_000_000_000_000_000
                log?(.debug, "UAPI set=1 applied: \(change.peers.count) peer changes in \(lineNumber) lines, \(milliseconds) ms")
                return (nil, usable)
            } catch {
                failure = error
            }
        }
        guard let error = failure else { return (nil, usable) }
        log?(.warning, "UAPI set=1 refused, nothing applied: \(error) (errno \(error.errno))")
        return (error, usable)
    }
}
