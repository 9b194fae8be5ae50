/// What went wrong in SystemSupport's sockets, watches and processes. Cases that come from a
/// failed system call carry its ``Errno``.
public enum IOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A Unix socket path longer than `sockaddr_un` holds (`limit` bytes, without the NUL).
    case pathTooLong(path: String, limit: Int)
    /// An address that is not a numeric IPv4 or IPv6 address.
    case invalidAddress(String)
    /// `socket()` itself failed (descriptor limit, no such protocol).
    case socketUnavailable(Errno)
    /// The directory that should hold a socket could not be created.
    case cannotCreateDirectory(path: String, Errno)
    /// Something that is not a socket is at the path; it is left alone.
    case pathOccupied(path: String)
    /// A live server already answers on this address.
    case addressInUse(address: String)
    case bindFailed(address: String, Errno)
    case listenFailed(address: String, Errno)
    /// The socket node did not come out with the owner and mode asked for (a filesystem that
    /// ignores them, a directory with a default ACL); it has been removed again.
    case unexpectedOwnerOrMode(path: String, expected: String, found: String)
    case connectFailed(address: String, Errno)
    case acceptFailed(Errno)
    /// The deadline passed before the peer sent (or took) what was asked.
    case timedOut
    /// The peer hung up: end of stream in the middle of a request, EPIPE or ECONNRESET.
    case closed
    /// A line longer than `limit` bytes, refused before it was all read.
    case lineTooLong(limit: Int)
    /// More than `limit` bytes where a bounded amount was expected.
    case messageTooLong(limit: Int)
    case readFailed(Errno)
    case writeFailed(Errno)
    case pollFailed(Errno)
    case watchFailed(path: String, Errno)
    case openFailed(path: String, Errno)
    case spawnFailed(executable: String, Errno)

    public var description: String {
        switch self {
        case .pathTooLong(let path, let limit): "socket path longer than \(limit) bytes: \(path)"
        case .invalidAddress(let text): "not a numeric IP address: \(text)"
        case .socketUnavailable(let e): "socket: \(e)"
        case .cannotCreateDirectory(let path, let e): "cannot create directory \(path): \(e)"
        case .pathOccupied(let path): "\(path) exists and is not a socket; not replacing it"
        case .addressInUse(let address): "another server is listening on \(address)"
        case .bindFailed(let address, let e): "cannot bind \(address): \(e)"
        case .listenFailed(let address, let e): "cannot listen on \(address): \(e)"
        case .unexpectedOwnerOrMode(let path, let expected, let found):
            "\(path) came out as \(found), not \(expected); removed it"
        case .connectFailed(let address, let e): "cannot connect to \(address): \(e)"
        case .acceptFailed(let e): "accept: \(e)"
        case .timedOut: "timed out"
        case .closed: "the peer closed the connection"
        case .lineTooLong(let limit): "line longer than \(limit) bytes"
        case .messageTooLong(let limit): "message longer than \(limit) bytes"
        case .readFailed(let e): "read: \(e)"
        case .writeFailed(let e): "write: \(e)"
        case .pollFailed(let e): "poll: \(e)"
        case .watchFailed(let path, let e): "cannot watch \(path): \(e)"
        case .openFailed(let path, let e): "cannot open \(path): \(e)"
        case .spawnFailed(let executable, let e): "cannot start \(executable): \(e)"
        }
    }
}
