import SecureMemory

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

    /// Reads the base64 key of a `wg genkey` file. The file must be a regular file that group
    /// and others can neither read nor write. Its bytes go straight into zeroing storage and
    /// are decoded from there (``SecretKeyFile``): no copy of the key passes through a String
    /// or an array.
    package init(keyFile path: String) throws(KeyFileError) {
        do {
            storage = try SecretKeyFile.read(path, byteCount: Self.byteCount)
        } catch {
            throw KeyFileError(error)
        }
    }
}

extension PrivateKey.KeyFileError {
    /// The shared reader's failure, with this key's own advice.
    init(_ failure: SecretKeyFile.Failure) {
        switch failure {
        case .cannotOpen(let path, let code), .cannotWrite(let path, let code): self = .cannotOpen(path: path, errno: code)
        case .notARegularFile(let path): self = .notARegularFile(path: path)
        case .readableByOthers(let path, let mode): self = .readableByOthers(path: path, mode: mode)
        case .tooLarge(let path): self = .tooLarge(path: path)
        case .notABase64Key(let path), .alreadyExists(let path): self = .notABase64Key(path: path)
        }
    }
}
