import Glibc

/// What went wrong loading, attaching or driving the XDP program.
package enum XDPError: Error, Equatable, CustomStringConvertible {
    /// No compiled program at any of these paths (run `bpf/build.sh`, or pass a path).
    case objectNotFound(searched: [String])
    /// libbpf could not open or parse the object file.
    case openFailed(path: String, errno: Int32)
    /// The kernel refused the program or a map; `verifierLog` is the tail of the verifier's log.
    case loadFailed(path: String, errno: Int32, verifierLog: String)
    /// The object lacks a program or map that this loader needs: it was built from other sources.
    case missingInObject(name: String)
    /// No interface of that name in this network namespace.
    case interfaceNotFound(String)
    /// Another XDP program, not ours, is attached to the interface; it is left alone.
    case interfaceBusy(interface: String, programName: String)
    /// The kernel refused to attach the program in that mode.
    case attachFailed(interface: String, mode: AttachMode, errno: Int32)
    /// This guard's program is already attached to that interface: detach it first.
    case alreadyAttached(interface: String)
    /// A map update, delete or lookup failed.
    case mapOperationFailed(map: String, errno: Int32)
    /// Running the program on a test frame (BPF_PROG_TEST_RUN) failed.
    case testRunFailed(errno: Int32)

    package var description: String {
        switch self {
        case .objectNotFound(let searched):
            "XDP object not found (run bpf/build.sh); searched: \(searched.joined(separator: ", "))"
        case .openFailed(let path, let code):
            "cannot open XDP object \(path): \(Self.message(code))"
        case .loadFailed(let path, let code, let log):
            "the kernel refused \(path): \(Self.message(code))" + (log.isEmpty ? "" : "\nverifier log (tail):\n\(log)")
        case .missingInObject(let name):
            "the XDP object has no \(name) (built from other sources?)"
        case .interfaceNotFound(let name):
            "no interface \(name)"
        case .interfaceBusy(let name, let program):
            "\(name) already runs XDP program \(program), which is not ztp's: left alone"
        case .attachFailed(let name, let mode, let code):
            "cannot attach XDP to \(name) in \(mode) mode: \(Self.message(code))"
        case .alreadyAttached(let name):
            "the XDP program is already attached to \(name)"
        case .mapOperationFailed(let map, let code):
            "XDP map \(map): \(Self.message(code))"
        case .testRunFailed(let code):
            "BPF_PROG_TEST_RUN: \(Self.message(code))"
        }
    }

    static func message(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
