import CLibBPF
import Glibc

/// One map of the loaded object, by file descriptor (owned by the object, not by this value).
/// Keys and values are the raw bytes the program reads: the layouts of `bpf/ztp_xdp.h`.
struct BPFMap {
    let name: String
    let fd: Int32

    func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(key: Key, value: Value) throws {
        let result = withUnsafeBytes(of: key) { key in
            withUnsafeBytes(of: value) { bpf_map_update_elem(fd, key.baseAddress, $0.baseAddress, UInt64(BPF_ANY)) }
        }
        guard result == 0 else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
    }

    func update<Value: BitwiseCopyable>(keyBytes: [UInt8], value: Value) throws {
        let result = keyBytes.withUnsafeBytes { key in
            withUnsafeBytes(of: value) { bpf_map_update_elem(fd, key.baseAddress, $0.baseAddress, UInt64(BPF_ANY)) }
        }
        guard result == 0 else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
    }

    /// Deletes a key; a key that is not there is not an error.
    func delete<Key: BitwiseCopyable>(key: Key) throws {
        let result = withUnsafeBytes(of: key) { bpf_map_delete_elem(fd, $0.baseAddress) }
        guard result == 0 || result == -ENOENT else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
    }

    func delete(keyBytes: [UInt8]) throws {
        let result = keyBytes.withUnsafeBytes { bpf_map_delete_elem(fd, $0.baseAddress) }
        guard result == 0 || result == -ENOENT else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
    }

    /// The sum over CPUs of a per-CPU array of `UInt64` at `index`.
    func sumPerCPU(index: UInt32, cpus: Int) throws -> UInt64 {
        var key = index
        var values = [UInt64](repeating: 0, count: cpus)
        let result = values.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &key, $0.baseAddress) }
        guard result == 0 else { throw XDPError.mapOperationFailed(map: name, errno: -result) }
        return values.reduce(0, &+)
    }
}
