import SystemSupport

/// Sends one command to a daemon's control socket and returns its answer.
package enum ControlClient {
    package struct ClientError: Error, CustomStringConvertible {
        package var description: String
    }

    /// The largest answer accepted (a status with many thousands of sessions fits).
    static let maxAnswerLength = 64 << 20

    /// Sends `command` to the socket at `path` and reads the answer until the daemon closes.
    /// The whole exchange, connecting included, has `timeout`: a daemon that is stopped
    /// (SIGSTOP) or hung accepts the connection but never answers.
    /// - Throws: ``ClientError`` saying what failed, for the person at the terminal.
    package static func send(_ command: String, to path: String, timeout: Duration = .seconds(5)) throws(ClientError) -> String {
        let connection: Connection
        do {
            connection = try UnixClient.connect(path: path, timeout: timeout)
        } catch IOError.timedOut {
            throw ClientError(description: "\(path) accepts no connection within \(seconds(timeout)) s (is ztpd hung?)")
        } catch {
            throw ClientError(description: "\(error) (is ztpd running, and are you root?)")
        }
        defer { connection.close() }
        do {
            try connection.write(command + "\n")
            let answer = try connection.readToEnd(maxLength: maxAnswerLength)
            return String(decoding: answer, as: UTF8.self)
        } catch IOError.timedOut {
            throw ClientError(description: "no answer from \(path) within \(seconds(timeout)) s (is ztpd stopped or hung?)")
        } catch {
            throw ClientError(description: "talking to \(path): \(error)")
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        let value = Double(s) + Double(atto) / 1e18
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
