import CLibBPF
import Glibc
import Synchronization

/// Routes libbpf's own warnings (a missing file, a map that will not load, a kernel's
/// netlink complaint) to a guard's log instead of standard error. libbpf has one print
/// callback per process, so its messages go to the log most recently installed.
enum LibbpfLog {
    private static let sink = Mutex<XDPGuard.Log?>(nil)

    static func install(_ log: @escaping XDPGuard.Log) {
        sink.withLock { $0 = log }
        _ = libbpf_set_print(forward)
    }

    fileprivate static func emit(_ line: String) {
        sink.withLock { $0 }?(line)
    }
}

private func forward(level: libbpf_print_level, format: UnsafePointer<CChar>?, arguments: CVaListPointer?) -> Int32 {
    guard level != LIBBPF_DEBUG, let format, let arguments else { return 0 }
    var buffer = [CChar](repeating: 0, count: 1024)
    let length = vsnprintf(&buffer, buffer.count, format, arguments)
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let line = text.hasSuffix("\n") ? String(text.dropLast()) : text
    LibbpfLog.emit("libbpf: " + line)
    return length
}
