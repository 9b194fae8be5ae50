import Foundation
import Glibc

/// Notices that ztpd's interface is gone, as wireguard-go does: `wg-quick down` deletes the
/// link (`ip link delete`), and a removed UAPI socket means nobody can manage the interface
/// any more. Either way the daemon should end rather than linger with a dead TUN descriptor.
///
/// Polls (four times a second, two system calls each) rather than subscribing to netlink:
/// a quarter of a second is well inside what wg-quick waits for, and it needs no socket.
struct InterfaceLiveness {
    let interface: String
    /// The UAPI socket's path, or nil when there is none to watch.
    let socketPath: String?
    private let index: UInt32
    private let socketInode: ino_t?

    /// Records the interface's index and the socket's inode now, so that a new link or
    /// socket of the same name (another ztpd) still counts as ours being gone.
    init(interface: String, socketPath: String?) {
        self.interface = interface
        self.socketPath = socketPath
        index = if_nametoindex(interface)
        socketInode = socketPath.flatMap(Self.inode)
    }

    /// Waits until the interface or the socket disappears and says which, or returns nil
    /// once the calling task is cancelled.
    func waitUntilGone() async -> String? {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            if Task.isCancelled { return nil }
            if index != 0, if_nametoindex(interface) != index { return "interface \(interface) was deleted" }
            if let socketPath, let socketInode, Self.inode(socketPath) != socketInode {
                return "UAPI socket \(socketPath) was removed"
            }
        }
        return nil
    }

    private static func inode(_ path: String) -> ino_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_ino : nil
    }
}
