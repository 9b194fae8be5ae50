import CLibBPF
import Glibc

extension XDPGuard {
    /// Attaches the loaded program to `interface` (in the caller's network namespace) for the
    /// tunnel on UDP `port`. The maps are written before the program goes live, so the first
    /// packet it sees is already judged with them.
    ///
    /// With ``AttachMode/automatic``, a driver without native XDP gets generic XDP and a log line.
    /// A ztp program left attached by an earlier run (a crash, an upgrade) is replaced
    /// atomically, in the mode it was attached in; any other program makes this throw
    /// ``XDPError/interfaceBusy(interface:programName:)`` and is left alone.
    package func attach(interface: String, port: UInt16, mode: AttachMode = .automatic) throws {
        try state.withLock { state in
            if let current = state.attachment {
                guard current.interface == interface else { throw XDPError.alreadyAttached(interface: current.interface) }
                try self.setPort(port, in: &state)
                return
            }
            let index = if_nametoindex(interface)
            guard index != 0 else { throw XDPError.interfaceNotFound(interface) }
            try self.setPort(port, in: &state)

            let previous = try Self.attachedProgram(interface: interface, index: index)
            defer { if let previous { close(previous.fd) } }
            if let previous {
                log("xdp: replacing \(BPFObject.programName) (id \(previous.id)) left on \(interface) by an earlier run")
                let previousMode: AttachMode = previous.generic ? .generic : .native
                try Self.kernelAttach(index: index, interface: interface, programFD: state.object.programFD,
                                      mode: previousMode, replacing: previous.fd)
                state.attachment = Attachment(interface: interface, index: index, mode: previousMode)
                return
            }
            do {
                let exact: AttachMode = mode == .generic ? .generic : .native
                try Self.kernelAttach(index: index, interface: interface, programFD: state.object.programFD,
                                      mode: exact, replacing: nil)
                state.attachment = Attachment(interface: interface, index: index, mode: exact)
            } catch XDPError.attachFailed(_, _, let code) where mode == .automatic {
                log("xdp: native XDP unavailable on \(interface) (\(XDPError.message(code))); falling back to generic (SKB) mode")
                try Self.kernelAttach(index: index, interface: interface, programFD: state.object.programFD,
                                      mode: .generic, replacing: nil)
                state.attachment = Attachment(interface: interface, index: index, mode: .generic)
            }
        }
    }

    /// Loads a new build of the program and swaps it in for the running one in a single
    /// kernel operation (`XDP_FLAGS_REPLACE`): no packet sees the interface without a program.
    /// The new program shares the running one's maps, so sessions, the deny list, rate
    /// buckets and counters carry over; a build whose map layouts differ is refused
    /// (``XDPError/loadFailed(path:errno:verifierLog:)``) and the running program stays.
    package func replaceProgram(objectPath: String? = nil) throws {
        let path = try ObjectLocation.resolve(objectPath)
        try state.withLock { state in
            let replacement = try BPFObject(path: path, reusing: state.object.mapDescriptors)
            if let attachment = state.attachment {
                try Self.kernelAttach(index: attachment.index, interface: attachment.interface,
                                      programFD: replacement.programFD, mode: attachment.mode,
                                      replacing: state.object.programFD)
            }
            state.object = replacement
        }
    }

    /// Detaches the program, if attached, from its interface. Only our own program is removed:
    /// if someone replaced it meanwhile, theirs stays. So an upgrade without a gap starts the
    /// new daemon first (its ``attach(interface:port:mode:)`` takes the program over
    /// atomically) and stops the old one after. An interface that has gone away counts as
    /// detached. Call it from the network namespace that attached. Also done on deinit.
    package func detach() throws {
        try state.withLock { state in
            guard let attachment = state.attachment else { return }
            // Someone (a successor's takeover) replaced our program: theirs stays.
            var query = bpf_xdp_query_opts()
            query.sz = MemoryLayout<bpf_xdp_query_opts>.size
            if bpf_xdp_query(Int32(bitPattern: attachment.index), 0, &query) == 0, query.prog_id != state.object.programID {
                state.attachment = nil
                return
            }
            var options = bpf_xdp_attach_opts()
            options.sz = MemoryLayout<bpf_xdp_attach_opts>.size
            options.old_prog_fd = state.object.programFD
            let result = bpf_xdp_detach(Int32(bitPattern: attachment.index), attachment.mode.kernelFlags, &options)
            state.attachment = nil
            guard result == 0 || result == -ENODEV || result == -EEXIST || result == -ENOENT else {
                throw XDPError.attachFailed(interface: attachment.interface, mode: attachment.mode, errno: -result)
            }
        }
    }

    private static func kernelAttach(index: UInt32, interface: String, programFD: Int32, mode: AttachMode,
                                     replacing old: Int32?) throws {
        var options = bpf_xdp_attach_opts()
        options.sz = MemoryLayout<bpf_xdp_attach_opts>.size
        var flags = mode.kernelFlags
        if let old {
            options.old_prog_fd = old
            flags |= UInt32(XDP_FLAGS_REPLACE)
        } else {
            flags |= UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST)
        }
        let result = bpf_xdp_attach(Int32(bitPattern: index), programFD, flags, &options)
        guard result == 0 else { throw XDPError.attachFailed(interface: interface, mode: mode, errno: -result) }
    }

    /// The ztp program already attached to the interface (a descriptor the caller closes), nil
    /// if none; throws if a program that is not ours is attached.
    private static func attachedProgram(interface: String, index: UInt32) throws -> (id: UInt32, fd: Int32, generic: Bool)? {
        var query = bpf_xdp_query_opts()
        query.sz = MemoryLayout<bpf_xdp_query_opts>.size
        guard bpf_xdp_query(Int32(bitPattern: index), 0, &query) == 0, query.prog_id != 0 else { return nil }
        let fd = bpf_prog_get_fd_by_id(query.prog_id)
        guard fd >= 0 else { return nil }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        let name: String = bpf_obj_get_info_by_fd(fd, &info, &length) == 0
            ? withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            : "id \(query.prog_id)"
        guard name == BPFObject.programName else {
            close(fd)
            throw XDPError.interfaceBusy(interface: interface, programName: name)
        }
        return (query.prog_id, fd, query.attach_mode == UInt8(XDP_ATTACHED_SKB))
    }
}
