#if canImport(Glibc)
import Glibc
#endif

/// Replacing a file so that a reader (or the next start after a crash) sees the old contents or
/// the new ones, whole, never a mix: write a temporary file beside it, fsync, rename over it,
/// fsync the directory so that the rename itself survives a power cut.
public enum AtomicFile {
    /// Replaces `path` with `bytes`, mode `mode`, creating the file's directory (mode 0700) when
    /// it is missing. On failure `path` is left as it was and no temporary file remains.
    /// - Throws: ``IOError/cannotCreateDirectory(path:_:)``, ``IOError/openFailed(path:_:)``,
    ///   ``IOError/writeFailed(_:)``.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(IOError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .cannotCreateDirectory(path: directory, .current)
        }
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw .openFailed(path: temporary, .current) }
        let written: Result<Void, IOError> = {
            // O_CREAT's mode is masked by the umask; the file's mode is not the umask's to decide.
            guard fchmod(fd, mode) == 0 else { return .failure(.writeFailed(.current)) }
            do throws(IOError) {
                try FileDescriptor(rawValue: fd).writeAll(bytes)
            } catch {
                return .failure(error)
            }
            guard fsync(fd) == 0 else { return .failure(.writeFailed(.current)) }
            return .success(())
        }()
        close(fd)
        if case .failure(let error) = written {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let error = Errno.current
            unlink(temporary)
            throw .writeFailed(error)
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            // Best effort: the file is already in place; only its durability across a crash is at stake.
            _ = fsync(dirfd)
            close(dirfd)
        }
    }
}
