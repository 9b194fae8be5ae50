import CLibBPF

extension XDPGuard {
    /// Publishes the receiver indices of the daemon's live sessions (every keypair's local
    /// index, as `wg`'s index table holds them). From the first call on, transport messages
    /// to any other index are dropped; until then the program does not judge them, so that
    /// attaching it never cuts tunnels the daemon has not published yet.
    /// Costs one map operation per index added or removed since the last call.
    package func updateSessions(receiverIndices: some Sequence<UInt32>) throws {
        let wanted = Set(receiverIndices)
        try state.withLock { state in
            let map = state.object.map("ztp_sessions")
            for index in state.sessions.subtracting(wanted) {
                try map.delete(key: index.littleEndian)
                state.sessions.remove(index)
            }
            for index in wanted.subtracting(state.sessions) {
                // The program compares the index's wire bytes, which are little-endian.
                try map.update(key: index.littleEndian, value: UInt8(1))
                state.sessions.insert(index)
            }
            if state.config.flags & UInt16(ZTP_CFG_ENFORCE_SESSIONS) == 0 {
                state.config.flags |= UInt16(ZTP_CFG_ENFORCE_SESSIONS)
                try self.writeConfig(state)
            }
        }
    }

    /// Adds one live session's receiver index (see ``updateSessions(receiverIndices:)``).
    package func insertSession(receiverIndex: UInt32) throws {
        try state.withLock { state in
            try state.object.map("ztp_sessions").update(key: receiverIndex.littleEndian, value: UInt8(1))
            state.sessions.insert(receiverIndex)
        }
    }

    /// Removes one session's receiver index (see ``updateSessions(receiverIndices:)``).
    package func removeSession(receiverIndex: UInt32) throws {
        try state.withLock { state in
            try state.object.map("ztp_sessions").delete(key: receiverIndex.littleEndian)
            state.sessions.remove(receiverIndex)
        }
    }

    /// Limits handshake initiations to `perSecond` a second per source (an IPv4 address or
    /// an IPv6 /64) with bursts of `burst`; `perSecond` 0 lifts the limit. Buckets already
    /// filled keep their tokens.
    package func setHandshakeRate(perSecond: UInt32, burst: UInt32) throws {
        try state.withLock { state in
            state.config.rate_per_sec = perSecond
            state.config.burst = max(burst, 1)
            try self.writeConfig(state)
        }
    }

    /// Changes the tunnel's UDP port (`wg set listen-port`); 0 makes the program pass everything.
    package func setTunnelPort(_ port: UInt16) throws {
        try state.withLock { state in try self.setPort(port, in: &state) }
    }

    /// Replaces the deny list: datagrams to the tunnel port from these source prefixes are
    /// dropped. Costs one map operation per prefix added or removed since the last call.
    package func setBlocklist(_ prefixes: some Sequence<IPPrefix>) throws {
        let wanted = Set(prefixes)
        try state.withLock { state in
            for prefix in state.blocked.subtracting(wanted) {
                try Self.blockMap(for: prefix, in: state).delete(keyBytes: LPMKey.bytes(prefix))
                state.blocked.remove(prefix)
            }
            for prefix in wanted.subtracting(state.blocked) {
                try Self.blockMap(for: prefix, in: state).update(keyBytes: LPMKey.bytes(prefix), value: UInt8(1))
                state.blocked.insert(prefix)
            }
        }
    }

    /// The program's counters by reason, summed over CPUs, since it was first loaded
    /// (a replacement program keeps counting in the same map). One system call per reason.
    package func statistics() throws -> [Reason: UInt64] {
        try state.withLock { state in
            let map = state.object.map("ztp_stats")
            var counts: [Reason: UInt64] = [:]
            for reason in Reason.allCases {
                counts[reason] = try map.sumPerCPU(index: reason.rawValue, cpus: cpus)
            }
            return counts
        }
    }

    func setPort(_ port: UInt16, in state: inout State) throws {
        state.config.port = port
        try writeConfig(state)
    }

    private func writeConfig(_ state: State) throws {
        try state.object.map("ztp_config").update(key: UInt32(0), value: state.config)
    }

    private static func blockMap(for prefix: IPPrefix, in state: State) -> BPFMap {
        state.object.map(LPMKey.mapName(prefix))
    }
}
