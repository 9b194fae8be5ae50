@testable import Tunnel

/// The UDP sockets one test opened on loopback, closed together in `tearDown`.
final class OpenedSockets {
    private var sockets: [UDPSocket] = []

    /// A dual-stack socket on a port the kernel picks, closed by ``closeAll()``.
    func open() throws -> UDPSocket {
        let socket = try UDPSocket(port: 0)
        sockets.append(socket)
        return socket
    }

    func closeAll() {
        for socket in sockets { socket.close() }
        sockets = []
    }
}
