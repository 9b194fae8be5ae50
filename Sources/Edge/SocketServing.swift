import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The accept loop the daemon's small servers share: one connection at a time, a bounded wait
/// for the request, one answer, close. Enough for scrapes and `ztpc status`, and a slow or
/// silent client can hold the loop for at most the read timeout.
enum SocketServing {
    /// Accepts until the listening socket is closed; `answer` turns the request's first bytes into the reply.
    static func serve(listener fd: Int32, answer: ([UInt8]) -> [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let n = read(client, &buffer, buffer.count)
            let reply = answer(n > 0 ? Array(buffer[0..<n]) : [])
            reply.withUnsafeBytes { p in
                var sent = 0
                while sent < p.count {
                    let w = send(client, p.baseAddress! + sent, p.count - sent, Int32(MSG_NOSIGNAL))
                    if w <= 0 { break }
                    sent += w
                }
            }
            close(client)
        }
    }
}
