#if canImport(Glibc)
import Glibc
#endif

/// Connects to Unix stream sockets.
public enum UnixClient {
    /// Connects to the server on `path` and returns the connection with its ``Connection/deadline``
    /// `timeout` from now: connecting, the request and the answer all fit in that time.
    /// - Throws: ``IOError/pathTooLong(path:limit:)``, ``IOError/connectFailed(address:_:)`` (no
    ///   such socket, nobody listening, no permission), ``IOError/timedOut`` when the server's
    ///   queue stays full.
    public static func connect(path: String, timeout: Duration) throws(IOError) -> Connection {
        let address = try UnixAddress(path)
        let deadline = Deadline.after(timeout)
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_UNIX, flags, 0)
        guard fd >= 0 else { throw .socketUnavailable(.current) }
        let connection = Connection(descriptor: fd, deadline: deadline)
        while true {
            switch retryingOnInterrupt({ address.withSockaddr { Glibc.connect(fd, $0, $1) } }) {
            case .success:
                return connection
            // A Unix socket whose accept queue is full refuses a non-blocking connect with
            // EAGAIN and never signals when there is room: try again a little later.
            case .failure(.wouldBlock):
                guard !deadline.hasPassed else { throw .timedOut }
                usleep(10_000)
            case .failure(let e):
                throw .connectFailed(address: path, e)
            }
        }
    }
}
