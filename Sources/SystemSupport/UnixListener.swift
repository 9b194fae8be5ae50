#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A Unix stream socket that listens on a filesystem path with exactly the permissions asked
/// for: the node is created under a umask that already withholds every bit not in `mode`, so it
/// never exists with wider ones, then given its owner, and checked.
public final class UnixListener: StreamListener {
    /// The user and group a socket node is given.
    public struct Owner: Sendable, Equatable {
        public var user: UInt32
        public var group: UInt32
        public init(user: UInt32, group: UInt32) {
            self.user = user
            self.group = group
        }
    }

    /// The socket's path.
    public let path: String
    public var address: String { path }
    private let socket: ListeningSocket
    /// The node we bound, so that closing removes ours and never a successor's.
    private let inode: (device: UInt64, inode: UInt64)

    /// umask is process-wide: our listeners take turns setting it.
    private static let umaskLock = Mutex(())

    /// Listens on `path`.
    /// - Parameters:
    ///   - mode: the socket node's permissions (0600: only the owner may connect).
    ///   - owner: who owns the node; nil keeps the process's effective user and group.
    ///   - directoryMode: the permissions of the parent directory (and any directory above it)
    ///     when it has to be created; an existing directory is left as it is.
    ///   - backlog: connections the kernel queues before we accept them.
    /// - Throws: ``IOError/pathTooLong(path:limit:)``; ``IOError/cannotCreateDirectory(path:_:)``;
    ///   ``IOError/addressInUse(address:)`` when a live server answers on the path;
    ///   ``IOError/pathOccupied(path:)`` when a non-socket is there; ``IOError/bindFailed(address:_:)``,
    ///   ``IOError/listenFailed(address:_:)``; ``IOError/unexpectedOwnerOrMode(path:expected:found:)``.
    public init(
        path: String, mode: UInt32 = 0o600, owner: Owner? = nil, directoryMode: UInt32 = 0o700, backlog: Int32 = 64
    ) throws(IOError) {
        let address = try UnixAddress(path)
        self.path = path
        try Self.createDirectory(parent(of: path), mode: directoryMode)
        try Self.removeStaleSocket(address)

        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socketUnavailable(.current) }
        func fail(_ error: IOError) -> IOError {
            Glibc.close(fd)
            return error
        }
        // On Linux the node takes the socket inode's mode (less the umask) at bind: both say `mode`.
        _ = fchmod(fd, mode_t(mode))
        let bound: Int32 = Self.umaskLock.withLock { _ in
            let old = umask(mode_t(~mode & 0o777))
            defer { umask(old) }
            return address.withSockaddr { bind(fd, $0, $1) }
        }
        guard bound == 0 else { throw fail(.bindFailed(address: path, .current)) }

        if let owner, lchown(path, owner.user, owner.group) != 0 {
            let e = Errno.current
            unlink(path)
            throw fail(.unexpectedOwnerOrMode(path: path, expected: "owner \(owner.user):\(owner.group)", found: "chown: \(e)"))
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { throw fail(.bindFailed(address: path, .current)) }
        let expectedUser = owner?.user ?? geteuid()
        let foundMode = UInt32(st.st_mode) & 0o7777
        let isSocket = UInt32(st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFSOCK)
        guard isSocket, foundMode == mode, st.st_uid == expectedUser, owner.map({ st.st_gid == $0.group }) ?? true else {
            unlink(path)
            throw fail(.unexpectedOwnerOrMode(
                path: path, expected: "socket \(octal(mode)) owned by \(expectedUser)",
                found: "\(isSocket ? "socket" : "not a socket") \(octal(foundMode)) owned by \(st.st_uid):\(st.st_gid)"))
        }
        inode = (UInt64(st.st_dev), UInt64(st.st_ino))
        guard listen(fd, backlog) == 0 else {
            unlink(path)
            throw fail(.listenFailed(address: path, .current))
        }
        socket = try ListeningSocket(descriptor: fd)
    }

    /// Waits for the next client; nil once ``interrupt()`` was called.
    public func accept() throws(IOError) -> Connection? { try socket.accept() }

    /// Makes a waiting and every later ``accept()`` return nil.
    public func interrupt() { socket.interrupt() }

    /// Closes the socket and removes its node, if the node is still ours.
    public func close() {
        var st = stat()
        if lstat(path, &st) == 0, UInt64(st.st_dev) == inode.device, UInt64(st.st_ino) == inode.inode {
            unlink(path)
        }
        socket.close()
    }

    /// A socket node left by a server that is gone is replaced; one a live server answers on is not.
    private static func removeStaleSocket(_ address: UnixAddress) throws(IOError) {
        var st = stat()
        guard lstat(address.path, &st) == 0 else { return }
        guard UInt32(st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFSOCK) else { throw .pathOccupied(path: address.path) }
        let probe = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard probe >= 0 else { throw .socketUnavailable(.current) }
        defer { Glibc.close(probe) }
        let result = retryingOnInterrupt { address.withSockaddr { connect(probe, $0, $1) } }
        // Connected, or queued behind a full backlog (EAGAIN): somebody is serving there.
        if case .success = result { throw .addressInUse(address: address.path) }
        if case .failure(.wouldBlock) = result { throw .addressInUse(address: address.path) }
        unlink(address.path)
    }

    /// Creates `path` and any missing directory above it with exactly `mode`.
    private static func createDirectory(_ path: String, mode: UInt32) throws(IOError) {
        var st = stat()
        if path.isEmpty || stat(path, &st) == 0 { return }
        try createDirectory(parent(of: path), mode: mode)
        guard mkdir(path, mode_t(mode)) == 0 || errno == EEXIST else { throw .cannotCreateDirectory(path: path, .current) }
        // mkdir's mode passes through the umask; say it again.
        _ = chmod(path, mode_t(mode))
    }
}

/// The directory part of a path ("" for a bare name, "/" for a file in the root).
func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

func octal(_ mode: UInt32) -> String {
    "0" + String(mode, radix: 8)
}
