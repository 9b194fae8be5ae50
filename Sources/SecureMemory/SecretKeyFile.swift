import CSodium

#if canImport(Glibc)
import Glibc
#endif

/// A file holding one secret key as base64 text (the `wg genkey` form), read straight into
/// zeroing storage and written from it: no copy of the key passes through a String or an
/// array. Shared by the tunnel's private keys and the policy signing keys.
package enum SecretKeyFile {
    /// Why a key file was refused. Messages name the file and the fault, never any of its contents.
    package enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case notARegularFile(path: String)
        /// Group or others may read or write it: the key may already be known to others.
        case readableByOthers(path: String, mode: UInt32)
        case tooLarge(path: String)
        /// The text is not the base64 of a key of the expected size.
        case notABase64Key(path: String)
        /// `create` never replaces a key: the old one may still be in use.
        case alreadyExists(path: String)
        case cannotWrite(path: String, errno: Int32)

        package var description: String {
            switch self {
            case .cannotOpen(let path, let code): "\(path): cannot open: \(String(cString: strerror(code)))"
            case .notARegularFile(let path): "\(path): not a regular file"
            case .readableByOthers(let path, let mode):
                "\(path): mode \(String(mode, radix: 8)) lets group or others read or write the private key; chmod 600 it"
            case .tooLarge(let path): "\(path): too large for a key file"
            case .notABase64Key(let path): "\(path): does not hold a base64 key"
            case .alreadyExists(let path): "\(path): already exists; not replacing a key (remove it first if you mean to)"
            case .cannotWrite(let path, let code): "\(path): cannot write: \(String(cString: strerror(code)))"
            }
        }
    }

    /// The longest key file accepted: a 44-character key with generous surrounding whitespace.
    package static let maximumSize = 256

    /// Standard alphabet with padding, as `wg genkey` writes.
    private static let variant = Int32(sodium_base64_VARIANT_ORIGINAL)

    /// Reads the base64 key of `byteCount` bytes in `path`. The file must be a regular file that
    /// group and others can neither read nor write; whitespace around the key is ignored.
    package static func read(_ path: String, byteCount: Int) throws(Failure) -> SecureBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        guard info.st_mode & 0o077 == 0 else { throw .readableByOthers(path: path, mode: info.st_mode & 0o7777) }
        guard info.st_size <= maximumSize else { throw .tooLarge(path: path) }

        let limit = maximumSize
        var length = 0
        var readError: Int32 = 0
        // One byte more than the limit, to tell a file that grew after fstat.
        let text = SecureBytes(count: limit + 1) { buffer in
            while length <= limit {
                let n = Glibc.read(fd, buffer.baseAddress! + length, limit + 1 - length)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { readError = errno }
                if n <= 0 { break }
                length += n
            }
        }
        guard readError == 0 else { throw .cannotOpen(path: path, errno: readError) }
        guard length <= limit else { throw .tooLarge(path: path) }
        let key: SecureBytes? = text.withUnsafeBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<length])
            let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
            let start = bytes.firstIndex { !isSpace($0) } ?? length
            let end = (bytes.lastIndex { !isSpace($0) } ?? -1) + 1
            return decodeBase64(UnsafeRawBufferPointer(rebasing: bytes[start..<max(start, end)]), byteCount: byteCount)
        }
        guard let key else { throw .notABase64Key(path: path) }
        return key
    }

    /// Writes `secret` as base64 and a newline to a new file `path`, mode 0600. Refuses to
    /// replace an existing file (`O_EXCL`, so a symlink planted there is refused too).
    package static func create(_ path: String, holding secret: SecureBytes) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw errno == EEXIST ? .alreadyExists(path: path) : .cannotWrite(path: path, errno: errno)
        }
        // The base64 characters, the newline and libsodium's NUL.
        let capacity = 4 * ((secret.count + 2) / 3) + 2
        let text = SecureBytes(count: capacity) { out in
            secret.withUnsafeBytes { raw in
                _ = sodium_bin2base64(
                    out.baseAddress!.assumingMemoryBound(to: CChar.self), capacity - 1,
                    raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, variant)
            }
            out[capacity - 2] = 0x0a
        }
        var failure: Int32 = 0
        text.withUnsafeBytes { raw in
            var written = 0
            while written < capacity - 1 {
                let n = write(fd, raw.baseAddress! + written, capacity - 1 - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n < 0 ? errno : EIO
                    return
                }
                written += n
            }
            if fsync(fd) != 0 { failure = errno }
        }
        close(fd)
        if failure != 0 {
            unlink(path)
            throw .cannotWrite(path: path, errno: failure)
        }
    }

    /// Decodes exactly `byteCount` bytes from base64 `text` (no surrounding whitespace) into new
    /// zeroing storage, reading the text in place; nil for anything else, trailing garbage included.
    package static func decodeBase64(_ text: UnsafeRawBufferPointer, byteCount: Int) -> SecureBytes? {
        SodiumLibrary.ensureInitialised()
        guard let base = text.baseAddress, !text.isEmpty else { return nil }
        let chars = base.assumingMemoryBound(to: CChar.self)
        var decoded = 0
        var end: UnsafePointer<CChar>? = nil
        var ok = false
        let key = SecureBytes(count: byteCount) { out in
            let status = sodium_base642bin(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count, chars, text.count, nil, &decoded, &end, variant)
            ok = status == 0 && end.map { $0 - chars } == text.count && decoded == byteCount
        }
        return ok ? key : nil
    }
}
