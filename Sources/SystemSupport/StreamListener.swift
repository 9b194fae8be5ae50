import CSystemShim
#if canImport(Glibc)
import Glibc
#endif

/// A listening stream socket a ``StreamServer`` accepts from.
public protocol StreamListener: AnyObject, Sendable {
    /// Waits for the next client; nil once ``interrupt()`` was called.
    /// - Throws: ``IOError/acceptFailed(_:)`` for a failure that will not go away by itself.
    func accept() throws(IOError) -> Connection?
    /// Makes a waiting and every later ``accept()`` return nil.
    func interrupt()
    /// Closes the socket (and, for a Unix socket, removes its node). Call after accepting ended.
    func close()
    /// Where it listens, for messages.
    var address: String { get }
}

/// The accept side shared by the Unix and TCP listeners: the descriptor and the wakeup that stops it.
final class ListeningSocket: Sendable {
    let descriptor: Int32
    private let wakeup: Wakeup

    init(descriptor: Int32) throws(IOError) {
        self.descriptor = descriptor
        do {
            wakeup = try Wakeup()
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }

    func accept() throws(IOError) -> Connection? {
        while true {
            guard case .ready = try Readiness.wait(for: descriptor, events: Int16(POLLIN), until: .never, wakeup: wakeup)
            else { return nil }
            switch retryingOnInterrupt({ ztp_accept_cloexec(descriptor) }) {
            case .success(let fd): return Connection(descriptor: fd)
            // Gone before we took it, or nothing there after all: wait again.
            case .failure(let e) where [EAGAIN, ECONNABORTED, EPROTO].contains(e.rawValue): continue
            // Out of descriptors or memory: the clients in progress will free some; do not spin.
            case .failure(let e) where [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(e.rawValue):
                usleep(50_000)
                continue
            case .failure(let e): throw .acceptFailed(e)
            }
        }
    }

    func interrupt() { wakeup.signal() }

    func close() { Glibc.close(descriptor) }
}
