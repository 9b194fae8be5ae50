import Foundation

/// Where the compiled program (`bpf/build.sh` output) is looked for when no path is given.
package enum ObjectLocation {
    /// The file name `bpf/build.sh` writes.
    package static let fileName = "ztp_xdp.o"
    /// Environment variable that names the object, ahead of every other place.
    package static let environmentVariable = "ZTP_XDP_OBJECT"

    /// The places searched, in order: `$ZTP_XDP_OBJECT`; `bpf/ztp_xdp.o` under the current
    /// directory and under each ancestor of the running executable (a checkout's
    /// `.build/debug/ztpd` finds the checkout's `bpf/`); `/usr/local/lib/ztp` and `/usr/lib/ztp`.
    package static func candidates() -> [String] {
        var paths: [String] = []
        if let explicit = ProcessInfo.processInfo.environment[environmentVariable], !explicit.isEmpty {
            paths.append(explicit)
        }
        paths.append(FileManager.default.currentDirectoryPath + "/bpf/" + fileName)
        var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? "/").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.path != "/" {
            paths.append(directory.appendingPathComponent("bpf/" + fileName).path)
            directory.deleteLastPathComponent()
        }
        paths.append("/usr/local/lib/ztp/" + fileName)
        paths.append("/usr/lib/ztp/" + fileName)
        return paths
    }

    /// `path` if given, else the first candidate that exists.
    /// Throws ``XDPError/objectNotFound(searched:)`` listing every place tried.
    package static func resolve(_ path: String?) throws -> String {
        if let path { return path }
        let searched = candidates()
        guard let found = searched.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw XDPError.objectNotFound(searched: searched)
        }
        return found
    }
}
