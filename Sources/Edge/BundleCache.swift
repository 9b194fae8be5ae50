import Enforcer
import Foundation
import SystemSupport

/// The last good bundle from a remote source, kept on disk so that an edge restarted while the
/// source is unreachable still enforces the policy it last put in force.
///
/// One file, `last-good.ztpb` in the state directory (`state_dir:`, default `/var/lib/ztp`),
/// replaced atomically (a temporary file, fsync, rename) with mode 0600 after each bundle the
/// edge installs from the remote source. It holds the bundle's bytes exactly as received,
/// signatures included, so it is verified again under `trusted_publishers` when it is loaded.
package struct BundleCache: Sendable, Equatable {
    /// The state directory (created 0700 when missing).
    package let directory: String

    /// The state directory of an edge that sets none.
    package static let defaultDirectory = "/var/lib/ztp"

    package init(directory: String = BundleCache.defaultDirectory) {
        self.directory = directory
    }

    /// The cached bundle's path.
    package var path: String { "\(directory)/last-good.ztpb" }

    /// Whether a bundle has been cached.
    package var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Replaces the cached bundle with `bytes` (already verified and put in force by the caller).
    /// - Throws: the ``IOError`` of the write; the previous cached bundle stays then.
    package func store(_ bytes: [UInt8]) throws(IOError) {
        try AtomicFile.replace(path, with: bytes, mode: 0o600)
    }

    /// The policy source to start from when the edge follows a remote source and is given no
    /// local policy: the cached bundle, or nil when there is none yet.
    package var startingSource: PolicySource? { exists ? .bundle(path) : nil }
}
