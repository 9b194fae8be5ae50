#if canImport(Glibc)
import Glibc
#endif

extension PrivateKey {
    /// Why a private key file was refused. Messages name the file and the fault, never any
    /// of its contents.
    package enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case notARegularFile(path: String)
        /// Group or others may read or write it: the key may already be known to others.
        case readableByOthers(path: String, mode: UInt32)
        case tooLarge(path: String)
        case notABase64Key(path: String)

        package var description: String {
            switch self {
            case .cannotOpen(let path, let code): "\(path): cannot open: \(String(cString: strerror(code)))"
            case .notARegularFile(let path): "\(path): not a regular file"
            case .readableByOthers(let path, let mode):
                "\(path): mode \(String(mode, radix: 8)) lets group or others read or write the private key; chmod 600 it"
            case .tooLarge(let path): "\(path): too large for a key file (a base64 key is 44 characters)"
            case .notABase64Key(let path): "\(path): does not hold a base64 WireGuard private key (wg genkey makes one)"
            }
        }
    }

    /// The longest key file accepted: a 44-character key with generous surrounding whitespace.
    static let maximumKeyFileSize = 256

    /// Reads the base64 key of a `wg genkey` file. The file must be a regular file that group
    /// and others can neither read nor write. Its bytes go straight into zeroing storage and
    /// are decoded from there: no copy of the key passes through a String or an array.
    package init(keyFile path: String) throws(KeyFileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        guard info.st_mode & 0o077 == 0 else { throw .readableByOthers(path: path, mode: info.st_mode & 0o7777) }
        guard info.st_size <= Self.maximumKeyFileSize else { throw .tooLarge(path: path) }

        let limit = Self.maximumKeyFileSize
        var length = 0
        var readError: Int32 = 0
        // One byte more than the limit, to tell a file that grew after fstat.
        let text = SecureBytes(count: limit + 1) { buffer in
            while length <= limit {
                let n = read(fd, buffer.baseAddress! + length, limit + 1 - length)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { readError = errno }
                if n <= 0 { break }
                length += n
            }
        }
        guard readError == 0 else { throw .cannotOpen(path: path, errno: readError) }
        guard length <= limit else { throw .tooLarge(path: path) }
        do {
            storage = try text.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<length])
                // The key is the text between leading and trailing whitespace.
                let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
                let start = bytes.firstIndex { !isSpace($0) } ?? length
                let end = (bytes.lastIndex { !isSpace($0) } ?? -1) + 1
                let key = UnsafeRawBufferPointer(rebasing: bytes[start..<max(start, end)])
                return try SecureBytes(count: Self.byteCount) { try KeyBase64.decode(text: key, into: $0) }
            }
        } catch {
            throw .notABase64Key(path: path)
        }
    }
}
