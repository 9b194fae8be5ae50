import CLibBPF
import Glibc

/// A compiled XDP object opened and loaded into the kernel through libbpf: its program and
/// maps live as long as this value (closing the object closes their descriptors; an attached
/// program stays attached until detached, since the kernel holds its own reference).
final class BPFObject {
    static let programName = "ztp_xdp"
    static let mapNames = ["ztp_config", "ztp_sessions", "ztp_rate", "ztp_block4", "ztp_block6", "ztp_stats"]
    /// Room for the verifier's log when a load fails (only the tail is reported).
    private static let verifierLogSize = 1 << 20

    let path: String
    let programFD: Int32
    /// The kernel's id for the loaded program, as `bpftool prog` and `ip link` show it.
    let programID: UInt32
    private let object: OpaquePointer
    private let maps: [String: BPFMap]

    /// Opens and loads `path`. With `reusing`, the new object's maps are the given maps
    /// (descriptors by map name) instead of fresh ones, so that a replacement program keeps
    /// its predecessor's sessions, deny list, buckets and counters.
    init(path: String, reusing: [String: Int32] = [:]) throws {
        guard let object = bpf_object__open_file(path, nil) else {
            throw XDPError.openFailed(path: path, errno: errno)
        }
        do {
            guard let program = bpf_object__find_program_by_name(object, Self.programName) else {
                throw XDPError.missingInObject(name: "program \(Self.programName)")
            }
            bpf_program__set_type(program, BPF_PROG_TYPE_XDP)
            for (name, fd) in reusing {
                guard let map = bpf_object__find_map_by_name(object, name) else {
                    throw XDPError.missingInObject(name: "map \(name)")
                }
                let result = bpf_map__reuse_fd(map, fd)
                guard result == 0 else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
            }
            let log = UnsafeMutablePointer<CChar>.allocate(capacity: Self.verifierLogSize)
            defer { log.deallocate() }
            log[0] = 0
            bpf_program__set_log_buf(program, log, Self.verifierLogSize)
            let result = bpf_object__load(object)
            guard result == 0 else {
                let text = String(cString: log)
                throw XDPError.loadFailed(path: path, errno: -result,
                                          verifierLog: String(text.suffix(4000)))
            }
            bpf_program__set_log_buf(program, nil, 0)
            var maps: [String: BPFMap] = [:]
            for name in Self.mapNames {
                guard let map = bpf_object__find_map_by_name(object, name) else {
                    throw XDPError.missingInObject(name: "map \(name)")
                }
                maps[name] = BPFMap(name: name, fd: bpf_map__fd(map))
            }
            self.programFD = bpf_program__fd(program)
            var info = bpf_prog_info()
            var length = UInt32(MemoryLayout<bpf_prog_info>.size)
            let infoResult = bpf_obj_get_info_by_fd(programFD, &info, &length)
            guard infoResult == 0 else { throw XDPError.loadFailed(path: path, errno: -infoResult, verifierLog: "") }
            self.programID = info.id
            self.maps = maps
        } catch {
            bpf_object__close(object)
            throw error
        }
        self.object = object
        self.path = path
    }

    deinit {
        bpf_object__close(object)
    }

    func map(_ name: String) -> BPFMap {
        guard let map = maps[name] else { preconditionFailure("\(name) is not in BPFObject.mapNames") }
        return map
    }

    /// Every map's descriptor by name, for a successor to reuse.
    var mapDescriptors: [String: Int32] { maps.mapValues(\.fd) }
}
