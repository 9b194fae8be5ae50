import CBuildInfo

/// The version and source commit of this build: what `ztpc --version`, `ztpd --version`,
/// the Debian package and the `ztp_build_info` metric report.
package enum BuildInfo {
    /// The release version. scripts/package reads it from this line for the package's version,
    /// so that the two cannot disagree.
    package static let version = "0.1.0"

    /// The git commit the binary was built from, compiled in by scripts/package
    /// (`ZTP_BUILD_COMMIT`, see `CBuildInfo.h`); "unknown" for builds made otherwise.
    package static let commit = String(cString: ztp_build_commit())

    /// `0.1.0 (commit 1a2b3c4d5e6f)`, as the `--version` flags print it.
    package static var versionLine: String { "\(version) (commit \(commit))" }
}
