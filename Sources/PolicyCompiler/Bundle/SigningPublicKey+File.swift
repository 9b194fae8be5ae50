import Foundation

extension SigningPublicKey {
    /// Why a trusted key given on the command line or in the daemon config was refused.
    package struct ReadError: Error, Equatable, CustomStringConvertible {
        package var description: String
    }

    /// A key given either as its base64 text or as the path of a `KEY.pub` file that
    /// `ztpc keygen` wrote: how `--trusted` and `trusted_publishers:` take keys.
    package init(base64OrFile item: String) throws(ReadError) {
        if let key = SigningPublicKey(base64: item) {
            self = key
            return
        }
        // A public key file is 45 bytes. Checked before reading, so that a path such as
        // /dev/zero or a huge file is refused, not read.
        let attributes = try? FileManager.default.attributesOfItem(atPath: item)
        guard let attributes, attributes[.type] as? FileAttributeType == .typeRegular,
            (attributes[.size] as? Int ?? .max) <= 1024,
            let data = FileManager.default.contents(atPath: item)
        else {
            throw ReadError(description: "'\(item)' is neither a base64 public key nor a readable .pub file")
        }
        guard let key = SigningPublicKey(base64: String(decoding: data, as: UTF8.self)) else {
            throw ReadError(description: "\(item): does not hold a base64 public key (ztpc keygen writes KEY.pub)")
        }
        self = key
    }
}
