#if canImport(Glibc)
import Glibc
#endif

/// A descriptor somebody else owns (a FileHandle's, standard error), for writes that must not
/// trap or give up half way: FileHandle.write(_:) traps on EPIPE.
public struct FileDescriptor: Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Writes all of `bytes`, retrying after signals and short writes.
    /// - Throws: ``IOError/closed`` when the reader of a pipe has gone (EPIPE; SIGPIPE is the
    ///   caller's to ignore), ``IOError/writeFailed(_:)`` otherwise (a full disk).
    public func writeAll(_ bytes: [UInt8]) throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                retryingOnInterrupt { write(rawValue, raw.baseAddress! + offset, raw.count - offset) }
            }
            switch written {
            case .success(0): throw .writeFailed(.wouldBlock)
            case .success(let n): offset += n
            case .failure(.brokenPipe): throw .closed
            case .failure(let e): throw .writeFailed(e)
            }
        }
    }

    /// The device and inode of what the descriptor refers to (fstat), or nil when it is closed.
    /// For recognising a stream someone names by them, such as systemd's `$JOURNAL_STREAM`.
    public func deviceAndInode() -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard fstat(rawValue, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }
}
