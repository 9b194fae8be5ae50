import Foundation
import Synchronization

/// Serves the clients of a ``StreamListener`` concurrently, a thread per connection: one slow or
/// silent client never delays another. Each connection gets a whole-request deadline when it is
/// accepted; past `maxConnections` open at once, new ones are closed right away (the accept loop
/// never waits for a slot).
///
/// Costs a thread per open connection (stack `stackSize`); meant for control sockets and
/// scrapes, not for thousands of clients.
public final class StreamServer: Sendable {
    private struct State {
        var started = false
        var stopped = false
        var nextID = 0
        var active: [Int: Connection] = [:]
        var refused = 0
    }

    private let listener: any StreamListener
    private let name: String
    private let maxConnections: Int
    private let requestTimeout: Duration
    private let serve: @Sendable (Connection) -> Void
    private let state = Mutex(State())
    private let acceptEnded = DispatchSemaphore(value: 0)
    private let handlers = DispatchGroup()
    private static let stackSize = 1 << 20

    /// - Parameters:
    ///   - name: the threads' name, for debuggers and `top -H`.
    ///   - maxConnections: how many clients are served at once.
    ///   - requestTimeout: how long a client has, from accept to the last byte of the answer.
    ///   - serve: handles one connection (read the request, write the answer) on its own
    ///     thread; the server closes the connection when it returns.
    public init(
        listener: any StreamListener, name: String, maxConnections: Int, requestTimeout: Duration,
        serve: @escaping @Sendable (Connection) -> Void
    ) {
        precondition(maxConnections > 0, "a server that may serve no connection")
        self.listener = listener
        self.name = name
        self.maxConnections = maxConnections
        self.requestTimeout = requestTimeout
        self.serve = serve
    }

    /// Where the listener listens.
    public var address: String { listener.address }

    /// Connections closed unserved because `maxConnections` were open.
    public var refusedConnections: Int { state.withLock { $0.refused } }

    /// Starts accepting on a thread of its own.
    public func start() {
        let first = state.withLock { s in
            defer { s.started = true }
            return !s.started && !s.stopped
        }
        guard first else { return }
        let thread = Thread { [self] in
            acceptLoop()
            acceptEnded.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops accepting, ends the connections in progress (their reads see the end of the
    /// stream), waits for their handlers to return and closes the listener.
    public func stop() {
        let started: Bool? = state.withLock { s in
            guard !s.stopped else { return nil }
            s.stopped = true
            return s.started
        }
        guard let started else { return }
        listener.interrupt()
        if started { acceptEnded.wait() }
        state.withLock { s in s.active.values.forEach { $0.shutdown() } }
        handlers.wait()
        listener.close()
    }

    private func acceptLoop() {
        while true {
            // nil after stop(); an error is one accept() does not wait out (EBADF): either way the end.
            guard let connection = try? listener.accept() else { return }
            let id: Int? = state.withLock { s in
                guard s.active.count < maxConnections, !s.stopped else {
                    s.refused += 1
                    return nil
                }
                s.nextID += 1
                s.active[s.nextID] = connection
                return s.nextID
            }
            guard let id else {
                connection.close()
                continue
            }
            connection.deadline = .after(requestTimeout)
            handlers.enter()
            let thread = Thread { [self] in
                serve(connection)
                state.withLock { s in _ = s.active.removeValue(forKey: id) }
                connection.close()
                handlers.leave()
            }
            thread.name = name
            thread.stackSize = Self.stackSize
            thread.start()
        }
    }
}
